"""A conflict whose winner cannot flow yet (the referral waits on hold) is decided once: it is
audited once, the record is written once, and reconciling again costs no writes; the winner's
value flows when the referral is accepted."""

from __future__ import annotations

from engine_world import World

ROUNDS = 20


def on_hold_pair(world: World) -> tuple[str, str]:
    referral = world.share_referral(
        name="Contoso rollout",
        details={"dealValue": 1000, "closingDateTime": "2026-12-31T00:00:00Z"},
        customerProfile={"name": "Contoso", "address": {"country": "US"}},
    )
    rid = str(referral["id"])
    world.sync(f"referral:{rid}")
    opp_id = world.engine.crm.find_by_referral(rid)
    assert opp_id is not None
    world.sync(f"opportunity:{opp_id}")
    return rid, opp_id


def conflicts(world: World, rid: str) -> int:
    entries = world.store.audit_for(world.tenant, rid, limit=500)
    return sum(1 for e in entries if e.outcome == "conflict")


def test_a_conflict_whose_winner_is_held_fires_once_and_costs_no_more_writes(
    world: World,
) -> None:
    rid, opp_id = on_hold_pair(world)
    world.edit(opp_id, Amount=99)
    world.microsoft_update(rid, details={"dealValue": 500})
    world.sync(f"referral:{rid}")
    world.sync(f"opportunity:{opp_id}")
    settled = world.writes()
    for _ in range(ROUNDS):
        # What the poller and the webhooks would do after each write of ours.
        world.sync(f"opportunity:{opp_id}")
        world.sync(f"referral:{rid}")
    assert world.writes() == settled
    assert conflicts(world, rid) == 1
    assert world.opp(opp_id)["Amount"] == 99
    assert world.referral(rid)["details"]["dealValue"] == 500

    world.edit(opp_id, StageName="Qualification")
    world.sync(f"opportunity:{opp_id}")
    assert world.referral(rid)["details"]["dealValue"] == 99
    assert world.opp(opp_id)["Amount"] == 99
