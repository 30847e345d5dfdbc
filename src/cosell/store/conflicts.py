"""The conflict queue: fields both sides changed differently, parked with all three values."""

from __future__ import annotations

from datetime import datetime
from functools import cache
from typing import Any

import sqlalchemy as sa
from sqlalchemy import Connection

from cosell.store.records import ConflictState, FieldConflict, TenantId
from cosell.store.schema import conflicts


def open_conflict(
    conn: Connection,
    tenant: TenantId,
    link_id: int,
    field: str,
    values: tuple[Any, Any, Any],
    now: datetime,
) -> int:
    """Open (or refresh the values of the already open) conflict on one field of a link."""
    base, pc, crm = values
    where = sa.and_(
        conflicts.c.tenant_id == tenant,
        conflicts.c.link_id == link_id,
        conflicts.c.field == field,
        conflicts.c.state == "open",
    )
    existing = conn.execute(sa.select(conflicts.c.id).where(where)).scalar_one_or_none()
    if existing is not None:
        stmt = sa.update(conflicts).where(conflicts.c.id == existing)
        conn.execute(stmt.values(base=base, pc=pc, crm=crm))
        return int(existing)
    row = {"tenant_id": tenant, "link_id": link_id, "field": field, "base": base, "pc": pc}
    row |= {"crm": crm, "state": "open", "opened_at": now}
    return int(
        conn.execute(sa.insert(conflicts).values(**row).returning(conflicts.c.id)).scalar_one()
    )


def listed(
    conn: Connection, tenant: TenantId, state: ConflictState | None, link_id: int | None = None
) -> list[FieldConflict]:
    """The tenant's conflicts in one state (all when ``state`` is None), of one link when
    ``link_id`` is given, oldest first."""
    params = {"tenant": tenant, "state": state, "link": link_id}
    rows = conn.execute(_listing(state is not None, link_id is not None), params).mappings()
    return [_conflict(row) for row in rows]


@cache
def _listing(by_state: bool, by_link: bool) -> Any:
    """Built once each (see :mod:`cosell.store.prepared`): every reconcile of a linked pair
    lists its resolved conflicts."""
    stmt = sa.select(conflicts).where(conflicts.c.tenant_id == sa.bindparam("tenant"))
    if by_state:
        stmt = stmt.where(conflicts.c.state == sa.bindparam("state"))
    if by_link:
        stmt = stmt.where(conflicts.c.link_id == sa.bindparam("link"))
    return stmt.order_by(conflicts.c.opened_at, conflicts.c.id)


def resolve(
    conn: Connection, tenant: TenantId, conflict_id: int, resolution: str, now: datetime
) -> bool:
    """Mark an open conflict resolved; False when no such open conflict exists."""
    stmt = (
        sa.update(conflicts)
        .where(
            conflicts.c.tenant_id == tenant,
            conflicts.c.id == conflict_id,
            conflicts.c.state == "open",
        )
        .values(state="resolved", resolution=resolution, resolved_at=now)
    )
    return conn.execute(stmt).rowcount == 1


def _conflict(row: Any) -> FieldConflict:
    return FieldConflict(
        id=row["id"],
        tenant_id=TenantId(row["tenant_id"]),
        link_id=row["link_id"],
        field=row["field"],
        base=row["base"],
        pc=row["pc"],
        crm=row["crm"],
        state=row["state"],
        resolution=row["resolution"],
        opened_at=row["opened_at"],
        resolved_at=row["resolved_at"],
    )


def mark_applied(conn: Connection, tenant: TenantId, conflict_ids: list[int]) -> int:
    """Move resolved conflicts to ``applied``; returns how many moved."""
    stmt = (
        sa.update(conflicts)
        .where(
            conflicts.c.tenant_id == tenant,
            conflicts.c.id.in_(conflict_ids),
            conflicts.c.state == "resolved",
        )
        .values(state="applied")
    )
    return conn.execute(stmt).rowcount
