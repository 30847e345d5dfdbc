"""SalesforceClient against httpx.MockTransport: paging, writes, errors, retries, collections."""

from __future__ import annotations

import json
import random
import threading
from collections.abc import Callable
from datetime import UTC, datetime
from typing import Any

import httpx
import pytest

from cosell.clients.retry import RetryPolicy
from cosell.clients.salesforce import SalesforceClient
from cosell.clients.salesforce_errors import RecordRejected
from cosell.clock import ManualClock
from cosell.errors import (
    Ambiguous,
    APIError,
    Conflict,
    NotFound,
    ServerError,
    StaleWrite,
    Throttled,
    TransportError,
)

Handler = Callable[[httpx.Request], httpx.Response]
BASE = "https://org.example.my.salesforce.com"
API = "/services/data/v62.0"


def make_client(handler: Handler, **kw: Any) -> tuple[SalesforceClient, ManualClock]:
    clock = ManualClock()
    http = httpx.Client(transport=httpx.MockTransport(handler), base_url=BASE)
    retry = RetryPolicy(attempts=4, clock=clock, rng=random.Random(7))
    return SalesforceClient(http, retry=retry, **kw), clock


def sf_error(
    status: int, code: str, message: str, fields: list[str] | None = None
) -> httpx.Response:
    return httpx.Response(
        status, json=[{"message": message, "errorCode": code, "fields": fields or []}]
    )


class Recorder:
    """A handler that answers from a queue of responses and keeps every request."""

    def __init__(self, *responses: httpx.Response | Handler) -> None:
        self.responses = list(responses)
        self.requests: list[httpx.Request] = []

    def __call__(self, request: httpx.Request) -> httpx.Response:
        self.requests.append(request)
        answer = self.responses.pop(0) if len(self.responses) > 1 else self.responses[0]
        return answer(request) if callable(answer) else answer


def test_query_follows_next_records_url_across_pages() -> None:
    rows = [{"Id": f"006{i:015d}", "Name": f"Deal {i}"} for i in range(5)]

    def pages(request: httpx.Request) -> httpx.Response:
        offset = int(request.url.path.rsplit("-", 1)[-1]) if "-" in request.url.path else 0
        page = rows[offset : offset + 2]
        body: dict[str, Any] = {"totalSize": 5, "done": offset + 2 >= 5, "records": page}
        if not body["done"]:
            body["nextRecordsUrl"] = f"{API}/query/01gCURSOR-{offset + 2}"
        return httpx.Response(200, json=body)

    recorder = Recorder(pages)
    client, _ = make_client(recorder)
    got = list(client.query("SELECT Id, Name FROM Opportunity"))
    assert got == rows
    assert [r.url.path for r in recorder.requests] == [
        f"{API}/query",
        f"{API}/query/01gCURSOR-2",
        f"{API}/query/01gCURSOR-4",
    ]
    assert recorder.requests[0].url.params["q"] == "SELECT Id, Name FROM Opportunity"


def test_the_orgs_time_of_the_last_response_is_kept_per_thread() -> None:
    empty = {"totalSize": 0, "done": True, "records": []}
    dated = Recorder(
        httpx.Response(200, json=empty, headers={"Date": "Fri, 04 Dec 2026 19:38:01 GMT"}),
        httpx.Response(200, json=empty),
    )
    client, _ = make_client(dated)
    assert client.served_at() is None
    list(client.query("SELECT Id FROM Opportunity"))
    assert client.served_at() == datetime(2026, 12, 4, 19, 38, 1, tzinfo=UTC)
    elsewhere: list[datetime | None] = []
    worker = threading.Thread(target=lambda: elsewhere.append(client.served_at()))
    worker.start()
    worker.join()
    assert elsewhere == [None]  # each worker sees its own responses
    list(client.query("SELECT Id FROM Opportunity"))
    assert client.served_at() is None  # no Date: not known


def test_query_all_uses_query_all_resource() -> None:
    recorder = Recorder(httpx.Response(200, json={"totalSize": 0, "done": True, "records": []}))
    client, _ = make_client(recorder)
    assert list(client.query_all("SELECT Id FROM Opportunity")) == []
    assert recorder.requests[0].url.path == f"{API}/queryAll"


@pytest.mark.parametrize(
    ("response", "expected_id", "created"),
    [
        (
            httpx.Response(
                201, json={"id": "006A", "success": True, "errors": [], "created": True}
            ),
            "006A",
            True,
        ),
        (
            httpx.Response(
                200, json={"id": "006B", "success": True, "errors": [], "created": False}
            ),
            "006B",
            False,
        ),
        (httpx.Response(204), None, False),
    ],
)
def test_upsert_results(response: httpx.Response, expected_id: str | None, created: bool) -> None:
    recorder = Recorder(response)
    client, _ = make_client(recorder)
    result = client.upsert(
        "Opportunity",
        "Referral_Identifier__c",
        "a/b c",
        {"Referral_Identifier__c": "x", "Name": "N"},
    )
    assert (result.id, result.created) == (expected_id, created)
    sent = recorder.requests[0]
    assert sent.method == "PATCH"
    assert sent.url.raw_path.decode().endswith(
        "/sobjects/Opportunity/Referral_Identifier__c/a%2Fb%20c"
    )
    assert json.loads(sent.content) == {"Name": "N"}


def test_upsert_300_is_ambiguous_and_404_is_not_found() -> None:
    urls = [f"{API}/sobjects/Opportunity/006A", f"{API}/sobjects/Opportunity/006B"]
    client, _ = make_client(Recorder(httpx.Response(300, json=urls)))
    with pytest.raises(Ambiguous) as ambiguous:
        client.upsert("Opportunity", "Referral_Identifier__c", "r1", {"Name": "N"})
    assert "006B" in str(ambiguous.value)
    missing = sf_error(404, "NOT_FOUND", "Provided external ID field does not exist: Nope__c")
    client, _ = make_client(Recorder(missing))
    with pytest.raises(NotFound):
        client.upsert("Opportunity", "Nope__c", "r1", {"Name": "N"})


def test_conditional_update_sends_header_and_412_is_stale_write() -> None:
    recorder = Recorder(sf_error(412, "PRECONDITION_FAILED", "The record was modified"))
    client, clock = make_client(recorder)
    seen = datetime(2026, 3, 1, 12, 30, 5, tzinfo=UTC)
    with pytest.raises(StaleWrite):
        client.update("Opportunity", "006A", {"Amount": 5}, if_unmodified_since=seen)
    assert recorder.requests[0].headers["If-Unmodified-Since"] == "Sun, 01 Mar 2026 12:30:05 GMT"
    assert len(recorder.requests) == 1
    assert clock.slept == []


def test_update_without_guard_sends_no_condition() -> None:
    recorder = Recorder(httpx.Response(204))
    client, _ = make_client(recorder)
    client.update("Opportunity", "006A", {"Amount": 5})
    assert "If-Unmodified-Since" not in recorder.requests[0].headers


HTML_503 = httpx.Response(
    503, text="<html><body>Service Unavailable</body></html>", headers={"content-type": "text/html"}
)


@pytest.mark.parametrize(
    "failure",
    [
        sf_error(400, "UNABLE_TO_LOCK_ROW", "unable to obtain exclusive access to this record"),
        HTML_503,
        httpx.Response(500, text="oops"),
    ],
    ids=["unable_to_lock_row", "html_503", "plain_500"],
)
def test_transient_failures_are_retried_with_backoff(failure: httpx.Response) -> None:
    recorder = Recorder(failure, httpx.Response(204))
    client, clock = make_client(recorder)
    client.update("Opportunity", "006A", {"Amount": 1})
    assert len(recorder.requests) == 2
    assert len(clock.slept) == 1


def test_retries_stop_after_policy_attempts() -> None:
    recorder = Recorder(HTML_503)
    client, clock = make_client(recorder)
    with pytest.raises(ServerError) as raised:
        client.get("Opportunity", "006A")
    assert len(recorder.requests) == 4
    assert len(clock.slept) == 3
    assert "text/html" in str(raised.value)


def test_throttled_honours_retry_after() -> None:
    recorder = Recorder(
        httpx.Response(429, headers={"Retry-After": "42"}), httpx.Response(200, json={})
    )
    client, clock = make_client(recorder)
    client.get("Opportunity", "006A")
    assert clock.slept == [42.0]


def test_daily_limit_is_not_retried_in_a_tight_loop() -> None:
    recorder = Recorder(sf_error(403, "REQUEST_LIMIT_EXCEEDED", "TotalRequests Limit exceeded."))
    client, clock = make_client(recorder)
    with pytest.raises(Throttled) as raised:
        client.get("Opportunity", "006A")
    assert raised.value.retry_after is not None
    assert raised.value.retry_after >= 3600
    assert len(recorder.requests) == 1
    assert clock.slept == []


def test_concurrent_request_limit_is_retried() -> None:
    busy = sf_error(403, "REQUEST_LIMIT_EXCEEDED", "ConcurrentRequests Limit exceeded.")
    recorder = Recorder(busy, httpx.Response(200, json={"Id": "006A"}))
    client, _ = make_client(recorder)
    assert client.get("Opportunity", "006A") == {"Id": "006A"}


@pytest.mark.parametrize(
    ("code", "cls"),
    [
        ("REQUIRED_FIELD_MISSING", RecordRejected),
        ("STRING_TOO_LONG", RecordRejected),
        ("INVALID_OR_NULL_FOR_RESTRICTED_PICKLIST", RecordRejected),
        ("FIELD_CUSTOM_VALIDATION_EXCEPTION", RecordRejected),
        ("INVALID_FIELD", RecordRejected),
        ("MALFORMED_ID", RecordRejected),
        ("DUPLICATE_VALUE", Conflict),
        ("INSUFFICIENT_ACCESS_OR_READONLY", RecordRejected),
        ("NOT_FOUND", NotFound),
    ],
)
def test_field_errors_map_to_rejections_keeping_code_and_fields(
    code: str, cls: type[APIError]
) -> None:
    recorder = Recorder(sf_error(400 if code != "NOT_FOUND" else 404, code, "bad", ["Name"]))
    client, clock = make_client(recorder)
    with pytest.raises(cls) as raised:
        client.create("Opportunity", {"Name": "x" * 300})
    assert raised.value.code == code
    assert len(recorder.requests) == 1
    assert clock.slept == []
    if isinstance(raised.value, RecordRejected):
        assert raised.value.fields == ("Name",)


def test_error_messages_hold_no_secrets() -> None:
    body = [{"message": "bad access_token=SECRETVALUE", "errorCode": "MALFORMED_ID", "fields": []}]
    client, _ = make_client(Recorder(httpx.Response(400, json=body)))
    with pytest.raises(RecordRejected) as raised:
        client.get("Opportunity", "bad")
    assert "SECRETVALUE" not in str(raised.value)
    assert "SECRETVALUE" not in (raised.value.body or "")


def test_read_timeout_on_create_is_not_retried_but_connect_error_is() -> None:
    def timeout(request: httpx.Request) -> httpx.Response:
        raise httpx.ReadTimeout("slow", request=request)

    recorder = Recorder(timeout)
    client, _ = make_client(recorder)
    with pytest.raises(TransportError):
        client.create("Opportunity", {"Name": "N"})
    assert len(recorder.requests) == 1

    def refused(request: httpx.Request) -> httpx.Response:
        raise httpx.ConnectError("refused", request=request)

    ok = httpx.Response(201, json={"id": "006N", "success": True, "errors": []})
    recorder = Recorder(refused, ok)
    client, _ = make_client(recorder)
    assert client.create("Opportunity", {"Name": "N"}) == "006N"
    assert len(recorder.requests) == 2


def test_read_timeout_on_get_is_retried() -> None:
    def timeout(request: httpx.Request) -> httpx.Response:
        raise httpx.ReadTimeout("slow", request=request)

    recorder = Recorder(timeout, httpx.Response(200, json={"Id": "006A"}))
    client, _ = make_client(recorder)
    assert client.get("Opportunity", "006A", fields=["Id", "Name"]) == {"Id": "006A"}
    assert recorder.requests[1].url.params["fields"] == "Id,Name"


def collection_handler(request: httpx.Request) -> httpx.Response:
    if request.method == "DELETE":
        ids = request.url.params["ids"].split(",")
        return httpx.Response(200, json=[{"id": i, "success": True, "errors": []} for i in ids])
    records = json.loads(request.content)["records"]
    results = []
    for record in records:
        if record.get("Name") == "bad":
            err = {
                "statusCode": "REQUIRED_FIELD_MISSING",
                "message": "missing",
                "fields": ["StageName"],
            }
            results.append({"id": None, "success": False, "errors": [err]})
        else:
            results.append({"id": "006" + record["Name"], "success": True, "errors": []})
    return httpx.Response(200, json=results)


def test_collections_batch_450_records_into_three_calls_keeping_failures() -> None:
    recorder = Recorder(collection_handler)
    client, _ = make_client(recorder)
    records = [{"Name": "bad" if i == 7 else str(i)} for i in range(450)]
    results = client.create_many("Opportunity", records, all_or_none=False)
    bodies = [json.loads(r.content) for r in recorder.requests]
    assert [len(b["records"]) for b in bodies] == [200, 200, 50]
    assert all(b["allOrNone"] is False for b in bodies)
    assert bodies[0]["records"][0]["attributes"] == {"type": "Opportunity"}
    assert len(results) == 450
    assert results[7].success is False
    assert results[7].errors[0].code == "REQUIRED_FIELD_MISSING"
    assert results[7].errors[0].fields == ("StageName",)
    assert results[449].id == "006449"
    assert results[449].success


def test_delete_many_batches_ids() -> None:
    recorder = Recorder(collection_handler)
    client, _ = make_client(recorder)
    results = client.delete_many([f"006{i}" for i in range(201)], all_or_none=True)
    assert [len(r.url.params["ids"].split(",")) for r in recorder.requests] == [200, 1]
    assert recorder.requests[0].url.params["allOrNone"] == "true"
    assert len(results) == 201


def test_every_write_carries_call_options() -> None:
    def ok(request: httpx.Request) -> httpx.Response:
        if (
            request.url.path.endswith("/composite/sobjects")
            or "/composite/sobjects/" in request.url.path
        ):
            return collection_handler(request)
        if request.method == "POST":
            return httpx.Response(201, json={"id": "006X", "success": True, "errors": []})
        if request.method == "PATCH" and "Referral" in request.url.path:
            return httpx.Response(201, json={"id": "006X", "created": True})
        return httpx.Response(204)

    recorder = Recorder(ok)
    client, _ = make_client(recorder, call_options="client=acme-cosell")
    client.create("Opportunity", {"Name": "1"})
    client.update("Opportunity", "006X", {"Name": "2"})
    client.upsert("Opportunity", "Referral_Identifier__c", "r", {"Name": "3"})
    client.delete("Opportunity", "006X")
    client.create_many("Opportunity", [{"Name": "4"}])
    client.update_many("Opportunity", [{"Id": "006X", "Name": "5"}])
    client.upsert_many("Opportunity", "Referral_Identifier__c", [{"Name": "6"}])
    client.delete_many(["006X"])
    client.create_custom_field("Opportunity.X__c", {"type": "Checkbox"})
    writes = [r for r in recorder.requests if r.method != "GET"]
    assert len(writes) == 9
    assert {r.headers["Sforce-Call-Options"] for r in writes} == {"client=acme-cosell"}


def test_updated_and_deleted_parse_replication_results() -> None:
    def replication(request: httpx.Request) -> httpx.Response:
        if request.url.path.endswith("/updated/"):
            return httpx.Response(
                200,
                json={"ids": ["006A", "006B"], "latestDateCovered": "2026-03-01T10:05:00.000+0000"},
            )
        deleted = [{"id": "006C", "deletedDate": "2026-03-01T09:00:00.000+0000"}]
        return httpx.Response(
            200,
            json={
                "deletedRecords": deleted,
                "earliestDateAvailable": "2026-02-15T00:00:00.000+0000",
                "latestDateCovered": "2026-03-01T10:00:00.000+0000",
            },
        )

    recorder = Recorder(replication)
    client, _ = make_client(recorder)
    start, end = datetime(2026, 3, 1, 9, tzinfo=UTC), datetime(2026, 3, 1, 11, tzinfo=UTC)
    updated = client.updated("Opportunity", start, end)
    assert updated.ids == ("006A", "006B")
    assert updated.latest_date_covered == datetime(2026, 3, 1, 10, 5, tzinfo=UTC)
    assert recorder.requests[0].url.params["start"] == "2026-03-01T09:00:00+00:00"
    deleted = client.deleted("Opportunity", start, end)
    assert deleted.records[0].id == "006C"
    assert deleted.earliest_date_available == datetime(2026, 2, 15, tzinfo=UTC)
