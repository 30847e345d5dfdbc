"""Mapping changes as migrations: the last applied mapping, and links re-based for moved fields.

The store keeps the mapping last applied (a cursor holding each field's fingerprint, see
:mod:`cosell.sync.core.mapping_changes`) and, per moved field, when it moved and how. The first
reconcile of an existing link after the move takes both sides' current values of that field as
agreed: the link's base remembers, per side, the value it read (``mapping@sides``), and a side
still holding that value counts as unchanged. Nothing is written to either side until someone
edits the field; the edit then flows as usual and the per-side memory is dropped.
"""

from __future__ import annotations

import json
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any

from cosell.store.records import Link, TenantId
from cosell.store.sql import Store
from cosell.sync.core.mapping import SyncMapping
from cosell.sync.core.mapping_changes import Fingerprint, changes, fingerprint
from cosell.sync.core.plan import Plan
from cosell.sync.core.records import Value

APPLIED = "mapping:applied"
"""The cursor holding the last applied mapping."""
SIDES_KEY = "mapping@sides"
"""In a link's base: field → {side: the value that side held when the link was re-based}."""
REBASED_KEY = "mapping@rebased"
"""In a link's base: field → when the move it was re-based for happened."""


@dataclass(frozen=True)
class Move:
    """A field whose target or transform changed: when, and what changed."""

    at: str
    what: str

    def since(self, moment: datetime) -> bool:
        """The move happened after ``moment`` (a link created before it needs a re-base)."""
        return moment < datetime.fromisoformat(self.at)


@dataclass(frozen=True)
class AppliedMapping:
    """The mapping last applied to the store, and the moves it has seen."""

    fields: Fingerprint
    moved: dict[str, Move] = field(default_factory=dict)

    def to_text(self) -> str:
        moved = {name: {"at": m.at, "what": m.what} for name, m in self.moved.items()}
        return json.dumps({"fields": self.fields, "moved": moved}, sort_keys=True)

    @classmethod
    def from_text(cls, text: str) -> AppliedMapping:
        data = json.loads(text)
        moved = {name: Move(**m) for name, m in (data.get("moved") or {}).items()}
        return cls(dict(data.get("fields") or {}), moved)


def stored(store: Store, tenant: TenantId) -> AppliedMapping | None:
    """The last applied mapping, or ``None`` before any was applied."""
    text = store.get_cursor(tenant, APPLIED)
    return None if text is None else AppliedMapping.from_text(text)


def pending(store: Store, tenant: TenantId, mapping: SyncMapping, now: datetime) -> AppliedMapping:
    """What applying ``mapping`` now would store (read only: previews use it)."""
    before = stored(store, tenant)
    current = fingerprint(mapping)
    if before is None:
        return AppliedMapping(current)
    moved = dict(before.moved)
    for change in changes(before.fields, current):
        if change.moves:
            what = f"{change.kind} {change.old} → {change.new}"
            moved[change.field] = Move(now.isoformat(), what)
    for name in set(moved) - set(current):
        del moved[name]
    return AppliedMapping(current, moved)


def apply(store: Store, tenant: TenantId, mapping: SyncMapping, now: datetime) -> AppliedMapping:
    """Record ``mapping`` as applied (once: an unchanged mapping writes nothing)."""
    before = stored(store, tenant)
    after = pending(store, tenant, mapping, now)
    if before is None or before.fields != after.fields:
        store.set_cursor(tenant, APPLIED, after.to_text())
    return after if before is None or before.fields != after.fields else before


def needed(link: Link | None, moved: dict[str, Move]) -> dict[str, Move]:
    """The moves a linked pair was created before and has not been re-based for."""
    if link is None or not moved:
        return {}
    done = link.base.get(REBASED_KEY)
    done = done if isinstance(done, dict) else {}
    return {
        name: move
        for name, move in moved.items()
        if move.since(link.created_at) and done.get(name) != move.at
    }


def rebased(
    base: dict[str, Any],
    moves: dict[str, Move],
    pc_values: dict[str, Value],
    crm_values: dict[str, Value],
) -> dict[str, Any]:
    """The base with both sides' current values of the moved fields taken as agreed."""
    new = dict(base)
    sides = dict(_dict(new.get(SIDES_KEY)))
    done = dict(_dict(new.get(REBASED_KEY)))
    for name, move in moves.items():
        sides[name] = {"partner_center": pc_values.get(name), "crm": crm_values.get(name)}
        done[name] = move.at
    new[SIDES_KEY], new[REBASED_KEY] = sides, done
    return new


def view(base: dict[str, Any], pc_values: dict[str, Value], crm_values: dict[str, Value]) -> None:
    """A side still holding the value it held at the re-base reads as the base (unchanged)."""
    for name, held in _dict(base.get(SIDES_KEY)).items():
        if not isinstance(held, dict):
            continue
        if pc_values.get(name) == held.get("partner_center"):
            pc_values[name] = base.get(name)
        if crm_values.get(name) == held.get("crm"):
            crm_values[name] = base.get(name)


def settle(decided: Plan) -> None:
    """A moved field that synced (or agrees again) needs no per-side memory any more."""
    sides = _dict(decided.new_base.get(SIDES_KEY))
    if not sides:
        return
    synced = {d.field for d in decided.decisions}
    kept = {name: held for name, held in sides.items() if name not in synced}
    decided.new_base[SIDES_KEY] = kept


def _dict(value: Any) -> dict[str, Any]:
    return value if isinstance(value, dict) else {}
