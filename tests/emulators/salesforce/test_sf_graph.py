"""Composite graph: graphs as separate transactions, references between nodes, the documented
limits and error shapes, faults, and one API call per request."""

from typing import Any

import httpx
import pytest
from sf_api import Api, V

ROLLED_BACK = (
    "The transaction was rolled back since another operation in the same transaction failed."
)


def node(reference_id: str, method: str, path: str, body: Any = None) -> dict[str, Any]:
    sub: dict[str, Any] = {"method": method, "url": f"{V}/{path}", "referenceId": reference_id}
    if body is not None:
        sub["body"] = body
    return sub


def graph(graph_id: str, *nodes: dict[str, Any]) -> dict[str, Any]:
    return {"graphId": graph_id, "compositeRequest": list(nodes)}


def post_graphs(api: Api, *graphs: dict[str, Any]) -> httpx.Response:
    return api.post("composite/graph", json={"graphs": list(graphs)})


def count(api: Api, sobject: str) -> int:
    body = api.get("query", params={"q": f"SELECT COUNT() FROM {sobject}"}).json()  # noqa: S608
    total: int = body["totalSize"]
    return total


def referral_graph(graph_id: str, tenant: str, last_name: str | None = "Rivera") -> dict[str, Any]:
    contact = {"Email": "a.rivera@example.com", "AccountId": "@{acct.id}"}
    if last_name is not None:
        contact["LastName"] = last_name
    opportunity = {
        "Name": f"{tenant} - Azure migration",
        "StageName": "Prospecting",
        "CloseDate": "2026-12-31",
        "AccountId": "@{acct.id}",
    }
    return graph(
        graph_id,
        node("acct", "PATCH", f"sobjects/Account/Tenant__c/{tenant}", {"Name": tenant}),
        node("con", "POST", "sobjects/Contact", contact),
        node("opp", "PATCH", f"sobjects/Opportunity/Referral_Id__c/R-{tenant}", opportunity),
        node(
            "ocr",
            "POST",
            "sobjects/OpportunityContactRole",
            {"OpportunityId": "@{opp.id}", "ContactId": "@{con.id}", "Role": "Decision Maker"},
        ),
    )


@pytest.fixture
def keyed(api: Api) -> Api:
    api.add_field("Account.Tenant__c", type="Text", label="Tenant", length=40, externalId=True)
    api.add_field(
        "Opportunity.Referral_Id__c", type="Text", label="Referral", length=40, externalId=True
    )
    return api


def test_a_referral_graph_writes_four_linked_records_in_one_call(keyed: Api) -> None:
    keyed.emulator.calls.reset()
    before = keyed.emulator.usage.used()
    response = post_graphs(keyed, referral_graph("ref_7f3a", "Contoso"))
    assert response.status_code == 200
    [outcome] = response.json()["graphs"]
    assert list(outcome) == ["graphId", "graphResponse", "isSuccessful"]
    assert outcome["graphId"] == "ref_7f3a"
    assert outcome["isSuccessful"] is True
    parts = outcome["graphResponse"]["compositeResponse"]
    assert [p["referenceId"] for p in parts] == ["acct", "con", "opp", "ocr"]
    assert [p["httpStatusCode"] for p in parts] == [201, 201, 201, 201]
    assert parts[0]["body"] == {
        "id": parts[0]["body"]["id"],
        "success": True,
        "errors": [],
        "created": True,
    }
    assert parts[1]["httpHeaders"]["Location"].endswith(parts[1]["body"]["id"])
    assert keyed.emulator.usage.used() == before + 1
    assert keyed.emulator.calls.snapshot()["calls"] == {
        "POST /services/data/v{version}/composite/graph": 1
    }
    role = keyed.get(f"sobjects/OpportunityContactRole/{parts[3]['body']['id']}").json()
    assert role["OpportunityId"] == parts[2]["body"]["id"]
    assert role["ContactId"] == parts[1]["body"]["id"]


def test_a_failing_node_rolls_back_its_graph_only(keyed: Api) -> None:
    response = post_graphs(
        keyed, referral_graph("bad", "Fabrikam", last_name=None), referral_graph("good", "Contoso")
    )
    assert response.status_code == 200
    bad, good = response.json()["graphs"]
    assert (bad["isSuccessful"], good["isSuccessful"]) == (False, True)
    parts = bad["graphResponse"]["compositeResponse"]
    assert [p["httpStatusCode"] for p in parts] == [400, 400, 400, 400]
    assert parts[1]["body"] == [
        {
            "message": "Required fields are missing: [LastName]",
            "errorCode": "REQUIRED_FIELD_MISSING",
            "fields": ["LastName"],
        }
    ]
    for index in (0, 2, 3):
        assert parts[index]["body"] == [{"errorCode": "PROCESSING_HALTED", "message": ROLLED_BACK}]
        assert parts[index]["httpHeaders"] == {}
    names = keyed.get("query", params={"q": "SELECT Name FROM Account"}).json()["records"]
    assert [r["Name"] for r in names] == ["Contoso"]
    assert count(keyed, "Opportunity") == 1
    assert count(keyed, "Contact") == 1


def test_v50_sibling_errors_repeat_the_root_error(keyed: Api) -> None:
    keyed.emulator.config.graph_sibling_errors = "repeat"
    [bad] = post_graphs(keyed, referral_graph("bad", "Fabrikam", last_name=None)).json()["graphs"]
    codes = {p["body"][0]["errorCode"] for p in bad["graphResponse"]["compositeResponse"]}
    assert codes == {"REQUIRED_FIELD_MISSING"}


def test_nodes_run_in_reference_order_and_answer_in_request_order(api: Api) -> None:
    contact = node("con", "POST", "sobjects/Contact", {"LastName": "Lee", "AccountId": "@{a.id}"})
    read = node("read", "GET", "sobjects/Contact/@{con.id}?fields=AccountId")
    account = node("a", "POST", "sobjects/Account", {"Name": "Later"})
    [outcome] = post_graphs(api, graph("g1", read, contact, account)).json()["graphs"]
    assert outcome["isSuccessful"] is True
    parts = outcome["graphResponse"]["compositeResponse"]
    assert [p["referenceId"] for p in parts] == ["read", "con", "a"]
    assert parts[0]["body"]["AccountId"] == parts[2]["body"]["id"]


def test_single_record_rules_apply_to_nodes(api: Api) -> None:
    rule = {
        "sobject": "Account",
        "field": "Name",
        "operator": "equals",
        "value": "Blocked",
        "message": "Pick another name",
    }
    assert api.client.post("/_emulator/validation-rules", json=rule).status_code == 201
    body = {"Name": "Blocked"}
    [outcome] = post_graphs(api, graph("g", node("a", "POST", "sobjects/Account", body))).json()[
        "graphs"
    ]
    [part] = outcome["graphResponse"]["compositeResponse"]
    assert part["body"][0]["errorCode"] == "FIELD_CUSTOM_VALIDATION_EXCEPTION"
    assert part["body"][0]["message"] == "Pick another name"


def test_a_graph_of_500_nodes_runs_and_501_is_the_documented_limit(api: Api) -> None:
    def accounts(n: int) -> dict[str, Any]:
        nodes = [node(f"a{i}", "POST", "sobjects/Account", {"Name": f"A{i}"}) for i in range(n)]
        return graph("big", *nodes)

    over = post_graphs(api, accounts(501))
    assert over.status_code == 200
    assert over.json() == {
        "graphs": [
            {
                "graphId": "_default",
                "graphResponse": {
                    "compositeResponse": [
                        {
                            "body": [
                                {
                                    "errorCode": "LIMIT_EXCEEDED",
                                    "message": "Limit of 500 reached for number of Nodes in the "
                                    "Graph",
                                }
                            ],
                            "httpHeaders": {},
                            "httpStatusCode": 400,
                            "referenceId": None,
                        }
                    ]
                },
                "isSuccessful": False,
            }
        ]
    }
    assert count(api, "Account") == 0
    [outcome] = post_graphs(api, accounts(500)).json()["graphs"]
    assert outcome["isSuccessful"] is True
    assert count(api, "Account") == 500


def limit_message(response: httpx.Response) -> str:
    [outcome] = response.json()["graphs"]
    assert outcome["graphId"] == "_default"
    [part] = outcome["graphResponse"]["compositeResponse"]
    assert part["body"][0]["errorCode"] == "LIMIT_EXCEEDED"
    message: str = part["body"][0]["message"]
    return message


def test_payload_limits_graphs_nodes_and_node_kinds(api: Api) -> None:
    def one(i: int, path: str = "sobjects/Account", version: str = "62.0") -> dict[str, Any]:
        # Only the limits are under test: these graphs would fail on their own if they ran.
        sub = node("a", "POST", path, {"Name": f"A{i}"})
        sub["url"] = sub["url"].replace("v62.0", f"v{version}")
        return graph(f"g{i}", sub)

    assert "75" in limit_message(post_graphs(api, *(one(i) for i in range(76))))
    halves = [
        graph(
            f"h{h}", *(node(f"a{i}", "POST", "sobjects/Account", {"Name": "x"}) for i in range(251))
        )
        for h in range(2)
    ]
    assert "Payload" in limit_message(post_graphs(api, *halves))
    kinds = [one(i, version=f"{v}.0") for i, v in enumerate(range(50, 63))]
    kinds += [one(20, "sobjects/Contact"), one(21, "sobjects/Note"), one(22, "sobjects/User")]
    assert "15" in limit_message(post_graphs(api, *kinds))
    assert count(api, "Account") == 0
    fifteen = post_graphs(api, *kinds[:-1]).json()["graphs"]
    assert [g["graphId"] for g in fifteen] == [f"g{i}" for i in range(13)] + ["g20", "g21"]


def chain(length: int) -> dict[str, Any]:
    nodes = [node("n0", "POST", "sobjects/Account", {"Name": "Root"})]
    nodes.append(node("n1", "GET", "sobjects/Account/@{n0.id}?fields=Id"))
    nodes += [node(f"n{i}", "GET", f"sobjects/Account/@{{n{i - 1}.Id}}") for i in range(2, length)]
    return graph("chain", *nodes)


def test_depth_is_limited_to_15(api: Api) -> None:
    [ok] = post_graphs(api, chain(15)).json()["graphs"]
    assert ok["isSuccessful"] is True
    [deep] = post_graphs(api, chain(16)).json()["graphs"]
    assert deep["isSuccessful"] is False
    parts = deep["graphResponse"]["compositeResponse"]
    assert parts[15]["body"] == [
        {"errorCode": "LIMIT_EXCEEDED", "message": "Limit of 15 reached for depth of the Graph"}
    ]
    assert parts[0]["body"][0]["errorCode"] == "PROCESSING_HALTED"
    assert count(api, "Account") == 1


def test_references_across_graphs_and_cycles_fail_the_graph(api: Api) -> None:
    first = graph("one", node("a", "POST", "sobjects/Account", {"Name": "One"}))
    second = graph(
        "two", node("c", "POST", "sobjects/Contact", {"LastName": "X", "AccountId": "@{a.id}"})
    )
    cycle = graph(
        "three",
        node("x", "GET", "sobjects/Account/@{y.Id}"),
        node("y", "GET", "sobjects/Account/@{x.Id}"),
    )
    one, two, three = post_graphs(api, first, second, cycle).json()["graphs"]
    assert one["isSuccessful"] is True
    assert two["graphResponse"]["compositeResponse"][0]["body"] == [
        {
            "errorCode": "PROCESSING_HALTED",
            "message": "Invalid reference specified. No value for a.id found in a",
        }
    ]
    assert three["isSuccessful"] is False
    assert three["graphResponse"]["compositeResponse"][0]["body"][0]["errorCode"] == (
        "INVALID_API_INPUT"
    )
    assert count(api, "Contact") == 0


@pytest.mark.parametrize(
    ("method", "url"),
    [
        ("GET", f"{V}/query?q=SELECT+Id+FROM+Account"),
        ("POST", f"{V}/composite/sobjects"),
        ("POST", "/services/data/v49.0/sobjects/Account"),
        ("PUT", f"{V}/sobjects/Account/001000000000000AAA"),
        ("POST", f"{V}/composite/tree/Account"),
    ],
)
def test_only_single_record_sobject_calls_can_be_nodes(api: Api, method: str, url: str) -> None:
    sub = {"method": method, "url": url, "referenceId": "bad", "body": {"records": []}}
    ok = node("ok", "POST", "sobjects/Account", {"Name": "Never"})
    [outcome] = post_graphs(api, graph("g", ok, sub)).json()["graphs"]
    parts = outcome["graphResponse"]["compositeResponse"]
    assert parts[1]["body"][0]["errorCode"] == "INVALID_API_INPUT"
    assert parts[0]["body"][0]["errorCode"] == "PROCESSING_HALTED"
    assert count(api, "Account") == 0


@pytest.mark.parametrize(
    ("graphs", "message"),
    [
        ([graph("g", {"method": "GET", "url": f"{V}/limits"})], "'referenceId' is a required"),
        ([graph("a.b", node("x", "POST", "sobjects/Account", {"Name": "n"}))], "graphId 'a.b'"),
        ([graph("g" * 40, node("x", "POST", "sobjects/Account", {"Name": "n"}))], "graphId"),
        (
            [graph("g", node("x", "POST", "sobjects/Account")), graph("g", node("y", "GET", "x"))],
            "more than one",
        ),
        ([graph("g", node("x-1", "POST", "sobjects/Account"))], "referenceId 'x-1'"),
        ([], "graphs"),
    ],
)
def test_a_malformed_request_is_a_400(api: Api, graphs: list[Any], message: str) -> None:
    response = api.post("composite/graph", json={"graphs": graphs})
    assert response.status_code == 400
    [error] = response.json()
    assert error["errorCode"] == "JSON_PARSER_ERROR"
    assert message in error["message"]


def test_graph_needs_api_version_50(api: Api) -> None:
    api.version = "49.0"
    response = post_graphs(api, graph("g", node("a", "POST", "sobjects/Account", {"Name": "n"})))
    assert response.status_code == 404


def test_after_14_failed_graphs_the_rest_are_not_processed(api: Api) -> None:
    failing = [
        graph(f"f{i}", node("c", "POST", "sobjects/Contact", {"FirstName": "no last name"}))
        for i in range(14)
    ]
    fine = graph("fine", node("a", "POST", "sobjects/Account", {"Name": "Skipped"}))
    outcomes = post_graphs(api, *failing, fine).json()["graphs"]
    assert [o["isSuccessful"] for o in outcomes] == [False] * 15
    [part] = outcomes[14]["graphResponse"]["compositeResponse"]
    assert part["body"][0]["errorCode"] == "PROCESSING_HALTED"
    assert "14 graphs" in part["body"][0]["message"]
    assert count(api, "Account") == 0
    outcomes = post_graphs(api, *failing[:13], fine).json()["graphs"]
    assert outcomes[13]["isSuccessful"] is True


def test_a_lock_fault_on_a_node_path_fails_that_graph(keyed: Api) -> None:
    rule = {"kind": "unable_to_lock_row", "method": "POST", "path": f"{V}/sobjects/Contact"}
    assert keyed.client.post("/_emulator/faults", json=rule).status_code == 201
    first, second = post_graphs(
        keyed, referral_graph("locked", "Fabrikam"), referral_graph("free", "Contoso")
    ).json()["graphs"]
    assert first["isSuccessful"] is False
    assert first["graphResponse"]["compositeResponse"][1]["body"][0]["errorCode"] == (
        "UNABLE_TO_LOCK_ROW"
    )
    assert second["isSuccessful"] is True
    assert count(keyed, "Account") == 1


def test_a_whole_request_fault_writes_nothing(keyed: Api) -> None:
    rule = {"kind": "server_error", "params": {"status": 503}, "path": f"{V}/composite/graph"}
    assert keyed.client.post("/_emulator/faults", json=rule).status_code == 201
    response = post_graphs(keyed, referral_graph("g", "Contoso"))
    assert response.status_code == 503
    assert count(keyed, "Account") == 0
    assert post_graphs(keyed, referral_graph("g", "Contoso")).status_code == 200
    assert count(keyed, "Account") == 1
