"""A referral with more customer contacts than ``partner_center.max_contacts``: the first ones
sync, the rest stay in Partner Center, listed on the record and in the audit, and a write of the
contacts never drops them; the reconcile's work is bounded by the cap, not by the referral."""

from __future__ import annotations

from typing import Any

from engine_world import World

from cosell.sync.engine.engine import Engine

MANY = 10_000
CAP = 100


def members(n: int) -> list[dict[str, Any]]:
    return [
        {"firstName": "Jo", "lastName": f"Buyer{i:05d}", "email": f"buyer{i:05d}@contoso.example"}
        for i in range(n)
    ]


def calls(world: World) -> dict[str, int]:
    counted = {}
    for name, app in (("pc", world.pc_app), ("sf", world.sf_app)):
        log = app.state.emulator.calls
        seen = log.snapshot()["calls"]
        counted[name] = sum(n for route, n in seen.items() if "oauth2" not in route)
        log.reset()
    return counted


def roles(world: World, opp_id: str) -> list[str]:
    soql = "SELECT Contact.Email FROM OpportunityContactRole WHERE OpportunityId = '{}'"
    rows = world.query(soql.format(opp_id))
    return sorted(str(r["Contact"]["Email"]) for r in rows)


def accepted_with_cap(world: World, cap: int, contacts: int) -> tuple[str, str]:
    """An engine capped at ``cap`` contacts; a referral with ``contacts`` of them shared, synced
    and accepted by the seller (contacts then flow both ways): its id and the opportunity's."""
    pc = world.engine.mapping.partner_center.model_copy(update={"max_contacts": cap})
    world.engine = Engine.build(
        store=world.store,
        tenant=world.tenant,
        partner_center=world.pc_client,
        salesforce=world.sf_client,
        mapping=world.engine.mapping.model_copy(update={"partner_center": pc}),
        clock=world.clock,
    )
    referral = world.share_referral(
        details={"dealValue": 1000, "closingDateTime": "2026-12-31T00:00:00Z"},
        customerProfile={
            "name": "Contoso",
            "address": {"country": "US"},
            "team": members(contacts),
        },
    )
    rid = str(referral["id"])
    world.sync(f"referral:{rid}")
    opp_id = world.engine.crm.find_by_referral(rid)
    assert opp_id is not None
    world.edit(opp_id, StageName="Qualification")
    world.sync(f"opportunity:{opp_id}")
    return rid, opp_id


def test_ten_thousand_contacts_sync_the_first_hundred_and_list_the_rest(world: World) -> None:
    assert world.engine.mapping.partner_center.max_contacts == CAP
    referral = world.share_referral(
        details={"dealValue": 1000, "closingDateTime": "2026-12-31T00:00:00Z"},
        customerProfile={"name": "Contoso", "address": {"country": "US"}, "team": members(MANY)},
    )
    rid = str(referral["id"])
    calls(world)
    world.sync(f"referral:{rid}")
    spent = calls(world)
    print(f"\ncreate with {MANY} contacts: {spent} calls (Partner Center, Salesforce)")
    assert spent["sf"] <= 20
    opp_id = world.engine.crm.find_by_referral(rid)
    assert opp_id is not None
    held = roles(world, opp_id)
    assert held == [f"buyer{i:05d}@contoso.example" for i in range(CAP)]

    left_out = f"{MANY - CAP} of {MANY} customer contacts not synced"
    audited = [e for e in world.store.audit_for(world.tenant, rid) if left_out in e.message]
    assert len(audited) == 1
    assert f"buyer{CAP:05d}@contoso.example" in audited[0].message
    assert f"and {MANY - CAP - 20} more" in audited[0].message
    opp = world.opp(opp_id)
    assert opp["Co_sell_Sync_Status__c"].startswith(f"⚠ {left_out}")
    assert left_out in opp["Audit__c"]

    # Idle: the pair agrees (the left-out contacts are not a difference) and nothing is written.
    world.sync(f"opportunity:{opp_id}")
    world.sync(f"referral:{rid}")
    before = world.writes()
    world.sync(f"opportunity:{opp_id}")
    world.sync(f"referral:{rid}")
    assert world.writes() == before
    assert len(world.referral(rid)["customerProfile"]["team"]) == MANY


def test_a_seller_removing_a_synced_contact_keeps_every_left_out_one(world: World) -> None:
    cap = 5
    rid, opp_id = accepted_with_cap(world, cap, contacts=12)
    assert len(roles(world, opp_id)) == cap

    [first] = world.query(
        "SELECT Id FROM OpportunityContactRole WHERE Contact.Email = 'buyer00000@contoso.example'"
    )
    world.emulator_clock.advance(1)
    world.sf_client.delete("OpportunityContactRole", first["Id"])
    world.edit(opp_id, Description="contact removed")
    for _ in range(3):
        world.sync(f"opportunity:{opp_id}")
        world.sync(f"referral:{rid}")

    team = world.referral(rid)["customerProfile"]["team"]
    emails = sorted(m["email"] for m in team)
    # The seller's removal reached Partner Center; none of the seven left out was dropped.
    assert emails == [f"buyer{i:05d}@contoso.example" for i in range(1, 12)]
    # The next one in line fills the cap in the CRM.
    assert roles(world, opp_id) == [f"buyer{i:05d}@contoso.example" for i in range(1, cap + 1)]


def test_a_contact_a_seller_adds_beyond_the_cap_removes_nobody_in_partner_center(
    world: World,
) -> None:
    cap = 3
    rid, opp_id = accepted_with_cap(world, cap, contacts=6)
    world.emulator_clock.advance(1)
    world.add_contact(opp_id, "aaron@contoso.example")  # sorts first: pushes buyer00002 out
    world.edit(opp_id, Description="contact added")
    for _ in range(3):
        world.sync(f"opportunity:{opp_id}")
        world.sync(f"referral:{rid}")
    emails = sorted(m["email"] for m in world.referral(rid)["customerProfile"]["team"])
    assert emails == ["aaron@contoso.example"] + [f"buyer{i:05d}@contoso.example" for i in range(6)]
    # Settled: the CRM holds the first three again, and another round writes nothing.
    assert roles(world, opp_id) == sorted(emails)[:cap]
    before = world.writes()
    world.sync(f"opportunity:{opp_id}")
    world.sync(f"referral:{rid}")
    assert world.writes() == before
