"""The append-only audit trail: what changed, from which side, old → new, and the outcome."""

from __future__ import annotations

from collections.abc import Sequence
from datetime import datetime
from typing import Any

import sqlalchemy as sa
from sqlalchemy import Connection

from cosell.redaction import redact_text
from cosell.store.records import AuditEntry, AuditRecord, TenantId
from cosell.store.schema import audit

MAX_MESSAGE_CHARS = 4000


def rows_of(
    tenant: TenantId,
    entries: Sequence[AuditEntry],
    now: datetime,
    referral_id: str | None = None,
    opportunity_id: str | None = None,
) -> list[dict[str, Any]]:
    """The rows of ``entries``: missing ids default to the given ones, messages redacted."""
    return [_row(tenant, e, now, referral_id, opportunity_id) for e in entries]


def insert(conn: Connection, rows: Sequence[dict[str, Any]]) -> None:
    """Insert rows made by :func:`rows_of`, in their order (one statement for them all)."""
    if rows:
        conn.execute(_INSERT, list(rows))


_INSERT = sa.insert(audit)


def _row(
    tenant: TenantId,
    entry: AuditEntry,
    now: datetime,
    referral_id: str | None,
    opportunity_id: str | None,
) -> dict[str, Any]:
    return {
        "tenant_id": tenant,
        "at": entry.at or now,
        "referral_id": entry.referral_id or referral_id,
        "opportunity_id": entry.opportunity_id or opportunity_id,
        "direction": entry.direction,
        "field": entry.field,
        "old": entry.old,
        "new": entry.new,
        "outcome": entry.outcome,
        "message": redact_text(entry.message)[:MAX_MESSAGE_CHARS],
        "request_ids": list(entry.request_ids),
    }


def for_record(conn: Connection, tenant: TenantId, record_id: str, limit: int) -> list[AuditRecord]:
    """Rows about one referral or opportunity id, newest first."""
    match = sa.or_(audit.c.referral_id == record_id, audit.c.opportunity_id == record_id)
    return _select(conn, sa.and_(audit.c.tenant_id == tenant, match), limit)


def recent(conn: Connection, tenant: TenantId, limit: int) -> list[AuditRecord]:
    """The tenant's newest rows."""
    return _select(conn, audit.c.tenant_id == tenant, limit)


def _select(conn: Connection, where: Any, limit: int) -> list[AuditRecord]:
    stmt = sa.select(audit).where(where).order_by(audit.c.at.desc(), audit.c.id.desc()).limit(limit)
    return [_record(row) for row in conn.execute(stmt).mappings()]


def _record(row: Any) -> AuditRecord:
    return AuditRecord(
        id=row["id"],
        tenant_id=TenantId(row["tenant_id"]),
        at=row["at"],
        referral_id=row["referral_id"],
        opportunity_id=row["opportunity_id"],
        direction=row["direction"],
        field=row["field"],
        old=row["old"],
        new=row["new"],
        outcome=row["outcome"],
        message=row["message"],
        request_ids=tuple(row["request_ids"] or ()),
    )
