"""SalesforceClient's composite graph, sObject Tree, collections retrieve and subquery paging,
against the in-process emulator."""

from __future__ import annotations

import random
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor
from datetime import UTC, datetime, timedelta
from email.utils import format_datetime
from typing import Any

import httpx
import pytest
from starlette.testclient import TestClient

from cosell.clients.retry import RetryPolicy
from cosell.clients.salesforce import SalesforceClient
from cosell.clients.salesforce_auth import TOKEN_PATH, PasswordGrant, SalesforceAuth
from cosell.clients.salesforce_composite import (
    Graph,
    GraphNode,
    fill_a_request,
    graph_results,
    root_error,
)
from cosell.clients.salesforce_errors import RecordRejected
from cosell.clock import ManualClock, OffsetClock
from cosell.emulators.salesforce import SalesforceEmulatorConfig, create_app
from cosell.errors import RejectedError, ServerError
from support.wait import wait_until

BASE = "http://127.0.0.1:8602"
OPPORTUNITY = {"StageName": "Prospecting", "CloseDate": "2026-12-31"}


class Org:
    """An emulated org, a client of it, and the requests the client sent."""

    def __init__(self, config: SalesforceEmulatorConfig | None = None) -> None:
        self.config = config or SalesforceEmulatorConfig()
        self.app = create_app(self.config, clock=OffsetClock())
        self.control = TestClient(self.app, base_url=BASE)
        grant = PasswordGrant(
            self.config.client_id,
            self.config.client_secret,
            self.config.username,
            self.config.password,
        )
        http = TestClient(self.app, base_url=BASE)
        http.auth = SalesforceAuth(grant, BASE + TOKEN_PATH, http=self.control)
        self.requests: list[httpx.Request] = []
        http.event_hooks = {"request": [self.requests.append]}
        retry = RetryPolicy(attempts=1, clock=ManualClock(), rng=random.Random(1))
        self.client = SalesforceClient(http, retry=retry)

    def sent(self, suffix: str) -> int:
        return sum(1 for r in self.requests if r.url.path.endswith(suffix))

    def count(self, sobject: str) -> int:
        return len(list(self.client.query(f"SELECT Id FROM {sobject}")))  # noqa: S608


def referral(graph_id: str, name: str, last_name: str | None = "Rivera") -> Graph:
    contact: dict[str, Any] = {"AccountId": "@{acct.id}"}
    if last_name is not None:
        contact["LastName"] = last_name
    return Graph(
        graph_id,
        [
            GraphNode("acct", "POST", "sobjects/Account", {"Name": name}),
            GraphNode("con", "POST", "sobjects/Contact", contact),
            GraphNode(
                "opp",
                "POST",
                "sobjects/Opportunity",
                {"Name": name, "AccountId": "@{acct.id}", **OPPORTUNITY},
            ),
            GraphNode(
                "ocr",
                "POST",
                "sobjects/OpportunityContactRole",
                {"OpportunityId": "@{opp.id}", "ContactId": "@{con.id}"},
            ),
        ],
    )


def test_graphs_commit_apart_and_report_the_root_cause() -> None:
    org = Org()
    org.requests.clear()
    good, bad = org.client.composite_graph(
        [referral("good", "Contoso"), referral("bad", "Fabrikam", last_name=None)]
    )
    assert org.sent("/composite/graph") == 1
    assert good.successful
    assert good.error is None
    role = org.client.get("OpportunityContactRole", good.node("ocr").id or "", ["ContactId"])
    assert role["ContactId"] == good.node("con").id
    assert not bad.successful
    assert isinstance(bad.error, RecordRejected)
    assert bad.error.code == "REQUIRED_FIELD_MISSING"
    assert bad.error.fields == ("LastName",)
    assert bad.error.url is not None
    assert bad.error.url.endswith("/services/data/v62.0/sobjects/Contact")
    assert [n.halted for n in bad.nodes] == [True, False, True, True]
    assert org.count("Account") == 1


def test_a_graph_not_processed_because_others_failed_is_a_retryable_error() -> None:
    """After 14 failed graphs Salesforce runs none of the rest of the request: their only error
    is ``PROCESSING_HALTED``, a retryable error (it was a permanent rejection, so a backfill's
    coalesced request of 75 creates with 14 bad ones dead-lettered the rest), and the client
    sends them again at once in the next request."""
    org = Org()
    bad = [referral(f"bad{i}", f"Bad {i}", last_name=None) for i in range(14)]
    halted = {
        "graphId": "later",
        "isSuccessful": False,
        "graphResponse": {
            "compositeResponse": [
                {
                    "referenceId": "acct",
                    "httpStatusCode": 400,
                    "httpHeaders": {},
                    "body": [{"errorCode": "PROCESSING_HALTED", "message": "not processed"}],
                }
            ]
        },
    }
    [not_run] = graph_results({"graphs": [halted]}, [referral("later", "Contoso")], str)
    assert not_run.not_run
    assert isinstance(not_run.error, ServerError)
    assert not isinstance(not_run.error, RejectedError)
    assert not_run.error.code == "PROCESSING_HALTED"

    org.requests.clear()
    results = org.client.composite_graph([*bad, referral("later", "Contoso")])
    assert all(isinstance(r.error, RecordRejected) for r in results[:14])
    assert results[14].successful  # sent again at once, in a second request
    assert org.sent("/composite/graph") == 2
    assert org.count("Account") == 1


def test_a_locked_row_in_a_node_is_a_retryable_error() -> None:
    org = Org()
    path = "/services/data/v62.0/sobjects/Opportunity"
    rule = {"kind": "unable_to_lock_row", "method": "POST", "path": path}
    assert org.control.post("/_emulator/faults", json=rule).status_code == 201
    [result] = org.client.composite_graph([referral("g", "Contoso")])
    assert isinstance(result.error, ServerError)
    assert result.error.code == "UNABLE_TO_LOCK_ROW"


def test_graphs_are_sent_in_as_few_calls_as_the_limits_allow() -> None:
    org = Org()
    graphs = [
        Graph(f"g{i}", [GraphNode("a", "POST", "sobjects/Account", {"Name": f"A{i}"})])
        for i in range(80)
    ]
    org.requests.clear()
    results = org.client.composite_graph(graphs)
    assert org.sent("/composite/graph") == 2
    assert [r.graph_id for r in results] == [f"g{i}" for i in range(80)]
    assert all(r.successful for r in results)
    too_big = Graph("big", [GraphNode(f"n{i}", "GET", "limits") for i in range(501)])
    with pytest.raises(ValueError, match="more than 500 nodes"):
        org.client.composite_graph([too_big])


def test_a_refused_payload_raises_its_error() -> None:
    org = Org()
    graphs = [
        Graph(
            f"g{v}",
            [GraphNode("a", "POST", f"/services/data/v{v}.0/sobjects/Account", {"Name": "x"})],
        )
        for v in range(46, 63)
    ]
    with pytest.raises(RejectedError) as raised:
        org.client.composite_graph(graphs)
    assert raised.value.code == "LIMIT_EXCEEDED"


def tree_account(reference_id: str, *contacts: dict[str, Any]) -> dict[str, Any]:
    return {
        "attributes": {"type": "Account", "referenceId": reference_id},
        "Name": reference_id,
        "Contacts": {"records": list(contacts)},
    }


def contact(reference_id: str, **fields: Any) -> dict[str, Any]:
    return {"attributes": {"type": "Contact", "referenceId": reference_id}, **fields}


def test_sobject_tree_ids_and_errors() -> None:
    org = Org()
    result = org.client.sobject_tree("Account", [tree_account("acc", contact("c", LastName="Li"))])
    assert result.ok
    assert (
        org.client.get("Contact", result.ids["c"], ["AccountId"])["AccountId"]
        == (result.ids["acc"])
    )
    failed = org.client.sobject_tree(
        "Account", [tree_account("acc2", contact("c2", FirstName="no last name"))]
    )
    assert not failed.ok
    assert failed.ids == {}
    error = failed.errors["c2"]
    assert isinstance(error, RecordRejected)
    assert error.fields == ("LastName",)
    assert org.count("Account") == 1
    with pytest.raises(RecordRejected) as raised:
        org.client.sobject_tree("Account", [tree_account("acc3", contact("c3", Nope="x"))])
    assert raised.value.code == "INVALID_FIELD"


def test_retrieve_many_keeps_order_and_batches_by_2000() -> None:
    org = Org()
    first = org.client.create("Account", {"Name": "One"})
    second = org.client.create("Account", {"Name": "Two"})
    ids = [second, *(["001000000000000AAA"] * 2000), first]
    org.requests.clear()
    rows = org.client.retrieve_many("Account", ids, ["Name"])
    assert org.sent("/composite/sobjects/Account") == 2
    assert len(rows) == 2002
    assert rows[0] is not None
    assert rows[0]["Name"] == "Two"
    assert rows[1] is None
    assert rows[-1] is not None
    assert rows[-1]["Name"] == "One"


def test_query_completes_paged_child_sets_before_the_next_parent_page() -> None:
    org = Org(SalesforceEmulatorConfig(query_batch_size=1, child_batch_size=2))
    for name in ("A", "B"):
        account = org.client.create("Account", {"Name": name})
        for n in range(5):
            org.client.create("Contact", {"LastName": f"{name}{n}", "AccountId": account})
    org.requests.clear()
    rows = list(
        org.client.query(
            "SELECT Name, (SELECT LastName FROM Contacts ORDER BY LastName) FROM Account "
            "ORDER BY Name"
        )
    )
    assert [[c["LastName"] for c in r["Contacts"]["records"]] for r in rows] == [
        [f"A{n}" for n in range(5)],
        [f"B{n}" for n in range(5)],
    ]
    assert all(r["Contacts"]["done"] for r in rows)
    assert len(org.requests) == 1 + 1 + 2 * 2


def test_composite_runs_in_order_with_headers_and_rolls_back_on_a_guard() -> None:
    org = Org()
    account = org.client.create("Account", {"Name": "Fabrikam"})
    record = org.client.get("Account", account, ["LastModifiedDate"])
    nodes = [
        GraphNode("con", "POST", "sobjects/Contact", {"LastName": "Rivera", "AccountId": account}),
        GraphNode(
            "acct",
            "PATCH",
            f"sobjects/Account/{account}",
            {"Description": "@{con.id}"},
            {"If-Unmodified-Since": "Mon, 02 Mar 2026 09:00:00 GMT"},
        ),
    ]
    results = org.client.composite(nodes)
    # The guard predates the account: 412 on that node, the contact rolled back.
    assert [r.status for r in results] == [400, 412]
    assert results[0].halted
    assert type(results[1].error).__name__ == "StaleWrite"
    assert org.count("Contact") == 0
    assert org.sent("/composite") == 1

    fresh = datetime.fromisoformat(record["LastModifiedDate"]) + timedelta(seconds=1)
    guarded = {"If-Unmodified-Since": format_datetime(fresh, usegmt=True)}
    nodes[1] = GraphNode("acct", "PATCH", nodes[1].path, nodes[1].body, guarded)
    results = org.client.composite(nodes)
    assert [r.status for r in results] == [201, 204]
    contact = results[0].id
    assert org.client.get("Account", account, ["Description"])["Description"] == contact
    assert org.count("Contact") == 1


def concurrently(calls: list[Callable[[], Any]]) -> list[Any]:
    """Each call from a thread of its own; the results, or the errors raised."""

    def one(call: Callable[[], Any]) -> Any:
        try:
            return call()
        except Exception as exc:
            return exc

    with ThreadPoolExecutor(len(calls)) as pool:
        return list(pool.map(one, calls))


def test_a_coalescing_client_sends_concurrent_graphs_in_one_call_each_its_own() -> None:
    org = Org()
    client = org.client.coalescing(3, linger=30.0)
    org.requests.clear()

    answers = concurrently(
        [
            lambda: client.composite_graph([referral("create", "Contoso")]),
            lambda: client.composite_graph([referral("create", "Fabrikam", last_name=None)]),
            lambda: client.composite_graph([referral("create", "Northwind")]),
        ]
    )

    assert org.sent("/composite/graph") == 1
    [contoso], [fabrikam], [northwind] = answers
    assert [r.graph_id for r in (contoso, fabrikam, northwind)] == ["create"] * 3
    assert contoso.successful
    assert northwind.successful
    assert isinstance(fabrikam.error, RecordRejected)  # its own graph rolled back, alone
    names = {r["Name"] for r in org.client.query("SELECT Name FROM Account")}
    assert names == {"Contoso", "Northwind"}
    opportunity = org.client.get("Opportunity", contoso.node("opp").id or "", ["AccountId"])
    assert opportunity["AccountId"] == contoso.node("acct").id


def contacts_graph(graph_id: str, name: str, contacts: int) -> Graph:
    """An account and ``contacts`` contacts of it: ``contacts + 1`` nodes."""
    people = [
        GraphNode(
            f"c{n}", "POST", "sobjects/Contact", {"AccountId": "@{a.id}", "LastName": f"P{n}"}
        )
        for n in range(contacts)
    ]
    return Graph(graph_id, [GraphNode("a", "POST", "sobjects/Account", {"Name": name}), *people])


@pytest.mark.parametrize(
    ("graphs", "nodes_each"),
    [(75, 4), (50, 10)],
    ids=["75 graphs fill a call", "500 nodes fill a call"],
)
def test_a_coalescing_client_sends_graphs_once_they_fill_a_call(
    graphs: int, nodes_each: int
) -> None:
    """One worker of ``graphs + 1`` never comes: the others' creates fill a call, so it goes
    without them (Salesforce works on it while the rest are planned) instead of after the
    linger."""
    org = Org()
    client = org.client.coalescing(graphs + 1, linger=30.0)
    org.requests.clear()

    with ThreadPoolExecutor(graphs) as pool:
        answers = [
            pool.submit(client.composite_graph, [contacts_graph("g", f"A{n}", nodes_each - 1)])
            for n in range(graphs)
        ]
        wait_until(lambda: all(a.done() for a in answers), timeout=10.0, what="the creates")

    assert org.sent("/composite/graph") == 1
    assert all(a.result()[0].successful for a in answers)
    assert org.count("Account") == graphs


def test_graphs_fill_a_request_at_75_or_when_the_largest_would_not_fit() -> None:
    small = contacts_graph("s", "S", 3)  # 4 nodes
    large = contacts_graph("l", "L", 9)  # 10 nodes
    assert not fill_a_request([[small]] * 74)
    assert fill_a_request([[small]] * 75)
    assert fill_a_request([[small] * 75])  # one caller's graphs count as well
    assert not fill_a_request([[large]] * 49)  # 490 nodes: room for one more of 10
    assert fill_a_request([[large]] * 50)
    assert fill_a_request([[small]] * 40 + [[large]] * 34)  # 160 + 340 nodes


def test_a_coalescing_client_sends_concurrent_guarded_writes_as_one_composite() -> None:
    org = Org()
    ids = [org.client.create("Account", {"Name": f"Account {n}"}) for n in range(3)]
    stamps = [
        datetime.fromisoformat(
            org.client.get("Account", i, ["LastModifiedDate"])["LastModifiedDate"]
        )
        for i in ids
    ]
    fresh = [format_datetime(s + timedelta(seconds=1), usegmt=True) for s in stamps]
    stale = "Mon, 02 Mar 2026 09:00:00 GMT"  # before the account existed: 412
    guards = [fresh[0], stale, fresh[2]]
    client = org.client.coalescing(3, linger=30.0)
    org.requests.clear()

    def write(n: int) -> Callable[[], Any]:
        node = GraphNode(
            "upd0",
            "PATCH",
            f"sobjects/Account/{ids[n]}",
            {"Description": f"written {n}"},
            {"If-Unmodified-Since": guards[n]},
        )
        return lambda: client.send_node(node)

    first, second, third = concurrently([write(0), write(1), write(2)])

    assert org.sent("/composite") == 1
    assert (first.status, first.reference_id, third.status) == (204, "upd0", 204)
    assert type(second).__name__ == "StaleWrite"  # raised to its caller only
    described = [org.client.get("Account", i, ["Description"])["Description"] for i in ids]
    assert described == ["written 0", None, "written 2"]


def test_concurrent_unguarded_updates_share_one_collections_call_each_answered() -> None:
    """Single writes without a guard of one kind of record go 200 a call through sObject
    Collections, each on its own: a refused record is its caller's error only; a guarded write
    sent with them still goes as a composite subrequest (collections carry no headers)."""
    org = Org()
    ids = [org.client.create("Account", {"Name": f"Account {n}"}) for n in range(4)]
    stamp = org.client.get("Account", ids[3], ["LastModifiedDate"])["LastModifiedDate"]
    fresh = format_datetime(datetime.fromisoformat(stamp) + timedelta(seconds=1), usegmt=True)
    client = org.client.coalescing(4, linger=30.0)
    org.requests.clear()
    bodies: list[dict[str, Any]] = [
        {"Description": "written 0"},
        {"Name": ""},  # a required field emptied: refused
        {"Description": "written 2"},
        {"Description": "written 3"},
    ]

    def write(n: int) -> Callable[[], Any]:
        headers = {"If-Unmodified-Since": fresh} if n == 3 else None
        node = GraphNode("upd0", "PATCH", f"sobjects/Account/{ids[n]}", bodies[n], headers)
        return lambda: client.send_node(node)

    answers = concurrently([write(n) for n in range(4)])

    assert org.sent("/composite/sobjects") == 1
    assert org.sent("/composite") == 0
    assert org.sent(f"/sobjects/Account/{ids[3]}") == 1  # the guarded one, as itself
    assert [answers[n].status for n in (0, 2, 3)] == [204, 204, 204]
    assert isinstance(answers[1], RecordRejected)
    assert "Name" in str(answers[1])
    described = [org.client.get("Account", i, ["Description"])["Description"] for i in ids]
    assert described == ["written 0", None, "written 2", "written 3"]


def guarded_work(account_id: str, guard: str, n: int) -> list[GraphNode]:
    """One record's writes, all or none: a contact of the account, then the account guarded,
    citing the new contact."""
    return [
        GraphNode("contact0", "POST", "sobjects/Contact", {"LastName": f"Ng {n}"}),
        GraphNode(
            "upd0",
            "PATCH",
            f"sobjects/Account/{account_id}",
            {"Description": "@{contact0.id}"},
            {"If-Unmodified-Since": guard},
        ),
    ]


def concurrent_works(count: int) -> tuple[Org, list[str], list[Any]]:
    """``count`` accounts, then a guarded work on each from as many concurrent workers."""
    org = Org()
    ids = [org.client.create("Account", {"Name": f"Account {n}"}) for n in range(count)]
    guard = format_datetime(datetime.now(UTC) + timedelta(days=1), usegmt=True)
    client = org.client.coalescing(count, linger=30.0)
    org.requests.clear()
    answers = concurrently(
        [lambda n=n: client.send_work(guarded_work(ids[n], guard, n)) for n in range(count)]
    )
    return org, ids, answers


def test_a_coalescing_client_sends_concurrent_works_in_one_all_or_none_composite() -> None:
    org, ids, answers = concurrent_works(3)

    assert org.sent("/composite") == 1
    for n, results in enumerate(answers):
        assert [(r.reference_id, r.status) for r in results] == [("contact0", 201), ("upd0", 204)]
        described = org.client.get("Account", ids[n], ["Description"])["Description"]
        assert described == results[0].id  # each cites its own contact, named apart
    assert org.count("Contact") == 3


def test_many_concurrent_works_fill_each_composite_to_its_25_subrequests() -> None:
    """Thirty works of two writes each: three requests (12, 12 and 6 works), not a request per
    25 works gathered (12 + 12 + 1 each)."""
    org, _, answers = concurrent_works(30)

    assert org.sent("/composite") == 3
    assert all([r.status for r in results] == [201, 204] for results in answers)
    assert org.count("Contact") == 30


def test_a_failing_work_is_answered_alone_and_the_others_are_sent_again_without_it() -> None:
    """All or none rolls every work of the request back: the failing one gets its error, the
    others go again, and each write lands once."""
    org = Org()
    ids = [org.client.create("Account", {"Name": f"Account {n}"}) for n in range(3)]
    fresh = format_datetime(datetime.now(UTC) + timedelta(days=1), usegmt=True)
    stale = "Mon, 02 Mar 2026 09:00:00 GMT"  # before the account existed: 412
    guards = [fresh, stale, fresh]
    client = org.client.coalescing(3, linger=30.0)
    org.requests.clear()

    answers = concurrently(
        [lambda n=n: client.send_work(guarded_work(ids[n], guards[n], n)) for n in range(3)]
    )

    assert org.sent("/composite") == 2  # the shared request, then the two that did not fail
    first, second, third = answers
    assert [r.status for r in first] == [r.status for r in third] == [201, 204]
    error = root_error(second)
    assert type(error).__name__ == "StaleWrite"  # the failing work's own error
    described = [org.client.get("Account", i, ["Description"])["Description"] for i in ids]
    assert described == [first[0].id, None, third[0].id]
    names = sorted(r["LastName"] for r in org.client.query("SELECT LastName FROM Contact"))
    assert names == ["Ng 0", "Ng 2"]  # the rolled-back first try left nothing behind
