"""Right after a create, both sides read back as the base committed with it: reconciling again
(from either record, in a full pass, or after an edit of an unmapped field) plans nothing,
writes nothing and audits nothing, in both directions, with contacts, team and solutions."""

from __future__ import annotations

from typing import Any

from engine_world import World

from cosell.sync.core.plan import plan
from cosell.sync.core.solutions import ROWS_KEY

HELP = "Customer technical architecture"
TEAM_USER = {"firstName": "Avery", "lastName": "Stone", "email": "astone@partner.example"}
OUTSIDER = {"firstName": "Sam", "lastName": "Field", "email": "sam@reseller.example"}
CONTACTS = [
    # Each is something a Contact holds differently from a Partner Center member.
    {"firstName": "Rui", "lastName": "Costa", "email": "Rui.Costa@Fabrikam.example"},
    {"firstName": "R.", "email": "rui.costa@fabrikam.example", "phoneNumber": "+351 21 000"},
    {"firstName": "Ines", "email": "ines@fabrikam.example"},
    {
        "firstName": "Bartholomew-Maximilian Alexander",
        "lastName": "X" * 90,
        "email": "bm@f.example",
    },
    {"firstName": "  Ana ", "lastName": "Lima  ", "phoneNumber": "+351 21 111 "},
]


def shared(world: World, **overrides: Any) -> tuple[str, str]:
    body: dict[str, Any] = {
        "name": "Fabrikam platform",
        "details": {
            "dealValue": 48000.5,
            "currency": "eur",
            "closingDateTime": "2026-12-31T00:00:00Z",
            "notes": "  Migrate the warehouse  ",
            "requirements": {"solutions": [{"id": "SOL-9"}, {"id": "SOL-1"}, {"id": "SOL-9"}]},
        },
        "customerProfile": {
            "name": "Fabrikam",
            "address": {"country": "DE", "postalCode": "10115", "city": "Berlin"},
            "team": CONTACTS,
        },
        "team": [TEAM_USER, OUTSIDER],
        "inviteContext": {"assistanceRequestCode": "ProofOfConceptOrDemo"},
        **overrides,
    }
    rid = str(world.share_referral(**body)["id"])
    world.sync(f"referral:{rid}")
    opp_id = world.engine.crm.find_by_referral(rid)
    assert opp_id is not None
    return rid, opp_id


def outgoing(world: World, **fields: Any) -> tuple[str, str]:
    values = {"Sync_with_Partner_Center__c": True, "Products__c": "SOL-200", **fields}
    opp_id = world.opportunity(contacts=2, solutions=("SOL-100",), **values)
    world.add_contact(opp_id, "NoName@Northwind.example")
    [user] = world.query(f"SELECT Id FROM User WHERE Email = '{TEAM_USER['email']}'")  # noqa: S608
    member = {"OpportunityId": opp_id, "UserId": user["Id"], "TeamMemberRole": "Sales Rep"}
    world.sf_client.create("OpportunityTeamMember", member)
    world.sync(f"opportunity:{opp_id}")
    return str(world.link_for(opp_id).referral_id), opp_id


def audit(world: World, rid: str, opp_id: str) -> list[tuple[Any, ...]]:
    rows = {*world.store.audit_for(world.tenant, rid), *world.store.audit_for(world.tenant, opp_id)}
    return sorted((r.direction, r.outcome, r.field, r.message) for r in rows)


def assert_fixed_point(world: World, rid: str, opp_id: str) -> None:
    """Both sides read back as the base, and the plan over them is empty."""
    link = world.link_for(opp_id)
    snap = world.engine.read("opportunity", opp_id)
    assert snap.crm_values is not None
    assert snap.pc_values is not None
    base = {k: v for k, v in link.base.items() if k != ROWS_KEY}
    assert {k: snap.crm_values.get(k) for k in base} == base
    decided = plan(
        link.base, snap.pc_values, snap.crm_values, world.engine.mapping, world.engine.facts(snap)
    )
    assert (decided.to_crm, decided.to_partner_center) == ({}, {})
    assert (decided.decisions, decided.skipped, decided.conflicts) == ([], [], [])
    assert {k: v for k, v in decided.new_base.items() if k != ROWS_KEY} == base
    assert world.referral(rid)["externalReferenceId"] == opp_id


def assert_quiet(world: World, rid: str, opp_id: str) -> None:
    """Reconciling again from either record, in full passes and after an edit of an unmapped
    field writes nothing (but that edit) and audits nothing."""
    assert_fixed_point(world, rid, opp_id)
    before, rows = world.writes(), audit(world, rid, opp_id)
    world.sync(f"referral:{rid}")
    world.sync(f"opportunity:{opp_id}")
    world.full_pass()
    assert world.writes() == before
    world.edit(opp_id, NextStep="Call the customer")
    world.sync(f"opportunity:{opp_id}")
    world.full_pass()
    assert world.writes() == before + 1
    assert audit(world, rid, opp_id) == rows
    assert_fixed_point(world, rid, opp_id)


def test_an_incoming_referral_imported_on_hold_reads_back_as_its_base(world: World) -> None:
    rid, opp_id = shared(world)
    assert world.opp(opp_id)["StageName"] == "On Hold"
    team = world.referral(rid)["customerProfile"]["team"]
    assert_quiet(world, rid, opp_id)
    assert world.referral(rid)["customerProfile"]["team"] == team


def test_an_incoming_referral_once_accepted_sends_nothing_back(world: World) -> None:
    rid, opp_id = shared(world)
    before = world.referral(rid)
    world.edit(opp_id, StageName="Qualification")
    world.sync(f"opportunity:{opp_id}")
    after = world.referral(rid)
    assert (after["status"], after["substatus"]) == ("Active", "Accepted")
    assert after["customerProfile"] == before["customerProfile"]
    assert after["team"] == before["team"]
    assert after["details"]["requirements"] == before["details"]["requirements"]
    rows = world.store.audit_for(world.tenant, opp_id)
    assert {r.field for r in rows if r.direction == "to_partner_center"} <= {
        "stage",
        "external_reference_id",
    }
    assert_quiet(world, rid, opp_id)


def test_an_incoming_contact_without_a_last_name_is_not_renamed_in_partner_center(
    world: World,
) -> None:
    contacts = [{"firstName": "Ines", "email": "ines@fabrikam.example"}]
    rid, opp_id = shared(
        world, customerProfile={"name": "F", "address": {"country": "DE"}, "team": contacts}
    )
    world.edit(opp_id, StageName="Qualification")
    world.sync(f"opportunity:{opp_id}")
    [member] = world.referral(rid)["customerProfile"]["team"]
    assert member.get("lastName") in (None, "")
    assert_quiet(world, rid, opp_id)


def test_an_outgoing_cosell_create_reads_back_as_its_base(world: World) -> None:
    rid, opp_id = outgoing(world, How_can_Microsoft_help__c=HELP)
    referral = world.referral(rid)
    assert referral["consent"]["consentToShareReferralWithMicrosoftSellers"] is True
    assert [m["email"] for m in referral["team"]] == [TEAM_USER["email"]]
    assert len(referral["customerProfile"]["team"]) == 3
    assert_quiet(world, rid, opp_id)


def test_an_outgoing_partner_led_create_reads_back_as_its_base(world: World) -> None:
    rid, opp_id = outgoing(world, Microsoft_Referral_Visibility__c=True)
    assert world.referral(rid)["type"] == "Independent"
    assert_quiet(world, rid, opp_id)


def test_a_new_cosell_opportunity_is_never_told_it_was_made_private(world: World) -> None:
    rid, opp_id = outgoing(world, How_can_Microsoft_help__c=HELP)
    world.sync(f"referral:{rid}")
    world.full_pass()
    status = world.opp(opp_id)["Co_sell_Sync_Status__c"]
    assert "private" not in status
    assert "private" not in world.opp(opp_id)["Audit__c"]
    rows = world.store.audit_for(world.tenant, opp_id)
    assert not [r for r in rows if "private" in r.message]
    assert world.opp(opp_id)["Microsoft_Referral_Visibility__c"] is True


def test_a_create_is_audited_once(world: World) -> None:
    rid, opp_id = outgoing(world, How_can_Microsoft_help__c=HELP)
    rows = world.store.audit_for(world.tenant, opp_id)
    assert len([r for r in rows if r.message == f"referral {rid} created"]) == 1
    assert world.opp(opp_id)["Audit__c"].count(f"referral {rid} created") == 1


def test_more_solutions_than_the_text_field_holds_are_imported_and_read_back(
    world: World,
) -> None:
    ids = [f"{n:08d}-0000-4000-8000-000000000000" for n in range(12)]
    details = {
        "dealValue": 1,
        "closingDateTime": "2026-12-31T00:00:00Z",
        "requirements": {"solutions": [{"id": i} for i in ids]},
    }
    rid, opp_id = shared(world, details=details)
    typed = world.opp(opp_id)["Products__c"]
    assert 0 < len(typed) <= 255
    assert set(typed.split(";")) < set(ids)
    soql = f"SELECT Solution_Id__c FROM Microsoft_Solution__c WHERE Opportunity__c = '{opp_id}'"  # noqa: S608
    assert sorted(r["Solution_Id__c"] for r in world.query(soql)) == ids
    world.edit(opp_id, StageName="Qualification")
    world.sync(f"opportunity:{opp_id}")
    assert [s["id"] for s in world.referral(rid)["details"]["requirements"]["solutions"]] == ids
    assert_quiet(world, rid, opp_id)


def test_a_default_written_for_a_missing_value_is_not_a_change(world: World) -> None:
    details = {
        "dealValue": 5,
        "closingDateTime": "2026-12-31T00:00:00Z",
        "requirements": {"solutions": [{"id": "SOL-1"}]},
    }
    rid, opp_id = shared(world, details=details)
    assert world.referral(rid)["details"].get("currency") is None
    assert world.opp(opp_id)["CurrencyIsoCode"] == "USD"  # the mapping's default
    assert_quiet(world, rid, opp_id)
    world.edit(opp_id, StageName="Qualification")
    world.sync(f"opportunity:{opp_id}")
    assert world.referral(rid)["details"].get("currency") is None
    rows = world.store.audit_for(world.tenant, opp_id)
    assert not [r for r in rows if r.field == "currency"]
