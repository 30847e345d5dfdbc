"""The ledger: every record the engine sees ends in a stored state with its reason, and the
status, the records list and the log show it."""

from __future__ import annotations

import logging
from typing import Any

import pytest
from engine_world import World
from sync_samples import contoso_share

from cosell.operations.records_view import find_record
from cosell.operations.status import build_status
from cosell.sync.core.mapping import default_mapping_text, parse_mapping
from cosell.sync.engine.engine import Engine

STATUS = "Co_sell_Sync_Status__c"
HELP = "Customer technical architecture"


def shared(world: World, **overrides: Any) -> tuple[str, str]:
    body = contoso_share(**overrides)
    rid = str(world.share_referral(**body)["id"])
    world.sync(f"referral:{rid}")
    opp_id = world.engine.crm.find_by_referral(rid)
    assert opp_id is not None
    return rid, opp_id


def state_of(world: World, record_id: str) -> tuple[str, str, str | None]:
    row = world.store.ledger_for(world.tenant, record_id)
    assert row is not None, f"{record_id} is not in the ledger"
    return row.state, row.reason, row.setting


def attention(world: World) -> dict[str, dict[str, Any]]:
    report = build_status(world.store, world.tenant, "acme").to_json()
    return {r["referral_id"] or r["opportunity_id"]: r for r in report["attention"]}


def test_an_imported_referral_is_synced_and_an_edit_on_hold_is_held_until_accept(
    world: World, caplog: pytest.LogCaptureFixture
) -> None:
    rid, opp_id = shared(world)
    assert state_of(world, rid)[0] == "synced"
    assert state_of(world, opp_id)[0] == "synced"
    caplog.clear()  # the lines of the import above are not this edit's
    with caplog.at_level(logging.INFO, logger="cosell.sync.ledger"):
        world.edit(opp_id, Amount=45000)
        world.sync(f"opportunity:{opp_id}")
    state, reason, setting = state_of(world, opp_id)
    assert state == "held"
    assert "accept" in reason
    assert setting == "deal_value"
    assert str(world.opp(opp_id)[STATUS]).startswith("⚠ Held")
    assert find_record(world.store, world.tenant, rid).state == "held"  # type: ignore[union-attr]
    # this record's lines only: records of work other tests left running can reach caplog too
    lines = [r.getMessage() for r in caplog.records if r.name == "cosell.sync.ledger"]
    mine = {line for line in lines if f"referral={rid}" in line}
    assert len(mine) == 1, lines
    assert f"state=held referral={rid} opportunity={opp_id}" in mine.pop()
    report = build_status(world.store, world.tenant, "acme").to_json()
    assert report["records_by_state"]["held"] == 1
    world.store.enqueue(world.tenant, f"opportunity:{opp_id}")  # a poll's re-check, say
    assert find_record(world.store, world.tenant, rid).state == "held"  # type: ignore[union-attr]
    again = build_status(world.store, world.tenant, "acme").to_json()
    assert again["records_by_state"]["held"] == 1

    world.edit(opp_id, StageName="Qualification")
    world.sync(f"opportunity:{opp_id}")
    assert state_of(world, rid)[0] == "synced"


def test_a_lead_is_skipped_naming_the_setting_that_imports_it(world: World) -> None:
    rid = str(world.share_referral(type="Independent")["id"])
    world.sync(f"referral:{rid}")
    state, reason, setting = state_of(world, rid)
    assert (state, setting) == ("skipped", "partner_center.incoming_kinds")
    assert "'lead'" in reason
    listed = attention(world)[rid]
    assert listed["state"] == "skipped"
    assert "partner_center.incoming_kinds" in listed["fix"]


def test_a_record_missing_data_waits_naming_the_crm_field(world: World) -> None:
    opp_id = world.opportunity(
        solutions=("SOL-100",),
        Sync_with_Partner_Center__c=True,
        How_can_Microsoft_help__c=HELP,
        Amount=None,
    )
    assert world.full_pass().dead_lettered == 1
    state, reason, setting = state_of(world, opp_id)
    assert (state, setting) == ("waiting", "Amount")
    assert "Amount is empty" in reason
    assert world.opp(opp_id)[STATUS] == f"✖ {reason}"
    # The dead letter does not overwrite the precise reason with a bare "refused".
    row = find_record(world.store, world.tenant, opp_id)
    assert row is not None
    assert row.state == "waiting"
    assert row.reason is not None
    assert "Fill in Amount" in row.reason.fix
    assert attention(world)[opp_id]["state"] == "waiting"

    world.edit(opp_id, Amount=1000)
    assert world.full_pass().dead_lettered == 0
    assert state_of(world, opp_id)[0] == "synced"
    assert world.store.dead_letter_for(world.tenant, f"opportunity:{opp_id}") is None


def test_a_refused_referral_is_refused_then_expired_and_stays_listed(world: World) -> None:
    details = {"dealValue": 9000, "currency": "CHF", "closingDateTime": "2027-03-31T00:00:00Z"}
    rid = str(world.share_referral(name="Swiss pilot", details=details)["id"])
    assert world.full_pass().dead_lettered == 1
    state, reason, _ = state_of(world, rid)
    assert state == "refused"
    assert "CHF" in reason
    row = world.store.ledger_for(world.tenant, rid)
    assert row is not None
    assert row.raw is not None
    assert "INVALID_OR_NULL_FOR_RESTRICTED_PICKLIST" in row.raw
    listed = attention(world)[rid]
    assert listed["state"] == "refused"
    assert "Salesforce refused" in listed["reason"]

    world.emulator_clock.advance(15 * 86400)
    for _ in range(2):
        assert world.full_pass().dead_lettered == 1
    state, reason, _ = state_of(world, rid)
    assert state == "expired"
    assert reason.startswith("Expired before it reached the CRM")
    assert "CHF" in reason
    listed = attention(world)[rid]
    assert listed["state"] == "expired"
    assert world.store.dead_letter_for(world.tenant, f"referral:{rid}") is not None

    # An operator's retry takes the dead letter off; the pass that follows settles nothing, so
    # the record stays expired and dead-lettered.
    assert world.store.retry_dead_letter(world.tenant, f"referral:{rid}")
    assert world.queue().run_until_idle(timeout=30).dead_lettered == 1
    assert state_of(world, rid)[0] == "expired"
    letter = world.store.dead_letter_for(world.tenant, f"referral:{rid}")
    assert letter is not None
    assert letter.reason.count("never reached the CRM") == 1


def test_a_dead_letter_stays_when_a_later_pass_settles_nothing(world: World) -> None:
    opp_id = world.opportunity(
        solutions=("SOL-100",),
        Sync_with_Partner_Center__c=True,
        How_can_Microsoft_help__c=HELP,
        Amount=None,
    )
    key = f"opportunity:{opp_id}"
    assert world.full_pass().dead_lettered == 1
    before = world.store.dead_letter_for(world.tenant, key)
    assert before is not None
    world.sf_client.delete("Opportunity", opp_id)
    queue = world.queue()
    world.store.retry_dead_letter(world.tenant, key)
    assert queue.run_until_idle(timeout=30).dead_lettered == 1
    after = world.store.dead_letter_for(world.tenant, key)
    assert after is not None
    assert after.reason.endswith(before.reason.partition(": ")[2])
    assert state_of(world, opp_id)[0] == "waiting"


def test_a_conflict_then_its_resolution_and_a_close_are_ledger_states(world: World) -> None:
    text = default_mapping_text().replace(
        "crm: Amount\n    transform: decimal\n    owner: crm",
        "crm: Amount\n    transform: decimal\n    owner: manual",
    )
    world.engine = Engine.build(
        store=world.store,
        tenant=world.tenant,
        partner_center=world.pc_client,
        salesforce=world.sf_client,
        mapping=parse_mapping(text),
        clock=world.clock,
    )
    rid, opp_id = shared(world)
    world.microsoft_update(rid, status="Active", substatus="Accepted", details={"dealValue": 1})
    world.edit(opp_id, Amount=2)
    world.sync(f"opportunity:{opp_id}")
    state, _, setting = state_of(world, opp_id)
    assert (state, setting) == ("conflict", "cosell conflicts")
    assert attention(world)[rid]["state"] == "conflict"
    assert str(world.opp(opp_id)[STATUS]).startswith("⚠ Conflict: deal_value")

    [conflict] = world.store.conflicts(world.tenant)
    world.store.resolve_conflict(world.tenant, conflict.id, '{"take": "crm"}')
    world.sync(f"opportunity:{opp_id}")
    assert state_of(world, opp_id)[0] == "synced"
    assert str(world.opp(opp_id)[STATUS]).startswith("✔ Synced")

    world.microsoft_update(rid, status="Closed", substatus="Lost")
    world.sync(f"referral:{rid}")
    state, reason, _ = state_of(world, rid)
    assert state == "closed"
    assert "Lost" in reason
    assert rid not in attention(world)
    assert world.opp(opp_id)[STATUS] == "⚠ Closed by Microsoft: Lost"
