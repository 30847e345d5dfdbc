"""cosell's own write-backs (the status, error and audit fields on the CRM record) are written
only when their value changes: reconciling a pair again, in any state it can rest in, writes
nothing to either side, on Salesforce and on HubSpot."""

from __future__ import annotations

from collections.abc import Callable, Iterator
from contextlib import suppress
from pathlib import Path

import pytest
from crm_worlds import CRMS, CrmWorld, build_crm_world

from cosell.errors import CosellError

ROUNDS = 3


@pytest.fixture(params=CRMS)
def world(tmp_path: Path, request: pytest.FixtureRequest) -> Iterator[CrmWorld]:
    built = build_crm_world(tmp_path, request.param)
    yield built
    built.store.close()


def shared(world: CrmWorld, **details: object) -> str:
    body = {
        "name": "Fabrikam data platform",
        "details": {"dealValue": 48000, "closingDateTime": "2026-12-31T00:00:00Z", **details},
        "customerProfile": {
            "name": "Fabrikam",
            "address": {"country": "DE"},
            "team": [{"firstName": "Rui", "lastName": "Costa", "email": "rui@fabrikam.example"}],
        },
    }
    return str(world.share_referral(**body)["id"])


def idle_writes(world: CrmWorld, keys: list[str]) -> int:
    """Writes of ``ROUNDS`` more reconciles of every key (failures included)."""
    before = world.writes()
    for _ in range(ROUNDS):
        for key in keys:
            with suppress(CosellError):
                world.sync(key)
    return world.writes() - before


def settled(world: CrmWorld, keys: list[str]) -> None:
    """Reconcile until the echo of cosell's own writes has been seen."""
    idle_writes(world, keys)


def on_hold(world: CrmWorld) -> list[str]:
    rid = shared(world)
    world.sync(f"referral:{rid}")
    [record] = world.seller.records()
    world.seller.edit(record, deal_value=99)  # held until accepted: ⚠ on the status field
    return [f"referral:{rid}", f"opportunity:{record}"]


def active(world: CrmWorld) -> list[str]:
    keys = on_hold(world)
    record = keys[1].partition(":")[2]
    world.seller.move_to(record, "active")
    world.microsoft_update(keys[0].partition(":")[2], details={"notes": "changed"})
    return keys


def refused(world: CrmWorld) -> list[str]:
    record = world.seller.flagged_record(deal_value=None)  # Partner Center needs a value
    return [f"opportunity:{record}"]


def closed(world: CrmWorld) -> list[str]:
    keys = on_hold(world)
    world.pc_control.post("/_emulator/clock", json={"advance_seconds": 15 * 86400})
    return keys


STATES: dict[str, Callable[[CrmWorld], list[str]]] = {
    "held": on_hold,
    "synced": active,
    "waiting": refused,
    "closed": closed,
}


@pytest.mark.parametrize("state", list(STATES))
def test_a_pair_at_rest_costs_no_write_however_often_it_is_reconciled(
    world: CrmWorld, state: str
) -> None:
    keys = STATES[state](world)
    settled(world, keys)
    row = world.store.ledger_for(world.tenant, keys[-1].partition(":")[2])
    assert row is not None
    assert row.state == state
    assert idle_writes(world, keys) == 0
