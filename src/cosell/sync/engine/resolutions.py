"""Applying a person's decision on a parked conflict.

``cosell conflicts resolve`` stores the decision on the conflict as JSON, ``{"take":
"partner_center" | "crm" | "value", "value": …}``, marks it ``resolved`` and enqueues the link.
The next reconcile of the link writes the chosen value to whichever side differs, takes it as
the field's base, and marks the conflict ``applied`` in the same store as the commit. A
resolution that cannot be read is left ``resolved`` and reported in the audit.
"""

from __future__ import annotations

import json
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

from cosell.store.records import FieldConflict, Link, TenantId
from cosell.store.sql import Store
from cosell.sync.core.mapping import SyncMapping
from cosell.sync.core.plan import Decision, Plan
from cosell.sync.core.plan import FieldConflict as PlannedConflict
from cosell.sync.core.records import Value
from cosell.sync.core.transforms import canonical

APPLIED = "applied"
"""The state of a conflict whose resolution both sides now hold."""
ACCOUNT_FIELD = "account"
"""The ``field`` of a parked account choice (see :mod:`cosell.sync.sides.salesforce.accounts`)."""


@dataclass(frozen=True)
class Resolved:
    """A resolved conflict and the canonical value both sides get."""

    conflict: FieldConflict
    value: Value
    take: str


def pending(store: Store, tenant: TenantId, link_id: int) -> list[FieldConflict]:
    """The link's resolved conflicts not yet applied."""
    return store.conflicts(tenant, "resolved", link_id)


def decode(text: str | None) -> tuple[str, Any] | None:
    """``(take, value)`` of a stored resolution, ``None`` when it is not one."""
    try:
        data = json.loads(text or "")
        take = data["take"]
    except (ValueError, TypeError, KeyError):
        return None
    return (take, data.get("value")) if take in ("partner_center", "crm", "value") else None


def resolved(conflict: FieldConflict, mapping: SyncMapping) -> Resolved | None:
    """The value a resolution chose, canonical for the field; ``None`` if unreadable."""
    decoded = decode(conflict.resolution)
    spec = mapping.fields.get(conflict.field)
    if decoded is None or spec is None:
        return None
    take, typed = decoded
    if take == "partner_center":
        return Resolved(conflict, conflict.pc, take)
    if take == "crm":
        return Resolved(conflict, conflict.crm, take)
    return Resolved(conflict, canonical(spec, typed, "crm", mapping), take)


def apply(
    decided: Plan,
    choices: list[Resolved],
    pc: Mapping[str, Value],
    crm: Mapping[str, Value],
) -> None:
    """Write each chosen value to the side that differs and take it as the base (mutates)."""
    for choice in choices:
        name, value = choice.conflict.field, choice.value
        decided.conflicts[:] = [c for c in decided.conflicts if c.field != name]
        decided.skipped[:] = [s for s in decided.skipped if s.field != name]
        decided.decisions[:] = [d for d in decided.decisions if d.field != name]
        decided.to_partner_center.pop(name, None)
        decided.to_crm.pop(name, None)
        if pc.get(name) != value:
            decided.to_partner_center[name] = value
            decided.decisions.append(Decision(name, "crm", pc.get(name), value))
        if crm.get(name) != value:
            decided.to_crm[name] = value
            decided.decisions.append(Decision(name, "partner_center", crm.get(name), value))
        decided.new_base[name] = value


def mark_applied(store: Store, tenant: TenantId, conflict_ids: list[int]) -> None:
    """Mark conflicts applied (they leave the resolved list)."""
    store.mark_conflicts_applied(tenant, conflict_ids)


def take_resolved(
    store: Store,
    tenant: TenantId,
    link: Link,
    decided: Plan,
    values: tuple[Mapping[str, Value], Mapping[str, Value]],
    mapping: SyncMapping,
) -> list[Resolved]:
    """Put the link's resolved conflicts into ``decided`` (see :func:`apply`); returns them."""
    found = [resolved(c, mapping) for c in pending(store, tenant, link.id)]
    choices = [c for c in found if c is not None]
    apply(decided, choices, *values)
    return choices


def is_parked(store: Store, tenant: TenantId, link: Link | None, c: PlannedConflict) -> bool:
    """Whether this very conflict (same values) is already waiting in the queue."""
    if link is None:
        return False
    return any(
        o.field == c.field and o.pc == c.partner_center and o.crm == c.crm
        for o in store.conflicts(tenant, "open", link.id)
    )


def park(store: Store, tenant: TenantId, link_id: int, conflicts: list[PlannedConflict]) -> None:
    """Open (or refresh) a queue entry for each ``manual`` conflict."""
    for c in conflicts:
        if c.resolution == "manual":
            store.open_conflict(tenant, link_id, c.field, c.base, c.partner_center, c.crm)


def describe(c: PlannedConflict) -> str:
    if c.resolution == "manual":
        return "both sides changed; parked for a person to decide"
    return f"both sides changed; {c.resolution} wins"
