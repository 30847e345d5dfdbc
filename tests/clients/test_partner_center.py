"""PartnerCenterClient against httpx.MockTransport: retries, paging, guarded writes, errors."""

from __future__ import annotations

import json
import random
from collections.abc import Callable
from typing import Any
from urllib.parse import parse_qs, urlsplit

import httpx
import pytest

from cosell.clients.partner_center import PartnerCenterClient
from cosell.clients.referral import Referral
from cosell.clients.retry import RetryPolicy
from cosell.clock import ManualClock
from cosell.errors import (
    APIError,
    AuthError,
    Conflict,
    NotFound,
    RejectedError,
    ServerError,
    StaleWrite,
    Throttled,
    TransportError,
)

BASE = "https://api.partner.microsoft.com"
Handler = Callable[[httpx.Request], httpx.Response]


class Recorder:
    """A MockTransport handler that records requests and answers from a script or a function."""

    def __init__(self, answer: Handler | list[httpx.Response | Exception]) -> None:
        self.requests: list[httpx.Request] = []
        self._answer = answer

    def __call__(self, request: httpx.Request) -> httpx.Response:
        self.requests.append(request)
        if callable(self._answer):
            return self._answer(request)
        item = self._answer.pop(0)
        if isinstance(item, Exception):
            raise item
        return item


def make_client(
    recorder: Recorder, attempts: int = 4, **kw: Any
) -> tuple[PartnerCenterClient, ManualClock]:
    clock = ManualClock()
    http = httpx.Client(base_url=BASE, transport=httpx.MockTransport(recorder), **kw)
    retry = RetryPolicy(attempts=attempts, base=0.5, cap=4.0, clock=clock, rng=random.Random(7))
    return PartnerCenterClient(http, retry=retry), clock


def referral_doc(n: int = 1, **extra: Any) -> dict[str, Any]:
    return {"id": f"ref-{n:04d}", "name": f"Deal {n}", "eTag": f'"etag-{n}"', **extra}


def test_throttled_call_waits_at_least_retry_after_then_succeeds() -> None:
    recorder = Recorder(
        [
            httpx.Response(429, headers={"Retry-After": "57"}, json={"message": "slow down"}),
            httpx.Response(200, json=referral_doc()),
        ]
    )
    client, clock = make_client(recorder)
    referral = client.get_referral("ref-0001")
    assert referral.name == "Deal 1"
    assert len(recorder.requests) == 2
    assert clock.slept
    assert clock.slept[0] >= 57


def test_a_retry_after_beyond_the_policys_limit_goes_back_to_the_caller() -> None:
    recorder = Recorder(
        [
            httpx.Response(429, headers={"Retry-After": "57"}, json={"message": "slow down"}),
            httpx.Response(200, json=referral_doc()),
        ]
    )
    clock = ManualClock()
    http = httpx.Client(base_url=BASE, transport=httpx.MockTransport(recorder))
    retry = RetryPolicy(attempts=4, max_retry_after=5.0, clock=clock)
    with pytest.raises(Throttled) as caught:
        PartnerCenterClient(http, retry=retry).get_referral("ref-0001")
    assert caught.value.retry_after == 57
    assert len(recorder.requests) == 1
    assert clock.slept == []


def test_server_errors_are_retried_then_surface_as_retryable() -> None:
    recorder = Recorder(lambda _: httpx.Response(503, text="<html>busy</html>"))
    client, clock = make_client(recorder, attempts=3)
    with pytest.raises(ServerError) as caught:
        client.get_referral("ref-0001")
    assert caught.value.status == 503
    assert len(recorder.requests) == 3
    assert len(clock.slept) == 2


def test_timeouts_are_retried_then_surface_as_transport_errors() -> None:
    def timeout(request: httpx.Request) -> httpx.Response:
        raise httpx.ReadTimeout("timed out", request=request)

    recorder = Recorder(timeout)
    client, _ = make_client(recorder, attempts=3)
    with pytest.raises(TransportError):
        list(client.list_referrals())
    assert len(recorder.requests) == 3


def test_create_is_not_resent_after_a_timeout_but_is_after_throttling() -> None:
    def timeout(request: httpx.Request) -> httpx.Response:
        raise httpx.ReadTimeout("timed out", request=request)

    recorder = Recorder(timeout)
    client, _ = make_client(recorder)
    with pytest.raises(TransportError):
        client.create_referral({"name": "x"})
    assert len(recorder.requests) == 1

    throttled = Recorder(
        [
            httpx.Response(429, headers={"Retry-After": "2"}),
            httpx.Response(201, json=referral_doc()),
        ]
    )
    client, clock = make_client(throttled)
    assert client.create_referral(Referral.model_validate({"name": "x"})).id == "ref-0001"
    assert clock.slept[0] >= 2


def test_failed_precondition_is_a_stale_write_with_code_and_request_id() -> None:
    envelope = {
        "error": {
            "code": "preconditionFailed",
            "message": "The precondition does not match the current state.",
            "target": "ETag",
            "innerError": {"code": "99918", "message": "etag mismatch"},
        }
    }
    recorder = Recorder([httpx.Response(412, json=envelope, headers={"request-id": "rq-1"})])
    client, _ = make_client(recorder)
    ops = [{"op": "replace", "path": "/details/notes", "value": "n"}]
    with pytest.raises(StaleWrite) as caught:
        client.patch_referral("ref-0001", ops, if_match='"old"')  # type: ignore[list-item]
    error = caught.value
    assert error.code == "preconditionFailed"
    assert "99918" in str(error)
    assert "precondition" in str(error)
    assert error.request_id == "rq-1"
    assert recorder.requests[0].headers["If-Match"] == '"old"'
    assert len(recorder.requests) == 1


@pytest.mark.parametrize(
    ("status", "expected"),
    [
        (400, RejectedError),
        (401, AuthError),
        (403, AuthError),
        (404, NotFound),
        (409, Conflict),
        (422, RejectedError),
        (429, Throttled),
        (500, ServerError),
        (504, ServerError),
    ],
)
def test_status_maps_to_error_class(status: int, expected: type[Exception]) -> None:
    recorder = Recorder(lambda _: httpx.Response(status, json={"error": {"code": "c"}}))
    client, _ = make_client(recorder, attempts=1)
    with pytest.raises(expected):
        client.get_referral("ref-0001")


def paged_server(total: int, page_size: int = 100) -> Handler:
    docs = [referral_doc(n) for n in range(total)]

    def handle(request: httpx.Request) -> httpx.Response:
        query = parse_qs(urlsplit(str(request.url)).query)
        start = int(query.get("$skiptoken", ["0"])[0])
        body: dict[str, Any] = {"value": docs[start : start + page_size], "@odata.count": total}
        if start + page_size < total:
            # a foreign, plain-http host: the client must reuse only the query
            body["@odata.nextLink"] = (
                "http://elsewhere.example/v1.0/engagements/referrals"
                f"?$skiptoken={start + page_size}"
            )
        return httpx.Response(200, json=body)

    return handle


def test_listing_follows_next_links_lazily_on_our_own_host() -> None:
    recorder = Recorder(paged_server(257))
    client, _ = make_client(recorder)
    referrals = client.list_referrals(filter="status eq 'New'", orderby="updatedDateTime desc")
    first = next(referrals)
    assert first.id == "ref-0000"
    assert len(recorder.requests) == 1
    rest = list(referrals)
    ids = [first.id] + [r.id for r in rest]
    assert len(ids) == 257 == len(set(ids))
    assert len(recorder.requests) == 3
    assert {r.url.host for r in recorder.requests} == {"api.partner.microsoft.com"}
    assert recorder.requests[0].url.params["$filter"] == "status eq 'New'"
    assert recorder.requests[2].url.params["$skiptoken"] == "200"


def test_listing_with_top_stops_early() -> None:
    recorder = Recorder(paged_server(257))
    client, _ = make_client(recorder)
    assert len(list(client.list_referrals(top=150))) == 150
    assert recorder.requests[0].url.params["$top"] == "150"


def test_pages_report_count_and_next_link() -> None:
    client, _ = make_client(Recorder(paged_server(120)))
    pages = list(client.list_pages())
    assert [len(p.referrals) for p in pages] == [100, 20]
    assert pages[0].count == 120
    assert pages[0].next_link
    assert pages[1].next_link is None


def test_a_page_holds_only_the_rows_kept_and_reads_no_other() -> None:
    page = {
        "value": [referral_doc(1), {"id": "ref-bad", "status": 42}, referral_doc(3)],
        "@odata.count": 3,
    }
    client, _ = make_client(Recorder([httpx.Response(200, json=page)]))
    [listed] = client.list_pages(keep=lambda row: row.get("id") != "ref-bad")
    assert [r.id for r in listed.referrals] == ["ref-0001", "ref-0003"]
    assert listed.count == 3


def test_patch_returns_none_on_no_content_and_the_referral_when_asked() -> None:
    recorder = Recorder(
        [httpx.Response(204), httpx.Response(200, json=referral_doc(2, status="Active"))]
    )
    client, _ = make_client(recorder)
    ops: Any = [{"op": "replace", "path": "/status", "value": "Active"}]
    assert client.patch_referral("ref-0002", ops, if_match=None) is None
    updated = client.patch_referral("ref-0002", ops, if_match='"e"', return_representation=True)
    assert updated is not None
    assert updated.status == "Active"
    first, second = recorder.requests
    assert "If-Match" not in first.headers
    assert "Prefer" not in first.headers
    assert second.headers["Prefer"] == "return=representation"
    assert json.loads(second.content) == ops


def test_put_requires_if_match_and_strips_links() -> None:
    recorder = Recorder(lambda r: httpx.Response(200, content=r.content))
    client, _ = make_client(recorder)
    doc = referral_doc(3, links={"self": {"uri": "u", "method": "GET"}}, unknownField=[1, 2])
    client.put_referral(Referral.model_validate(doc), if_match='"etag-3"')
    sent = json.loads(recorder.requests[0].content)
    assert "links" not in sent
    assert sent["unknownField"] == [1, 2]
    assert recorder.requests[0].headers["If-Match"] == '"etag-3"'
    assert recorder.requests[0].method == "PUT"


def test_every_call_carries_correlation_headers() -> None:
    recorder = Recorder(
        lambda r: httpx.Response(200, json=["referral-created"] if "events" in r.url.path else {})
    )
    client, _ = make_client(recorder)
    client.get_referral("a")
    client.supported_events()
    with client.correlated("op-42") as correlation:
        client.get_registration()
    assert correlation == "op-42"
    client.get_referral("b")
    headers = [r.headers for r in recorder.requests]
    assert all(h["Accept"] == "application/json" for h in headers)
    request_ids = [h["client-request-id"] for h in headers]
    assert len(set(request_ids)) == 4
    correlations = [h["MS-CorrelationId"] for h in headers]
    session = client.correlation_id
    assert correlations == [session, session, "op-42", session]


def test_registration_conflict_overwrites_only_when_asked() -> None:
    existing = {"WebhookUrl": "https://old.example/hook", "WebhookEvents": ["referral-created"]}

    def handle(request: httpx.Request) -> httpx.Response:
        if request.method == "POST":
            return httpx.Response(409, json={"error": {"code": "conflict", "message": "use PUT"}})
        if request.method == "PUT":
            return httpx.Response(200, content=request.content)
        return httpx.Response(200, json=existing)

    recorder = Recorder(handle)
    client, _ = make_client(recorder)
    with pytest.raises(Conflict) as caught:
        client.register_or_overwrite("https://new.example/hook", ["referral-updated"], False)
    assert "https://old.example/hook" in str(caught.value)
    assert [r.method for r in recorder.requests] == ["POST", "GET"]

    done = client.register_or_overwrite("https://new.example/hook", ["referral-updated"], True)
    assert done.webhook_url == "https://new.example/hook"
    assert done.webhook_events == ["referral-updated"]
    assert [r.method for r in recorder.requests][2:] == ["POST", "PUT"]


def test_validation_event_round_trip_and_separate_webhook_host() -> None:
    def handle(request: httpx.Request) -> httpx.Response:
        if request.method == "POST":
            return httpx.Response(200, json={"correlationId": "c-1"})
        results = [{"responseCode": "OK", "systemError": False}]
        return httpx.Response(
            200, json={"correlationId": "c-1", "status": "completed", "results": results}
        )

    hooks = Recorder(handle)
    rest = Recorder(lambda _: httpx.Response(500))
    webhooks = httpx.Client(
        base_url="https://api.partnercenter.microsoft.com", transport=httpx.MockTransport(hooks)
    )
    http = httpx.Client(base_url=BASE, transport=httpx.MockTransport(rest))
    client = PartnerCenterClient(http, webhooks=webhooks, retry=RetryPolicy(clock=ManualClock()))
    correlation = client.send_validation_event()
    event = client.get_validation_event(correlation)
    assert correlation == "c-1"
    assert event.status == "completed"
    assert event.results[0].response_code == "OK"
    assert not rest.requests
    assert hooks.requests[1].url.path == "/webhooks/v1/registration/validationEvents/c-1"


def test_missing_registration_is_none() -> None:
    client, _ = make_client(
        Recorder([httpx.Response(404, json={"error": {"code": "itemNotFound"}})])
    )
    assert client.get_registration() is None


def test_secrets_never_reach_error_text() -> None:
    body = {"error": {"code": "invalidRequest", "message": "bad access_token=abc.def.ghi"}}
    leaky = json.dumps({**body, "access_token": "sekrit-token", "client_secret": "sekrit-2"})
    recorder = Recorder([httpx.Response(400, text=leaky)])
    client, _ = make_client(recorder, headers={"Authorization": "Bearer sekrit-bearer"})
    with pytest.raises(RejectedError) as caught:
        client.get_referral("ref-1")
    text = f"{caught.value} {caught.value!r} {caught.value.body}"
    for secret in ("sekrit-token", "sekrit-2", "sekrit-bearer", "abc.def.ghi"):
        assert secret not in text
    assert "invalidRequest" in str(caught.value)


def test_ids_with_path_characters_are_refused() -> None:
    client, _ = make_client(Recorder([]))
    with pytest.raises(ValueError, match="not a valid id"):
        client.get_referral("../webhooks")


def test_non_json_success_body_is_an_api_error() -> None:
    client, _ = make_client(Recorder([httpx.Response(200, text="<html>")]))
    with pytest.raises(Exception, match="not JSON"):
        client.get_referral("ref-1")


@pytest.mark.parametrize(
    "unsent",
    [httpx.ConnectError("refused"), httpx.PoolTimeout("no connection free within 30.0 s")],
    ids=["connection refused", "no connection free in time"],
)
def test_create_is_resent_when_it_never_left(unsent: httpx.RequestError) -> None:
    recorder = Recorder([unsent, httpx.Response(201, json=referral_doc(9))])
    client, _ = make_client(recorder)
    assert client.create_referral({"name": "x"}).id == "ref-0009"
    assert len(recorder.requests) == 2


def test_unguarded_list_append_is_not_resent_after_a_server_error() -> None:
    recorder = Recorder(lambda _: httpx.Response(502))
    client, _ = make_client(recorder)
    ops: Any = [{"op": "add", "path": "/team/-", "value": {"email": "a@b.example"}}]
    with pytest.raises(ServerError):
        client.patch_referral("ref-1", ops, if_match=None)
    assert len(recorder.requests) == 1


def test_patch_refuses_operations_partner_center_does_not_support() -> None:
    recorder = Recorder([])
    client, _ = make_client(recorder)
    with pytest.raises(ValueError, match="only add and replace"):
        client.patch_referral("ref-1", [{"op": "remove", "path": "/name"}], None)  # type: ignore[list-item,typeddict-item]
    assert recorder.requests == []


def test_a_referral_that_does_not_fit_the_model_is_rejected_with_the_field() -> None:
    bad = referral_doc(1, details={"dealValue": "lots"})
    client, _ = make_client(Recorder([httpx.Response(200, json=bad)]))
    with pytest.raises(RejectedError, match=r"details\.dealValue"):
        client.get_referral("ref-0001")


def test_a_next_link_that_repeats_stops_the_listing() -> None:
    page = {"value": [referral_doc(1)], "@odata.nextLink": f"{BASE}/v1.0/x?$skiptoken=same"}
    client, _ = make_client(Recorder(lambda _: httpx.Response(200, json=page)))
    with pytest.raises(APIError, match="repeats"):
        list(client.list_referrals())
