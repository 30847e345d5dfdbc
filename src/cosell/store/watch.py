"""What the loop detector keeps per linked pair (see :mod:`cosell.sync.core.loops`).

A cursor row named ``watch:<link id>`` holds a JSON streak: how many reconciles in a row wrote to
a side, when the first and last of them ran, the values each field was written with, and once
the pair is parked, when and why. The row is deleted when a reconcile finds nothing to write (the
pair converged) and when a person resumes a parked pair. No schema change: cursors are the
store's key-value rows (as :mod:`cosell.store.drift` uses them).
"""

from __future__ import annotations

import json
from typing import Any

import sqlalchemy as sa

from cosell.store.records import TenantId
from cosell.store.schema import cursors
from cosell.store.sql import Store

PREFIX = "watch:"
UNPARKED = json.dumps({"parked": None})[1:-1]
"""How :func:`save` writes an unparked streak's ``parked`` (``"parked": null``): no other key of
a streak is ``parked``, and a string holding it would have its quotes escaped."""


def load(store: Store, tenant: TenantId, link_id: int) -> dict[str, Any] | None:
    """The pair's streak, or None when it has none."""
    value = store.get_cursor(tenant, f"{PREFIX}{link_id}")
    if value is None:
        return None
    loaded: dict[str, Any] = json.loads(value)
    return loaded


def save(store: Store, tenant: TenantId, link_id: int, streak: dict[str, Any]) -> None:
    store.set_cursor(tenant, f"{PREFIX}{link_id}", json.dumps(streak, sort_keys=True))


def clear(store: Store, tenant: TenantId, link_id: int) -> bool:
    """Forget the pair's streak (and its parking); True when there was one."""
    return store.delete_cursor(tenant, f"{PREFIX}{link_id}")


def parked(store: Store, tenant: TenantId) -> dict[int, dict[str, Any]]:
    """Parked pairs' streaks by link id.

    After a burst of writes (a backfill) nearly every pair holds a streak until its next quiet
    reconcile, and few if any are parked: the streaks :func:`save` wrote unparked are left in
    the database (a text test, before any is parsed), and the rest are parsed one row at a
    time. A streak written another way is parsed and judged like any other."""
    stmt = sa.select(cursors.c.name, cursors.c.value).where(
        cursors.c.tenant_id == tenant,
        cursors.c.name.like(f"{PREFIX}%"),
        cursors.c.value.not_like(f"%{UNPARKED}%"),
    )
    found: dict[int, dict[str, Any]] = {}
    with store.reading() as conn:
        for name, value in conn.execute(stmt.execution_options(yield_per=500)):
            streak = json.loads(value)
            if streak.get("parked"):
                found[int(name[len(PREFIX) :])] = streak
    return found
