"""A pair that keeps writing without converging is parked after ``loop_writes`` reconciles,
with a reason in the ledger, the audit, the record's status and an event, and then costs no API
call per cycle until a person resumes it."""

from __future__ import annotations

from collections.abc import Iterator

import pytest
from engine_world import SF_BASE, World
from starlette.testclient import TestClient

from cosell import events
from cosell.operations.retry import retry_one
from cosell.operations.status import build_status
from cosell.operations.verify import Verifier, reconcile_now
from cosell.store.drift import linked_pairs
from cosell.sync.core.loops import LoopLimits
from cosell.sync.engine.engine import Engine

LIMIT = 6


def calls(world: World) -> int:
    """Calls both emulators saw since the last look (sign-ins excluded), then reset."""
    total = 0
    for app in (world.pc_app, world.sf_app):
        log = app.state.emulator.calls
        seen = log.snapshot()["calls"]
        total += sum(n for route, n in seen.items() if "oauth2" not in route)
        log.reset()
    return total


@pytest.fixture
def parked_events() -> Iterator[list[events.PairParked]]:
    seen: list[events.PairParked] = []
    unsubscribe = events.subscribe(seen.append)
    yield seen
    unsubscribe()


def looping_pair(world: World) -> tuple[str, str, TestClient]:
    """An accepted pair whose org has a trigger adding 1 to Amount on every save."""
    world.engine = Engine(
        store=world.store,
        tenant=world.tenant,
        partner_center=world.engine.pc,
        crm=world.engine.crm,
        clock=world.clock,
        loops=LoopLimits(writes=LIMIT),
    )
    referral = world.share_referral(
        details={"dealValue": 1000, "closingDateTime": "2026-12-31T00:00:00Z"},
        customerProfile={"name": "Contoso", "address": {"country": "US"}},
    )
    rid = str(referral["id"])
    world.sync(f"referral:{rid}")
    opp_id = world.engine.crm.find_by_referral(rid)
    assert opp_id is not None
    world.edit(opp_id, StageName="Qualification")  # accepted: edits flow both ways
    world.sync(f"opportunity:{opp_id}")
    assert world.referral(rid)["status"] == "Active"
    control = TestClient(world.sf_app, base_url=SF_BASE)
    added = control.post(
        "/_emulator/triggers", json={"sobject": "Opportunity", "field": "Amount", "increment": 1}
    )
    assert added.status_code == 201, added.text
    world.edit(opp_id, Amount=2000)  # the seller's edit sets the loop off
    return rid, opp_id, control


def cycle(world: World, rid: str, opp_id: str) -> None:
    """What the poller and the webhooks do after each write of ours."""
    world.sync(f"opportunity:{opp_id}")
    world.sync(f"referral:{rid}")


def test_a_pair_in_a_write_loop_is_parked_and_then_costs_no_calls(
    world: World, parked_events: list[events.PairParked]
) -> None:
    rid, opp_id, _ = looping_pair(world)
    per_cycle = []
    for _ in range(3 * LIMIT):
        calls(world)
        cycle(world, rid, opp_id)
        per_cycle.append(calls(world))
    print(f"\ncalls per cycle (limit {LIMIT}): {per_cycle}")
    # It looped (each cycle wrote), then stopped costing anything.
    assert min(per_cycle[: LIMIT // 2]) > 0
    assert per_cycle[-LIMIT:] == [0] * LIMIT

    row = world.store.ledger_for(world.tenant, rid)
    assert row is not None
    assert row.state == "parked"
    assert "kept writing without converging" in row.reason
    assert "deal_value → Partner Center" in row.reason
    assert row.setting is not None
    assert f"cosell retry {rid}" in row.setting
    audited = [e for e in world.store.audit_for(world.tenant, rid) if e.outcome == "parked"]
    assert len(audited) == 1
    assert world.opp(opp_id)["Co_sell_Sync_Status__c"].startswith("✖ Parked: kept writing")
    assert [(e.referral_id, e.opportunity_id) for e in parked_events] == [(rid, opp_id)]
    assert world.engine.stats.parked_skips >= LIMIT

    status = build_status(world.store, world.tenant, "test").to_json()
    [shown] = [a for a in status["attention"] if a["referral_id"] == rid]
    assert shown["state"] == "parked"
    assert shown["reason"] == row.reason
    assert f"cosell retry {rid}" in shown["fix"]
    assert status["records_by_state"]["parked"] == 1

    calls(world)
    report = Verifier(world.engine, world.clock).run(
        linked_pairs(world.store, world.tenant), repair=reconcile_now(world.engine)
    )
    assert [p.state for p in report.pairs] == ["parked"]
    assert not report.ok
    assert calls(world) == 0  # verify does not read a parked pair either


def test_a_person_resumes_a_parked_pair_and_it_converges_once_the_cause_is_gone(
    world: World,
) -> None:
    rid, opp_id, control = looping_pair(world)
    for _ in range(2 * LIMIT):
        cycle(world, rid, opp_id)
    assert world.store.ledger_for(world.tenant, rid).state == "parked"  # type: ignore[union-attr]

    control.delete("/_emulator/triggers")  # the admin fixes the trigger
    world.edit(opp_id, Amount=5000)  # an edit made while parked is not lost
    assert calls(world) >= 0
    cycle(world, rid, opp_id)
    assert calls(world) == 0  # still parked: a new signal alone costs nothing
    assert retry_one(world.store, world.tenant, rid) != []
    cycle(world, rid, opp_id)
    cycle(world, rid, opp_id)
    assert world.referral(rid)["details"]["dealValue"] == 5000
    assert world.opp(opp_id)["Amount"] == 5000
    row = world.store.ledger_for(world.tenant, rid)
    assert row is not None
    assert row.state == "synced"
    calls(world)
    cycle(world, rid, opp_id)
    assert calls(world) == 4  # an idle pair: its two reads per key, no write


def test_a_busy_pair_that_converges_between_edits_is_never_parked(world: World) -> None:
    rid, opp_id, control = looping_pair(world)
    control.delete("/_emulator/triggers")
    for n in range(3 * LIMIT):
        world.edit(opp_id, Amount=3000 + n)
        cycle(world, rid, opp_id)
    row = world.store.ledger_for(world.tenant, rid)
    assert row is not None
    assert row.state == "synced"
    assert world.referral(rid)["details"]["dealValue"] == 3000 + 3 * LIMIT - 1


def test_a_deal_edited_field_after_field_without_a_quiet_reconcile_is_never_parked(
    world: World,
) -> None:
    rid, opp_id, control = looping_pair(world)
    control.delete("/_emulator/triggers")
    edits = [
        {"Amount": 4000},
        {"Description": "scope grew"},
        {"CloseDate": "2026-11-30"},
    ]
    for n in range(3 * LIMIT):
        change = dict(edits[n % len(edits)])
        if "Amount" in change:
            change["Amount"] += n
        if "Description" in change:
            change["Description"] += f" {n}"
        world.edit(opp_id, **change)
        world.sync(f"opportunity:{opp_id}")  # each reconcile meets the next edit: no quiet one
    row = world.store.ledger_for(world.tenant, rid)
    assert row is not None
    assert row.state == "synced"
