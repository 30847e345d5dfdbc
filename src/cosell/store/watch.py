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
    """Parked pairs' streaks by link id."""
    stmt = sa.select(cursors.c.name, cursors.c.value).where(
        cursors.c.tenant_id == tenant, cursors.c.name.like(f"{PREFIX}%")
    )
    with store.reading() as conn:
        rows = conn.execute(stmt).all()
    found = {int(name[len(PREFIX) :]): json.loads(value) for name, value in rows}
    return {link: streak for link, streak in found.items() if streak.get("parked")}
