"""Related records against both emulators: customer contacts without duplicates, solutions
added and removed both ways, Partner Center notes mirrored into a Note."""

from __future__ import annotations

from typing import Any

import pytest
from engine_world import World

from cosell.sync.core.records import CrmWrite
from cosell.sync.core.solutions import crm_ids
from cosell.sync.sides.salesforce import rows as related_rows
from cosell.sync.sides.salesforce.side import NOTE_TITLE

ANA = {"firstName": "Ana", "lastName": "Lee", "email": "ana@contoso.example"}
BO = {"firstName": "Bo", "lastName": "Chen", "email": "bo@contoso.example"}


def imported(world: World, **body: Any) -> tuple[str, str]:
    fields: dict[str, Any] = {
        "details": {
            "dealValue": 10,
            "closingDateTime": "2026-12-31T00:00:00Z",
            "requirements": {"solutions": [{"id": "SOL-1", "name": "One"}]},
        },
        "customerProfile": {"name": "Contoso", "address": {"country": "US"}, "team": [ANA]},
        **body,
    }
    rid = str(world.share_referral(**fields)["id"])
    world.sync(f"referral:{rid}")
    opp_id = world.engine.crm.find_by_referral(rid)
    assert opp_id is not None
    world.edit(opp_id, StageName="Qualification")  # accepted: CRM edits flow from now on
    world.sync(f"opportunity:{opp_id}")
    return rid, opp_id


def contacts(world: World) -> list[str]:
    return sorted(str(r["Email"]) for r in world.query("SELECT Email FROM Contact"))


def roles(world: World, opp_id: str) -> list[str]:
    soql = f"SELECT Contact.Email FROM OpportunityContactRole WHERE OpportunityId = '{opp_id}'"  # noqa: S608
    return sorted(str(r["Contact"]["Email"]) for r in world.query(soql))


def test_contacts_are_never_duplicated_and_existing_ones_are_reused(world: World) -> None:
    account = world.account(Name="Contoso", BillingCountry="US")
    existing = world.sf_client.create(
        "Contact", {"LastName": "Chen", "Email": "bo@contoso.example", "AccountId": account}
    )
    rid, opp_id = imported(world)
    world.microsoft_update(rid, customerProfile={"team": [ANA, BO]})
    for _ in range(3):
        world.sync(f"referral:{rid}")
        world.full_pass()
    assert contacts(world) == ["ana@contoso.example", "bo@contoso.example"]
    assert roles(world, opp_id) == ["ana@contoso.example", "bo@contoso.example"]
    [bo] = world.query("SELECT Id, FirstName FROM Contact WHERE Email = 'bo@contoso.example'")
    assert (bo["Id"], bo["FirstName"]) == (existing, "Bo")

    world.microsoft_update(rid, customerProfile={"team": [BO]})
    world.sync(f"referral:{rid}")
    assert roles(world, opp_id) == ["bo@contoso.example"]
    assert len(contacts(world)) == 2  # the contact stays; only its role on the deal goes


def test_a_corrected_email_updates_that_contact_unless_another_contact_has_it(
    world: World,
) -> None:
    rid, opp_id = imported(world)
    [before] = world.query("SELECT Id FROM Contact")
    world.microsoft_update(rid, customerProfile={"team": [{**ANA, "email": "ana.lee@c.example"}]})
    world.sync(f"referral:{rid}")
    [after] = world.query("SELECT Id, Email FROM Contact")
    assert (after["Id"], after["Email"]) == (before["Id"], "ana.lee@c.example")
    assert roles(world, opp_id) == ["ana.lee@c.example"]

    # the account has a contact of the new email already: that one is Ana now
    account = world.query(f"SELECT AccountId FROM Opportunity WHERE Id = '{opp_id}'")[0]  # noqa: S608
    other = world.sf_client.create(
        "Contact",
        {"FirstName": "Ana", "LastName": "Lee", "Email": "a.lee@c.example", **account},
    )
    world.microsoft_update(rid, customerProfile={"team": [{**ANA, "email": "a.lee@c.example"}]})
    world.sync(f"referral:{rid}")
    assert roles(world, opp_id) == ["a.lee@c.example"]
    [role] = world.query(
        f"SELECT ContactId FROM OpportunityContactRole WHERE OpportunityId = '{opp_id}'"  # noqa: S608
    )
    assert role["ContactId"] == other
    assert contacts(world) == ["a.lee@c.example", "ana.lee@c.example"]  # neither changed


def test_a_value_microsoft_removes_from_a_contact_is_emptied_and_not_sent_back(
    world: World,
) -> None:
    rid, opp_id = imported(world, customerProfile={"team": [{**ANA, "phoneNumber": "+1 555"}]})
    world.microsoft_update(rid, customerProfile={"team": [{**ANA, "firstName": None}]})
    world.sync(f"referral:{rid}")
    [ana] = world.query("SELECT FirstName, LastName, Phone FROM Contact")
    assert (ana["FirstName"], ana["LastName"], ana["Phone"]) == (None, "Lee", None)
    before = world.writes()
    world.sync(f"opportunity:{opp_id}")
    world.full_pass()
    assert world.writes() == before
    [member] = world.referral(rid)["customerProfile"]["team"]
    assert not member.get("phoneNumber")
    assert not member.get("firstName")


def solution_rows(world: World, opp_id: str) -> set[str]:
    soql = f"SELECT Solution_Id__c FROM Microsoft_Solution__c WHERE Opportunity__c = '{opp_id}'"  # noqa: S608
    return {str(r["Solution_Id__c"]) for r in world.query(soql)}


def referral_solutions(world: World, rid: str) -> set[str]:
    return {s["id"] for s in world.referral(rid)["details"]["requirements"]["solutions"]}


def test_solutions_added_and_removed_on_either_side_sync(world: World) -> None:
    rid, opp_id = imported(world)
    assert solution_rows(world, opp_id) == {"SOL-1"}

    world.add_solution(opp_id, "SOL-2")  # a seller adds a row
    world.edit(opp_id, Name="touched")  # (a row change alone does not move the opportunity)
    world.sync(f"opportunity:{opp_id}")
    assert referral_solutions(world, rid) == {"SOL-1", "SOL-2"}
    assert world.opp(opp_id)["Products__c"] == "SOL-1;SOL-2"

    world.edit(opp_id, Products__c="SOL-1;SOL-2;SOL-3")  # or types one in
    world.sync(f"opportunity:{opp_id}")
    assert referral_solutions(world, rid) == {"SOL-1", "SOL-2", "SOL-3"}
    assert solution_rows(world, opp_id) == {"SOL-1", "SOL-2", "SOL-3"}

    [row] = world.query("SELECT Id FROM Microsoft_Solution__c WHERE Solution_Id__c = 'SOL-1'")
    world.sf_client.delete("Microsoft_Solution__c", row["Id"])  # removes a row
    world.edit(opp_id, Name="touched again")
    world.sync(f"opportunity:{opp_id}")
    assert referral_solutions(world, rid) == {"SOL-2", "SOL-3"}

    world.microsoft_update(
        rid, details={"requirements": {"solutions": [{"id": "SOL-3"}, {"id": "SOL-4"}]}}
    )
    world.sync(f"referral:{rid}")
    assert solution_rows(world, opp_id) == {"SOL-3", "SOL-4"}
    assert world.opp(opp_id)["Products__c"] == "SOL-3;SOL-4"

    before = world.writes()
    world.sync(f"opportunity:{opp_id}")
    world.sync(f"referral:{rid}")
    assert world.writes() == before


def note_bodies(world: World, opp_id: str) -> list[str]:
    soql = f"SELECT Title, Body FROM Note WHERE ParentId = '{opp_id}'"  # noqa: S608
    return [str(r["Body"]) for r in world.query(soql) if r["Title"] == NOTE_TITLE]


def test_partner_center_notes_are_mirrored_into_one_note(world: World) -> None:
    rid, opp_id = imported(world, details={"notes": "Customer wants a PoC", "dealValue": 1})
    assert note_bodies(world, opp_id) == ["Customer wants a PoC"]
    assert world.opp(opp_id)["Description"] == "Customer wants a PoC"

    world.microsoft_update(rid, details={"notes": "PoC scheduled for May"})
    world.sync(f"referral:{rid}")
    assert note_bodies(world, opp_id) == ["PoC scheduled for May"]
    assert world.opp(opp_id)["Description"] == "PoC scheduled for May"

    world.edit(opp_id, Description="Seller: pricing agreed")
    world.sync(f"opportunity:{opp_id}")
    assert world.referral(rid)["details"]["notes"] == "Seller: pricing agreed"
    assert note_bodies(world, opp_id) == ["Seller: pricing agreed"]
    before = world.writes()
    world.sync(f"opportunity:{opp_id}")
    world.sync(f"referral:{rid}")
    assert world.writes() == before


@pytest.mark.parametrize(
    ("rows", "typed", "before", "expected"),
    [
        (["A"], ["B"], None, ["A", "B"]),  # first sync: both places count
        ([], ["A"], None, ["A"]),  # rows not yet written: nothing is a deletion
        ([], ["A"], ["A"], []),  # the only row deleted since the last sync
        (["A", "C"], ["A", "B"], ["A", "B"], ["A", "C"]),  # row B deleted, row C added
        (["A"], ["A", "D"], ["A"], ["A", "D"]),  # typing an id adds it
        (None, ["A"], ["B"], ["A"]),  # no related list: the text alone
    ],
)
def test_solution_ids_read_from_both_places(
    rows: list[str] | None, typed: list[str], before: list[str] | None, expected: list[str]
) -> None:
    assert crm_ids(rows, typed, before) == expected


def test_notes_read_with_many_opportunities_are_kept_few_and_one_let_go_is_read_again(
    world: World, monkeypatch: pytest.MonkeyPatch
) -> None:
    """A check reads every opportunity and writes none: the Notes read with them are kept for
    the writes that follow only up to a bound, the oldest let go. Writing the Note of an
    opportunity whose Note was let go reads it again and updates it: it never makes a second."""
    monkeypatch.setattr(related_rows, "NOTES_KEPT", 2)
    _, opp_id = imported(world, details={"notes": "Customer wants a PoC", "dealValue": 1})
    others = [imported(world)[1] for _ in range(2)]
    crm = world.engine.crm
    record = crm.read(opp_id)
    assert record is not None
    for other in others:
        crm.read(other)
    assert crm.rows.notes_held == 2  # type: ignore[attr-defined]

    assert crm.update(record, CrmWrite(note="PoC scheduled for May", note_changed=True), {})
    assert note_bodies(world, opp_id) == ["PoC scheduled for May"]
