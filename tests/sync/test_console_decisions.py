"""Accepting or declining an incoming referral from the console: the on-hold opportunity moves
to the active or declined stage, and Partner Center follows on the next reconcile."""

from __future__ import annotations

import pytest
from engine_world import World

from cosell.operations.decisions import decide


def shared(world: World) -> tuple[str, str]:
    referral = world.share_referral(
        name="Contoso: AI pilot",
        details={"dealValue": 20000, "currency": "USD", "closingDateTime": "2027-06-30T00:00:00Z"},
        customerProfile={"name": "Contoso", "address": {"country": "US"}},
    )
    rid = str(referral["id"])
    world.sync(f"referral:{rid}")
    link = world.store.link_by_referral(world.tenant, rid)
    assert link is not None
    assert link.opportunity_id is not None
    return rid, link.opportunity_id


@pytest.mark.parametrize(
    ("decision", "stage", "status"),
    [("accept", "Qualification", "Active"), ("decline", "Declined", "Closed")],
)
def test_a_decision_moves_the_stage_and_partner_center_follows(
    world: World, decision: str, stage: str, status: str
) -> None:
    rid, opp_id = shared(world)
    assert world.opp(opp_id)["StageName"] == "On Hold"
    assert decide(world.engine, rid, decision) == stage  # type: ignore[arg-type]
    assert world.opp(opp_id)["StageName"] == stage
    world.sync(f"opportunity:{opp_id}")
    assert world.referral(rid)["status"] == status


def test_only_a_referral_on_hold_can_be_decided(world: World) -> None:
    rid, _ = shared(world)
    decide(world.engine, rid, "accept")
    with pytest.raises(ValueError, match="no longer waiting"):
        decide(world.engine, rid, "decline")
    with pytest.raises(LookupError, match="no opportunity yet"):
        decide(world.engine, "unknown-referral", "accept")
