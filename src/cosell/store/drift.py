"""What ``cosell verify`` keeps in the store: the pairs to check, and a flag per drifted pair.

The flag is a cursor row named ``drift:<link id>`` holding a JSON summary (when, which fields,
both values, and how many looks saw it: the service's periodic check confirms a new drift on
its next visit); it is deleted when the pair agrees again. No schema change: cursors are the
store's key-value rows.
"""

from __future__ import annotations

import json
from typing import Any

import sqlalchemy as sa

from cosell.store import links
from cosell.store.records import LinkedPair, TenantId
from cosell.store.schema import cursors
from cosell.store.sql import Store

PREFIX = "drift:"
ROTATION = "verify:after"
"""The cursor holding the last link id a budgeted verify run checked (runs rotate through)."""


def linked_pairs(
    store: Store, tenant: TenantId, after: int = 0, limit: int | None = None
) -> list[LinkedPair]:
    """Linked pairs (both ids known) in link id order, from just after ``after``: their ids."""
    with store.reading() as conn:
        return links.linked_ids(conn, tenant, after, limit)


def flag(store: Store, tenant: TenantId, link_id: int, summary: dict[str, Any]) -> None:
    """Mark a pair as drifted (replacing an earlier mark)."""
    store.set_cursor(tenant, f"{PREFIX}{link_id}", json.dumps(summary, sort_keys=True))


def clear(store: Store, tenant: TenantId, link_id: int) -> bool:
    """Remove a pair's drift mark; True when there was one."""
    return store.delete_cursor(tenant, f"{PREFIX}{link_id}")


def flags(
    store: Store, tenant: TenantId, *, unconfirmed: bool = False
) -> dict[int, dict[str, Any]]:
    """Drift marks by link id: those a second look confirmed (``sightings`` 2), or with
    ``unconfirmed`` also those seen once by the service's periodic check."""
    stmt = sa.select(cursors.c.name, cursors.c.value).where(
        cursors.c.tenant_id == tenant, cursors.c.name.like(f"{PREFIX}%")
    )
    with store.reading() as conn:
        rows = conn.execute(stmt).all()
    marks = {int(name[len(PREFIX) :]): json.loads(value) for name, value in rows}
    if unconfirmed:
        return marks
    return {link: mark for link, mark in marks.items() if int(mark.get("sightings", 2)) >= 2}
