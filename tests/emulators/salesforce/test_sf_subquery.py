"""Parent-to-child subqueries over REST: nested results, filters inside the subquery, child
paging, the documented limits and errors, describe's childRelationships, and call counting."""

import json
from pathlib import Path
from typing import Any

import httpx
import pytest
from sf_api import Api

FIXTURES = Path(__file__).resolve().parents[3].parent / "shared/reference/fixtures/salesforce"
OPPORTUNITY_QUERY = (
    "SELECT Id, Name, Account.Name, "
    "(SELECT Id, ContactId, Role FROM OpportunityContactRoles ORDER BY Role), "
    "(SELECT Id, Name FROM Microsoft_Solutions__r) "
    "FROM Opportunity ORDER BY Name"
)


def soql(api: Api, text: str, path: str = "query") -> httpx.Response:
    return api.get(path, params={"q": text})


def records(api: Api, text: str, path: str = "query") -> list[dict[str, Any]]:
    response = soql(api, text, path)
    assert response.status_code == 200, response.text
    rows: list[dict[str, Any]] = response.json()["records"]
    return rows


def error(response: httpx.Response) -> tuple[int, str, str]:
    [body] = response.json()
    return response.status_code, body["errorCode"], body["message"]


def deal_with_roles(api: Api) -> tuple[str, list[str]]:
    account = api.create("Account", Name="Contoso")
    opp = api.opportunity(Name="A deal", AccountId=account)
    contacts = [api.create("Contact", LastName=n, AccountId=account) for n in ("Li", "Ng")]
    roles = [
        api.create("OpportunityContactRole", OpportunityId=opp, ContactId=c, Role=r)
        for c, r in zip(contacts, ("Technical Buyer", "Decision Maker"), strict=True)
    ]
    return opp, roles


def test_children_nest_as_query_results_and_empty_sets_are_null(api: Api) -> None:
    api.add_solutions()
    opp, roles = deal_with_roles(api)
    solution = api.create("Microsoft_Solution__c", Name="Azure", Opportunity__c=opp)
    api.opportunity(Name="B deal")
    first, second = records(api, OPPORTUNITY_QUERY)
    assert list(first) == [
        "attributes",
        "Id",
        "Name",
        "Account",
        "OpportunityContactRoles",
        "Microsoft_Solutions__r",
    ]
    contact_roles = first["OpportunityContactRoles"]
    assert list(contact_roles) == ["totalSize", "done", "records"]
    assert contact_roles["totalSize"] == 2
    assert contact_roles["done"] is True
    assert [r["Role"] for r in contact_roles["records"]] == ["Decision Maker", "Technical Buyer"]
    assert [r["Id"] for r in contact_roles["records"]] == roles[::-1]
    assert contact_roles["records"][0]["attributes"] == {
        "type": "OpportunityContactRole",
        "url": f"/services/data/v62.0/sobjects/OpportunityContactRole/{roles[1]}",
    }
    assert first["Microsoft_Solutions__r"]["records"] == [
        {
            "attributes": {
                "type": "Microsoft_Solution__c",
                "url": f"/services/data/v62.0/sobjects/Microsoft_Solution__c/{solution}",
            },
            "Id": solution,
            "Name": "Azure",
        }
    ]
    assert second["OpportunityContactRoles"] is None
    assert second["Microsoft_Solutions__r"] is None
    assert second["Account"] is None


def test_where_order_limit_and_parent_paths_inside_a_subquery(api: Api) -> None:
    deal_with_roles(api)
    [row] = records(
        api,
        "SELECT Name, (SELECT Role, Contact.LastName FROM OpportunityContactRoles "
        "WHERE Role != 'Other' ORDER BY Contact.LastName DESC LIMIT 1) FROM Opportunity",
    )
    [child] = row["OpportunityContactRoles"]["records"]
    assert child["Role"] == "Decision Maker"
    assert child["Contact"]["LastName"] == "Ng"
    assert row["OpportunityContactRoles"]["totalSize"] == 1
    [row] = records(
        api,
        "SELECT Name, (SELECT Id FROM OpportunityContactRoles WHERE Role = 'Other') "
        "FROM Opportunity",
    )
    assert row["OpportunityContactRoles"] is None


def test_relationship_names_are_case_insensitive_and_answered_canonically(api: Api) -> None:
    account = api.create("Account", Name="Fabrikam")
    api.create("Contact", LastName="Okafor", AccountId=account)
    [row] = records(api, "select id, (select lastname from CONTACTS) from account")
    assert row["Contacts"]["records"][0]["LastName"] == "Okafor"


def test_an_unknown_child_relationship_is_invalid_type(api: Api) -> None:
    status, code, message = error(soql(api, "SELECT Id, (SELECT Id FROM Contact) FROM Account"))
    assert (status, code) == (400, "INVALID_TYPE")
    assert message.startswith(
        "Didn't understand relationship 'Contact' in FROM part of query call. If you are "
        "attempting to use a custom relationship, be sure to append the '__r'"
    )


def test_child_fields_are_checked_even_without_rows(api: Api) -> None:
    status, code, message = error(soql(api, "SELECT Id, (SELECT Nope FROM Contacts) FROM Account"))
    assert (status, code) == (400, "INVALID_FIELD")
    assert message.startswith("No such column 'Nope' on entity 'Contact'.")


def test_more_than_twenty_subqueries_is_malformed(api: Api) -> None:
    def text(count: int) -> str:
        subqueries = ", ".join(f"(SELECT Id FROM Child{n}__r)" for n in range(count))  # noqa: S608
        return f"SELECT Id, {subqueries} FROM Account"  # noqa: S608

    status, code, message = error(soql(api, text(21)))
    assert (status, code) == (400, "MALFORMED_QUERY")
    assert "more than 20" in message
    # Twenty pass the count and fail later, on the first unknown relationship.
    assert error(soql(api, text(20)))[1] == "INVALID_TYPE"


def test_nesting_is_one_level_through_v57_and_four_from_v58(api: Api) -> None:
    account = api.create("Account", Name="Northwind")
    opp = api.opportunity(AccountId=account)
    contact = api.create("Contact", LastName="Lee", AccountId=account)
    api.create("OpportunityContactRole", OpportunityId=opp, ContactId=contact)
    nested = (
        "SELECT Name, (SELECT Name, (SELECT ContactId FROM OpportunityContactRoles) "
        "FROM Opportunities) FROM Account"
    )
    [row] = records(api, nested)
    [deal] = row["Opportunities"]["records"]
    assert deal["OpportunityContactRoles"]["records"][0]["ContactId"] == contact
    api.version = "57.0"
    assert error(soql(api, nested)) == (
        400,
        "MALFORMED_QUERY",
        "SOQL statements cannot query aggregate relationships more than 1 level away from the "
        "root entity object.",
    )
    api.version = "62.0"
    six_levels = "SELECT Id FROM L5"
    for level in range(4, 0, -1):
        six_levels = f"SELECT Id, ({six_levels}) FROM L{level}"  # noqa: S608
    six_levels = f"SELECT Id, ({six_levels}) FROM Account"  # noqa: S608
    status, code, message = error(soql(api, six_levels))
    assert (status, code) == (400, "MALFORMED_QUERY")
    assert "more than 4 levels away" in message


def test_subquery_offset_needs_a_parent_limit_of_one(api: Api) -> None:
    deal_with_roles(api)
    inner = "(SELECT Role FROM OpportunityContactRoles ORDER BY Role LIMIT 5 OFFSET 1)"
    status, code, _ = error(soql(api, f"SELECT Id, {inner} FROM Opportunity"))  # noqa: S608
    assert (status, code) == (400, "MALFORMED_QUERY")
    [row] = records(api, f"SELECT Id, {inner} FROM Opportunity LIMIT 1")  # noqa: S608
    assert [r["Role"] for r in row["OpportunityContactRoles"]["records"]] == ["Technical Buyer"]


def test_query_all_includes_deleted_children(api: Api) -> None:
    _opp, roles = deal_with_roles(api)
    assert api.delete(f"sobjects/OpportunityContactRole/{roles[0]}").status_code == 204
    text = "SELECT Id, (SELECT Id, IsDeleted FROM OpportunityContactRoles) FROM Opportunity"
    [live] = records(api, text)
    assert [r["Id"] for r in live["OpportunityContactRoles"]["records"]] == [roles[1]]
    [every] = records(api, text, "queryAll")
    assert {r["Id"]: r["IsDeleted"] for r in every["OpportunityContactRoles"]["records"]} == {
        roles[0]: True,
        roles[1]: False,
    }


def test_large_child_sets_page_through_their_own_locator(api: Api) -> None:
    api.emulator.config.child_batch_size = 2
    account = api.create("Account", Name="Big")
    contacts = [api.create("Contact", LastName=f"C{n}", AccountId=account) for n in range(5)]
    api.emulator.calls.reset()
    text = "SELECT Id, (SELECT LastName FROM Contacts ORDER BY LastName) FROM Account"
    response = soql(api, text)
    nested = response.json()["records"][0]["Contacts"]
    assert list(nested) == ["totalSize", "done", "nextRecordsUrl", "records"]
    assert (nested["totalSize"], nested["done"], len(nested["records"])) == (5, False, 2)
    names = [r["LastName"] for r in nested["records"]]
    pages = 1
    while not nested["done"]:
        assert nested["nextRecordsUrl"].startswith("/services/data/v62.0/query/01g")
        nested = api.get(nested["nextRecordsUrl"]).json()
        names += [r["LastName"] for r in nested["records"]]
        pages += 1
    assert names == [f"C{n}" for n in range(5)]
    assert nested["totalSize"] == len(contacts)
    assert pages == 3
    assert api.emulator.calls.snapshot()["total"] == 3


def test_fetching_the_next_parent_page_closes_the_older_child_locators(api: Api) -> None:
    api.emulator.config.child_batch_size = 1
    api.emulator.config.query_batch_size = 1
    for name in ("A", "B"):
        account = api.create("Account", Name=name)
        for n in range(2):
            api.create("Contact", LastName=f"{name}{n}", AccountId=account)
    first = soql(
        api, "SELECT Name, (SELECT LastName FROM Contacts) FROM Account ORDER BY Name"
    ).json()
    child_url = first["records"][0]["Contacts"]["nextRecordsUrl"]
    second = api.get(first["nextRecordsUrl"]).json()
    assert second["records"][0]["Name"] == "B"
    assert second["records"][0]["Contacts"]["done"] is False
    status, code, _ = error(api.get(child_url))
    assert (status, code) == (400, "INVALID_QUERY_LOCATOR")
    rest = api.get(second["records"][0]["Contacts"]["nextRecordsUrl"]).json()
    assert [r["LastName"] for r in rest["records"]] == ["B1"]


def test_a_subquery_query_is_one_api_call(api: Api) -> None:
    api.add_solutions()
    deal_with_roles(api)
    before = api.emulator.usage.used()
    api.emulator.calls.reset()
    response = soql(api, OPPORTUNITY_QUERY)
    assert response.status_code == 200
    assert api.emulator.usage.used() == before + 1
    assert api.emulator.calls.snapshot()["calls"] == {"GET /services/data/v{version}/query": 1}
    assert response.headers["Sforce-Limit-Info"] == f"api-usage={before + 1}/100000"


def test_describe_lists_child_relationships(api: Api) -> None:
    api.add_solutions()
    described = api.get("sobjects/Opportunity/describe").json()["childRelationships"]
    names = {c["relationshipName"]: (c["childSObject"], c["field"]) for c in described}
    assert names["OpportunityContactRoles"] == ("OpportunityContactRole", "OpportunityId")
    assert names["OpportunityTeamMembers"] == ("OpportunityTeamMember", "OpportunityId")
    assert names["Notes"] == ("Note", "ParentId")
    assert names["Microsoft_Solutions__r"] == ("Microsoft_Solution__c", "Opportunity__c")
    assert set(described[0]) >= {"cascadeDelete", "childSObject", "field", "relationshipName"}
    account = api.get("sobjects/Account/describe").json()["childRelationships"]
    assert {"Contacts", "Opportunities", "Notes"} <= {c["relationshipName"] for c in account}


def test_strict_access_hides_a_custom_child_relationship(api: Api) -> None:
    api.add_solutions()
    assert api.client.put("/_emulator/access", json={"fls_strict": True}).status_code == 200
    described = api.get("sobjects/Opportunity/describe").json()["childRelationships"]
    assert "Microsoft_Solutions__r" not in {c["relationshipName"] for c in described}
    text = "SELECT Id, (SELECT Name FROM Microsoft_Solutions__r) FROM Opportunity"
    assert error(soql(api, text))[1] == "INVALID_TYPE"


@pytest.mark.skipif(not FIXTURES.is_dir(), reason="reference fixtures not present")
def test_nested_result_has_the_recorded_shape(api: Api) -> None:
    recorded = json.loads((FIXTURES / "query-parent-and-child-subquery.200.json").read_text())
    recorded_nested = recorded["records"][0]["Whizbangs__r"]
    account = api.create("Account", Name="Shape")
    api.create("Contact", LastName="Child", AccountId=account)
    [row] = records(api, "SELECT Name, (SELECT Name FROM Contacts) FROM Account")
    assert list(row["Contacts"]) == list(recorded_nested)
    assert set(row["Contacts"]["records"][0]["attributes"]) == set(
        recorded_nested["records"][0]["attributes"]
    )
