"""Lookups by value use an index and answer exactly what a scan of every record answers: text
equality ignores case, ids match in 15 or 18 characters, IN lists, queryAll's deleted rows,
changed and deleted values, rolled-back composites, a field added later, children of a subquery,
and the order rows come in. A unique field's duplicate is still refused."""

from __future__ import annotations

from datetime import timedelta
from typing import Any

import pytest
from sf_api import START, Api

from cosell.clock import ManualClock
from cosell.emulators.salesforce import query
from cosell.emulators.salesforce.org import Org


def rows(api: Api, soql: str, resource: str = "query") -> list[dict[str, Any]]:
    response = api.get(resource, params={"q": soql})
    assert response.status_code == 200, response.text
    return [{k: v for k, v in r.items() if k != "attributes"} for r in response.json()["records"]]


def scanned(api: Api, soql: str, resource: str = "query") -> list[dict[str, Any]]:
    """The same query with the indexes switched off: every record is read."""
    org = api.emulator.org
    saved = Org.matching
    try:
        Org.matching = lambda *_a, **_k: None  # type: ignore[assignment, method-assign]
        return rows(api, soql, resource)
    finally:
        Org.matching = saved  # type: ignore[method-assign]
        del org


def both(api: Api, soql: str, resource: str = "query") -> list[dict[str, Any]]:
    indexed = rows(api, soql, resource)
    assert indexed == scanned(api, soql, resource), soql
    return indexed


def test_text_and_id_lookups_answer_as_a_scan_does(api: Api) -> None:
    ids = [api.create("Account", Name=f"Customer {i}", Website=f"c{i}.example") for i in range(6)]
    api.create("Account", Name="CUSTOMER 3", Website="dup.example")
    found = both(api, "SELECT Id, Name FROM Account WHERE Name = 'customer 3'")
    assert [r["Name"] for r in found] == ["Customer 3", "CUSTOMER 3"]  # ignoring case, in order
    listed = f"('{ids[1]}', '{ids[4][:15]}')"
    picked = both(api, f"SELECT Id FROM Account WHERE Id IN {listed}")  # noqa: S608
    assert [r["Id"] for r in picked] == [ids[1], ids[4]]
    narrowed = (
        "SELECT Id FROM Account WHERE Name IN ('Customer 1', 'Customer 2') "
        "AND Website = 'c2.example'"
    )
    assert [r["Id"] for r in both(api, narrowed)] == [ids[2]]
    assert both(api, "SELECT Id FROM Account WHERE Name = 'Nobody'") == []
    either = "SELECT Id FROM Account WHERE Name = 'Customer 0' OR Website = 'c5.example'"
    assert len(both(api, either)) == 2  # OR: the union of both lookups


def test_the_index_follows_updates_deletes_and_rollbacks(api: Api) -> None:
    first = api.create("Account", Name="Fabrikam")
    both(api, "SELECT Id FROM Account WHERE Name = 'Fabrikam'")  # builds the index
    assert api.patch(f"sobjects/Account/{first}", json={"Name": "Contoso"}).status_code == 204
    assert both(api, "SELECT Id FROM Account WHERE Name = 'Fabrikam'") == []
    assert [r["Id"] for r in both(api, "SELECT Id FROM Account WHERE Name = 'Contoso'")] == [first]
    assert api.delete(f"sobjects/Account/{first}").status_code == 204
    assert both(api, "SELECT Id FROM Account WHERE Name = 'Contoso'") == []
    gone = both(api, "SELECT Id, IsDeleted FROM Account WHERE Name = 'Contoso'", "queryAll")
    assert gone == [{"Id": first, "IsDeleted": True}]
    kept = api.create("Account", Name="Northwind")
    both(api, "SELECT Id FROM Account WHERE Name = 'Northwind'")
    body = {
        "allOrNone": True,
        "compositeRequest": [
            {"method": "POST", "url": api.url("sobjects/Account"), "referenceId": "a",
             "body": {"Name": "Rolled Back"}},
            {"method": "PATCH", "url": api.url(f"sobjects/Account/{kept}"), "referenceId": "r",
             "body": {"Name": "Renamed"}},
            {"method": "POST", "url": api.url("sobjects/Nope__c"), "referenceId": "b",
             "body": {"Name": "x"}},
        ],
    }  # fmt: skip
    assert api.post("composite", json=body).status_code == 200
    assert both(api, "SELECT Id FROM Account WHERE Name = 'Rolled Back'") == []
    assert both(api, "SELECT Id FROM Account WHERE Name = 'Renamed'") == []
    assert [r["Id"] for r in both(api, "SELECT Id FROM Account WHERE Name = 'Northwind'")] == [kept]


def test_a_field_added_later_and_subquery_children_are_indexed_correctly(api: Api) -> None:
    opportunity = api.opportunity(Name="Deal")
    other = api.opportunity(Name="Other deal")
    contact = api.create("Contact", LastName="Ng")
    for opp in (opportunity, other):
        role = {"OpportunityId": opp, "ContactId": contact, "Role": "Decision Maker"}
        assert api.post("sobjects/OpportunityContactRole", json=role).status_code == 201
    both(api, f"SELECT Id FROM Opportunity WHERE Id = '{opportunity}'")  # noqa: S608
    api.add_field("Opportunity.Tier__c", label="Tier", type="Text", length=20)
    assert both(api, "SELECT Id FROM Opportunity WHERE Tier__c = 'gold'") == []
    assert api.patch(f"sobjects/Opportunity/{other}", json={"Tier__c": "Gold"}).status_code == 204
    assert [r["Id"] for r in both(api, "SELECT Id FROM Opportunity WHERE Tier__c = 'gold'")] == [
        other
    ]
    nested = both(
        api,
        "SELECT Id, (SELECT ContactId FROM OpportunityContactRoles) FROM Opportunity "  # noqa: S608
        f"WHERE Id = '{opportunity}'",
    )
    assert nested[0]["OpportunityContactRoles"]["records"][0]["ContactId"] == contact
    assert nested[0]["OpportunityContactRoles"]["totalSize"] == 1


def test_a_unique_value_is_still_refused_once_taken(api: Api) -> None:
    api.add_field(
        "Opportunity.Ref__c", label="Ref", type="Text", length=40, unique=True, externalId=True
    )
    api.opportunity(Name="First", Ref__c="R-1")
    response = api.post(
        "sobjects/Opportunity",
        json={"Name": "Second", "StageName": "Prospecting", "CloseDate": "2026-06-30",
              "Ref__c": "r-1"},
    )  # fmt: skip
    assert response.status_code == 400
    assert response.json()[0]["errorCode"] == "DUPLICATE_VALUE"


NAMES = [
    "Fabrikam Ltd",
    "fabrikam gmbh",
    "Contoso",
    "Ärger AG",
    "\u212aelvin Instruments",  # the Kelvin sign: matches k ignoring case
    "Straße Bau",
    "\u0130stanbul Tech",  # dotted capital I: its lower case is two characters
    "100% Pure",
    "under_score",
    "Tailspin Toys",
]
LIKES = [
    "%fabrikam%",
    "fab%",
    "%LTD",
    "%b_ikam%",
    "%ärg%",
    "%kelvin%",
    "%stra%",
    "%istanbul%",
    "%100\\%%",
    "%r\\_s%",
    "%tail%toys%",
    "%x%",
    "%%",
    "contoso",
]


def test_like_answers_as_a_scan_does_for_every_kind_of_pattern_and_name(api: Api) -> None:
    for name in NAMES:
        api.create("Account", Name=name)
    for pattern in LIKES:
        both(api, f"SELECT Id, Name FROM Account WHERE Name LIKE '{pattern}'")  # noqa: S608
    found = both(api, "SELECT Name FROM Account WHERE Name LIKE '%kelvin%'")
    assert [r["Name"] for r in found] == ["\u212aelvin Instruments"]
    found = both(api, "SELECT Name FROM Account WHERE Name LIKE '%istanbul%'")
    assert [r["Name"] for r in found] == ["\u0130stanbul Tech"]
    ored = (
        "SELECT Name FROM Account WHERE Name LIKE '%fabrikam%' OR Name LIKE '%spin%' "
        "OR Name = 'Contoso' ORDER BY Name"
    )
    names = [r["Name"] for r in both(api, ored)]
    assert names == ["Contoso", "fabrikam gmbh", "Fabrikam Ltd", "Tailspin Toys"]
    anded = "SELECT Name FROM Account WHERE Name LIKE '%fabrikam%' AND Name LIKE '%ltd'"
    assert [r["Name"] for r in both(api, anded)] == ["Fabrikam Ltd"]


def test_the_trigram_index_follows_renames_and_deletes(api: Api) -> None:
    first = api.create("Account", Name="Contoso Pharma")
    both(api, "SELECT Id FROM Account WHERE Name LIKE '%contoso%'")  # builds the index
    assert api.patch(f"sobjects/Account/{first}", json={"Name": "Northwind"}).status_code == 204
    assert both(api, "SELECT Id FROM Account WHERE Name LIKE '%contoso%'") == []
    assert [r["Id"] for r in both(api, "SELECT Id FROM Account WHERE Name LIKE '%northw%'")] == [
        first
    ]
    assert api.delete(f"sobjects/Account/{first}").status_code == 204
    assert both(api, "SELECT Id FROM Account WHERE Name LIKE '%northw%'") == []
    gone = both(api, "SELECT Id FROM Account WHERE Name LIKE '%northw%'", "queryAll")
    assert [r["Id"] for r in gone] == [first]


def test_ored_likes_of_an_account_match_do_not_read_every_account(
    api: Api, monkeypatch: pytest.MonkeyPatch
) -> None:
    """The account match ORs a ``Name LIKE '%word%'`` a customer: served by the trigrams, it
    reads the accounts holding the words, not every account of the org."""
    for name in NAMES:
        api.create("Account", Name=name)

    def every_record(*_args: object) -> list[dict[str, Any]]:
        raise AssertionError("read every record")

    monkeypatch.setattr(query, "_rows", every_record)
    matched = "SELECT Name FROM Account WHERE Name LIKE '%fabrikam%' OR Name LIKE '%toys%'"
    assert len(rows(api, matched)) == 3
    with pytest.raises(AssertionError, match="read every record"):
        rows(api, "SELECT Name FROM Account WHERE Name LIKE '%ab%'")  # too short to narrow


def stamped(clock: ManualClock, api: Api, count: int) -> list[str]:
    """``count`` opportunities, each with an account of its own, a minute apart."""
    made = []
    for n in range(count):
        clock.advance(60)
        account = api.create("Account", Name=f"Stamped {n}")
        made.append(api.opportunity(Name=f"Stamped deal {n}", AccountId=account))
    return made


def at(minutes: int) -> str:
    return (START + timedelta(minutes=minutes)).strftime("%Y-%m-%dT%H:%M:%SZ")


def test_stamp_ranges_answer_as_a_scan_does(api: Api, clock: ManualClock) -> None:
    made = stamped(clock, api, 6)
    soql = "SELECT Id FROM Opportunity WHERE SystemModstamp {} {} ORDER BY Id"
    for operator in (">=", ">", "<", "<=", "=", "!="):
        for minute in (0, 3, 6, 9):
            both(api, soql.format(operator, at(minute)))
    assert [r["Id"] for r in both(api, soql.format(">=", at(5)))] == made[4:]
    clock.advance(60)
    assert api.patch(f"sobjects/Opportunity/{made[0]}", json={"Amount": 5}).status_code == 204
    assert [r["Id"] for r in both(api, soql.format(">", at(6)))] == [made[0]]  # the index moved
    assert api.delete(f"sobjects/Opportunity/{made[0]}").status_code == 204
    assert both(api, soql.format(">", at(6))) == []
    assert [r["Id"] for r in both(api, soql.format(">", at(6)), "queryAll")] == [made[0]]
    flagged = "SELECT Id FROM Opportunity WHERE (Amount = 5 OR Name = 'x') AND SystemModstamp >= {}"
    assert both(api, flagged.format(at(1)), "queryAll") == [{"Id": made[0]}]
    dated = "SELECT Id FROM Opportunity WHERE CloseDate >= 2026-06-30 AND CloseDate < 2027-01-01"
    both(api, dated)


def test_a_parents_stamp_range_finds_the_children_through_the_lookup(
    api: Api, clock: ManualClock
) -> None:
    made = stamped(clock, api, 5)
    clock.advance(60)
    first_account = rows(api, f"SELECT AccountId FROM Opportunity WHERE Id = '{made[0]}'")  # noqa: S608
    account = first_account[0]["AccountId"]
    assert (
        api.patch(f"sobjects/Account/{account}", json={"Website": "x.example"}).status_code == 204
    )
    soql = "SELECT Id FROM Opportunity WHERE Account.SystemModstamp >= {} ORDER BY Id"
    assert [r["Id"] for r in both(api, soql.format(at(5)))] == [made[0], made[4]]
    assert api.delete(f"sobjects/Account/{account}").status_code == 204
    both(api, soql.format(at(5)), "queryAll")


def test_a_poll_of_recent_stamps_does_not_read_every_record(
    api: Api, clock: ManualClock, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Salesforce indexes its audit stamps: the connector's polls (the opportunities and the
    related rows changed since their watermark) read the records in range, not every record
    of the object, so a look costs the emulator what changed, not the size of the org."""
    made = stamped(clock, api, 4)

    def every_record(*_args: object) -> list[dict[str, Any]]:
        raise AssertionError("read every record")

    monkeypatch.setattr(query, "_rows", every_record)
    poll = "SELECT Id FROM Opportunity WHERE SystemModstamp >= {} ORDER BY SystemModstamp, Id"
    assert [r["Id"] for r in rows(api, poll.format(at(4)))] == [made[3]]
    parents = "SELECT Id FROM Opportunity WHERE Account.SystemModstamp >= {}"
    assert [r["Id"] for r in rows(api, parents.format(at(4)))] == [made[3]]
    with pytest.raises(AssertionError, match="read every record"):
        rows(api, "SELECT Id FROM Opportunity WHERE SystemModstamp >= LAST_N_DAYS:2")


def test_a_polymorphic_parents_stamp_range_is_not_narrowed_to_one_kind_of_parent(
    api: Api, clock: ManualClock
) -> None:
    """A note's parent is an opportunity, an account or a contact, as its id says: a range on
    ``Parent.SystemModstamp`` keeps the notes of every kind of parent."""
    made = stamped(clock, api, 2)
    account = rows(api, f"SELECT AccountId FROM Opportunity WHERE Id = '{made[1]}'")  # noqa: S608
    notes = [
        api.create("Note", Title="On the deal", ParentId=made[1]),
        api.create("Note", Title="On the account", ParentId=account[0]["AccountId"]),
    ]
    soql = "SELECT Id FROM Note WHERE Parent.SystemModstamp >= {} ORDER BY Id"
    assert [r["Id"] for r in both(api, soql.format(at(2)))] == sorted(notes)
