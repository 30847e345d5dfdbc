"""sObject Tree: nested inserts linked through child relationships, the documented success and
error shapes, all-or-nothing rollback, the limits, and one API call per request."""

from typing import Any

import httpx
import pytest
from sf_api import Api, V


def rec(sobject: str, reference_id: str, **fields: Any) -> dict[str, Any]:
    return {"attributes": {"type": sobject, "referenceId": reference_id}, **fields}


def children(*records: dict[str, Any]) -> dict[str, Any]:
    return {"records": list(records)}


def tree(api: Api, sobject: str, *records: dict[str, Any]) -> httpx.Response:
    return api.post(f"composite/tree/{sobject}", json={"records": list(records)})


def count(api: Api, sobject: str) -> int:
    body = api.get("query", params={"q": f"SELECT COUNT() FROM {sobject}"}).json()  # noqa: S608
    total: int = body["totalSize"]
    return total


def fabrikam() -> dict[str, Any]:
    return rec(
        "Account",
        "acc1",
        Name="Fabrikam",
        Contacts=children(rec("Contact", "con1", LastName="Okafor")),
        Opportunities=children(
            rec(
                "Opportunity",
                "opp1",
                Name="Fabrikam - Dynamics",
                StageName="Qualification",
                CloseDate="2026-11-30",
            )
        ),
    )


def test_a_tree_inserts_parents_and_children_in_one_call(api: Api) -> None:
    api.emulator.calls.reset()
    before = api.emulator.usage.used()
    response = tree(api, "Account", fabrikam(), rec("Account", "acc2", Name="Northwind"))
    assert response.status_code == 201
    body = response.json()
    assert list(body) == ["hasErrors", "results"]
    assert body["hasErrors"] is False
    assert [r["referenceId"] for r in body["results"]] == ["acc1", "acc2", "con1", "opp1"]
    assert all(list(r) == ["referenceId", "id"] for r in body["results"])
    assert api.emulator.usage.used() == before + 1
    assert api.emulator.calls.snapshot()["calls"] == {
        "POST /services/data/v{version}/composite/tree/{sobject}": 1
    }
    ids = {r["referenceId"]: r["id"] for r in body["results"]}
    contact = api.get(f"sobjects/Contact/{ids['con1']}").json()
    assert contact["AccountId"] == ids["acc1"]
    assert contact["CreatedById"] == api.emulator.org.integration_user_id
    assert contact["SystemModstamp"] == contact["CreatedDate"]
    assert api.get(f"sobjects/Opportunity/{ids['opp1']}").json()["AccountId"] == ids["acc1"]


def test_any_failing_record_undoes_the_whole_tree(api: Api) -> None:
    broken = fabrikam()
    broken["Contacts"]["records"].append(rec("Contact", "con2", FirstName="No last name"))
    broken["Contacts"]["records"].append(rec("Contact", "con3", LastName="x" * 81))
    response = tree(api, "Account", broken)
    assert response.status_code == 400
    assert response.json() == {
        "hasErrors": True,
        "results": [
            {
                "referenceId": "con2",
                "errors": [
                    {
                        "statusCode": "REQUIRED_FIELD_MISSING",
                        "message": "Required fields are missing: [LastName]",
                        "fields": ["LastName"],
                    }
                ],
            },
            {
                "referenceId": "con3",
                "errors": [
                    {
                        "statusCode": "STRING_TOO_LONG",
                        "message": response.json()["results"][1]["errors"][0]["message"],
                        "fields": ["LastName"],
                    }
                ],
            },
        ],
    }
    assert (count(api, "Account"), count(api, "Contact"), count(api, "Opportunity")) == (0, 0, 0)


def test_custom_child_relationships_nest_too(api: Api) -> None:
    api.add_solutions()
    opportunity = rec(
        "Opportunity",
        "opp",
        Name="Deal",
        StageName="Prospecting",
        CloseDate="2026-06-30",
        Microsoft_Solutions__r=children(rec("Microsoft_Solution__c", "sol", Name="Azure")),
    )
    results = tree(api, "Opportunity", opportunity).json()["results"]
    ids = {r["referenceId"]: r["id"] for r in results}
    solution = api.get(f"sobjects/Microsoft_Solution__c/{ids['sol']}").json()
    assert solution["Opportunity__c"] == ids["opp"]


@pytest.mark.parametrize(
    ("records", "code", "message"),
    [
        ([rec("Contact", "c", LastName="x")], "INVALID_TYPE", "doesn't match Account"),
        ([rec("Account", "a", Nope="x")], "INVALID_FIELD", "No such column 'Nope'"),
        (
            [rec("Account", "a", Name="x", Contactz=children(rec("Contact", "c", LastName="y")))],
            "INVALID_FIELD",
            "No such column 'Contactz' on sobject of type Account",
        ),
        (
            [rec("Account", "a", Name="x", Contacts=children(rec("Note", "n", Title="t")))],
            "INVALID_TYPE",
            "doesn't match Contact",
        ),
        (
            [rec("Account", "a", Name="x"), rec("Account", "a", Name="y")],
            "JSON_PARSER_ERROR",
            "'a'",
        ),
        ([{"Name": "no attributes"}], "JSON_PARSER_ERROR", "attributes"),
        ([rec("Account", "bad-id", Name="x")], "JSON_PARSER_ERROR", "bad-id"),
        ([], "JSON_PARSER_ERROR", "records"),
    ],
)
def test_malformed_trees_fail_before_anything_is_inserted(
    api: Api, records: list[Any], code: str, message: str
) -> None:
    response = tree(api, "Account", *records)
    assert response.status_code == 400
    [error] = response.json()
    assert error["errorCode"] == code
    assert message in error["message"]
    assert count(api, "Account") == 0


def test_two_hundred_records_is_the_limit(api: Api) -> None:
    over = tree(api, "Account", *(rec("Account", f"a{i}", Name=f"A{i}") for i in range(201)))
    assert over.status_code == 400
    assert over.json()[0]["errorCode"] == "LIMIT_EXCEEDED"
    assert count(api, "Account") == 0
    ok = tree(api, "Account", *(rec("Account", f"a{i}", Name=f"A{i}") for i in range(200)))
    assert ok.status_code == 201
    assert count(api, "Account") == 200


def test_a_tree_is_at_most_five_levels_deep(api: Api) -> None:
    api.add_field(
        "Account.Parent_Account__c",
        type="Lookup",
        label="Parent",
        referenceTo="Account",
        relationshipName="Subsidiaries",
    )

    def nest(depth: int) -> dict[str, Any]:
        record = rec("Account", f"l{depth}", Name=f"L{depth}")
        if depth > 1:
            record["Subsidiaries__r"] = children(nest(depth - 1))
        return record

    deep = tree(api, "Account", nest(6))
    assert deep.status_code == 400
    assert deep.json()[0]["errorCode"] == "LIMIT_EXCEEDED"
    ok = tree(api, "Account", nest(5)).json()
    ids = {r["referenceId"]: r["id"] for r in ok["results"]}
    assert [r["referenceId"] for r in ok["results"]] == ["l5", "l4", "l3", "l2", "l1"]
    leaf = api.get(f"sobjects/Account/{ids['l1']}").json()
    assert leaf["Parent_Account__c"] == ids["l2"]


def test_at_most_five_object_types(api: Api) -> None:
    account = rec(
        "Account",
        "a",
        Name="x",
        Contacts=children(rec("Contact", "c", LastName="y")),
        Opportunities=children(
            rec(
                "Opportunity",
                "o",
                Name="o",
                StageName="Prospecting",
                CloseDate="2026-06-30",
                OpportunityTeamMembers=children(rec("OpportunityTeamMember", "t")),
                Notes=children(rec("Note", "n", Title="t")),
            )
        ),
    )
    api.add_solutions()
    account["Opportunities"]["records"][0]["Microsoft_Solutions__r"] = children(
        rec("Microsoft_Solution__c", "s", Name="s")
    )
    response = tree(api, "Account", account)
    assert response.status_code == 400
    assert "6 object types" in response.json()[0]["message"]


def test_a_lock_fault_on_a_record_path_undoes_the_tree(api: Api) -> None:
    rule = {"kind": "unable_to_lock_row", "method": "POST", "path": f"{V}/sobjects/Opportunity"}
    assert api.client.post("/_emulator/faults", json=rule).status_code == 201
    response = tree(api, "Account", fabrikam())
    assert response.status_code == 400
    [failure] = response.json()["results"]
    assert failure["referenceId"] == "opp1"
    assert failure["errors"][0]["statusCode"] == "UNABLE_TO_LOCK_ROW"
    assert count(api, "Account") == 0


def test_an_unknown_root_type_is_not_found(api: Api) -> None:
    response = tree(api, "Nothing__c", rec("Nothing__c", "x"))
    assert response.status_code == 404
