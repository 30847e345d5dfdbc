"""Conflicts against both emulators: the owner wins (the loser audited); a manual field is parked
and a person's resolution is applied by the next reconcile."""

from __future__ import annotations

import json

import pytest
from engine_world import World

from cosell.store import LinkUpdate
from cosell.store import conflicts as store_conflicts
from cosell.sync.core.mapping import default_mapping_text, parse_mapping
from cosell.sync.engine.engine import Engine
from cosell.sync.engine.resolutions import APPLIED


def linked_pair(world: World, engine: Engine | None = None) -> tuple[str, str]:
    referral = world.share_referral(
        details={"dealValue": 100, "closingDateTime": "2026-12-31T00:00:00Z", "notes": "start"},
        customerProfile={"name": "Litware", "address": {"country": "US"}},
    )
    rid = str(referral["id"])
    (engine or world.engine).reconcile_key(f"referral:{rid}")
    opp_id = world.engine.crm.find_by_referral(rid)
    assert opp_id is not None
    world.microsoft_update(rid, status="Active", substatus="Accepted")
    world.emulator_clock.advance(1)
    (engine or world.engine).reconcile_key(f"referral:{rid}")
    return rid, opp_id


def manual_engine(world: World) -> Engine:
    text = default_mapping_text().replace(
        "crm: Amount\n    transform: decimal\n    owner: crm",
        "crm: Amount\n    transform: decimal\n    owner: manual",
    )
    return Engine.build(
        store=world.store,
        tenant=world.tenant,
        partner_center=world.pc_client,
        salesforce=world.sf_client,
        mapping=parse_mapping(text),
        clock=world.clock,
    )


def test_the_owner_wins_and_the_losing_value_is_audited(world: World) -> None:
    rid, opp_id = linked_pair(world)
    world.microsoft_update(rid, details={"notes": "from Microsoft"})
    world.edit(opp_id, Description="from the seller")
    world.sync(f"opportunity:{opp_id}")

    assert world.referral(rid)["details"]["notes"] == "from the seller"  # notes: owner crm
    assert world.opp(opp_id)["Description"] == "from the seller"
    [row] = [r for r in world.store.audit_for(world.tenant, opp_id) if r.outcome == "conflict"]
    assert (row.field, row.old, row.new) == ("notes", "from Microsoft", "from the seller")
    assert "crm wins" in row.message
    assert world.store.conflicts(world.tenant) == []


@pytest.mark.parametrize(
    ("resolution", "expected"),
    [({"take": "partner_center"}, 1), ({"take": "crm"}, 2), ({"take": "value", "value": "3"}, 3)],
)
def test_a_manual_conflict_is_parked_then_applied_once_resolved(
    world: World, resolution: dict[str, object], expected: int
) -> None:
    engine = manual_engine(world)
    rid, opp_id = linked_pair(world, engine)
    world.microsoft_update(rid, details={"dealValue": 1})
    world.edit(opp_id, Amount=2, Name="Litware expansion")
    engine.reconcile_key(f"opportunity:{opp_id}")

    [parked] = world.store.conflicts(world.tenant)
    assert (parked.field, parked.pc, parked.crm) == ("deal_value", "1.00", "2.00")
    assert world.referral(rid)["name"] == "Litware expansion"  # other fields keep syncing

    assert world.store.resolve_conflict(world.tenant, parked.id, json.dumps(resolution))
    engine.reconcile_key(f"referral:{rid}")

    assert world.referral(rid)["details"]["dealValue"] == expected
    assert world.opp(opp_id)["Amount"] == expected
    assert world.link_for(opp_id).base["deal_value"] == f"{expected}.00"
    [done] = world.store.conflicts(world.tenant, state=None)
    assert done.state == APPLIED
    before = world.writes()
    engine.reconcile_key(f"opportunity:{opp_id}")
    engine.reconcile_key(f"referral:{rid}")
    assert world.writes() == before
    assert world.store.conflicts(world.tenant) == []


def test_a_reconcile_reads_only_its_own_pairs_conflicts(
    world: World, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Other pairs' conflicts, open and resolved, cost a reconcile nothing: it asks for its own
    pair's (it read the tenant's whole list, once a round and again for each conflict it
    planned, so an org with thousands waiting paid for all of them on every record)."""
    engine = manual_engine(world)
    rid, opp_id = linked_pair(world, engine)
    store, tenant = world.store, world.tenant
    for n in range(40):
        other = store.commit_sync(
            tenant, LinkUpdate(referral_id=f"R-{n}", opportunity_id=f"O{n}"), []
        )
        conflict = store.open_conflict(tenant, other.id, "deal_value", "1", "2", "3")
        if n % 2:
            store.resolve_conflict(tenant, conflict, json.dumps({"take": "crm"}))
    decoded: list[object] = []
    real = store_conflicts._conflict

    def counted(row: object) -> object:
        decoded.append(row)
        return real(row)

    world.microsoft_update(rid, details={"dealValue": 1})
    world.edit(opp_id, Amount=2)
    monkeypatch.setattr(store_conflicts, "_conflict", counted)
    engine.reconcile_key(f"opportunity:{opp_id}")
    monkeypatch.undo()

    link = world.link_for(opp_id)
    parked = store.conflicts(tenant, "open", link.id)
    assert [(c.field, c.pc, c.crm) for c in parked] == [("deal_value", "1.00", "2.00")]
    assert len(store.conflicts(tenant, None)) == 41
    assert len(decoded) <= 1  # its own, at most (the old code decoded the other 40)
