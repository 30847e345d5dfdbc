"""Alerts kept in the store: one row per subject (a record, a connection) per state change.

The row's ``change`` names the state change (``refused@2026-12-03T07:00:00+00:00``): the
unique key (tenant, subject, change) is what makes an unchanged state never alert twice, in
this process or any replica. ``pending`` lists the targets still to hear about it; a failed
send stays pending with a later ``next_at`` and the error (never the target's URL or secret).
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime
from typing import Any

import sqlalchemy as sa
from sqlalchemy import Connection

from cosell.redaction import redact_text
from cosell.store.records import TenantId
from cosell.store.schema import alerts


@dataclass(frozen=True)
class Alert:
    """What to tell: the subject and its state change, a title, a text and a link."""

    subject: str
    change: str
    event: str
    title: str
    text: str
    link: str | None = None


@dataclass(frozen=True)
class StoredAlert:
    """An alert as kept, with the targets it has still to reach."""

    id: int
    tenant_id: TenantId
    alert: Alert
    pending: tuple[str, ...]
    attempts: int
    next_at: datetime | None
    last_error: str | None
    created_at: datetime
    sent_at: datetime | None


def add(
    conn: Connection, tenant: TenantId, alert: Alert, targets: Sequence[str], now: datetime
) -> bool:
    """Keep ``alert`` unless its subject's change is already kept; True when it is new."""
    exists = sa.select(alerts.c.id).where(
        alerts.c.tenant_id == tenant,
        alerts.c.subject == alert.subject,
        alerts.c.change == alert.change,
    )
    if conn.execute(exists).first() is not None:
        return False
    conn.execute(
        sa.insert(alerts).values(
            tenant_id=tenant,
            subject=alert.subject[:200],
            change=alert.change[:200],
            event=alert.event,
            title=redact_text(alert.title),
            text=redact_text(alert.text),
            link=alert.link,
            pending=list(targets),
            attempts=0,
            next_at=now if targets else None,
            created_at=now,
            sent_at=None if targets else now,
        )
    )
    return True


def due(conn: Connection, tenant: TenantId, now: datetime, limit: int) -> list[StoredAlert]:
    """The tenant's alerts with targets still to reach, due now, oldest first."""
    stmt = (
        sa.select(alerts)
        .where(alerts.c.tenant_id == tenant, alerts.c.next_at.is_not(None), alerts.c.next_at <= now)
        .order_by(alerts.c.next_at, alerts.c.id)
        .limit(limit)
    )
    return [_row(r) for r in conn.execute(stmt).mappings()]


def settle(
    conn: Connection,
    alert_id: int,
    pending: Sequence[str],
    error: str | None,
    next_at: datetime | None,
    now: datetime,
) -> None:
    """After an attempt: the targets still pending, the error, and when to try again."""
    values: dict[str, Any] = {
        "pending": list(pending),
        "attempts": alerts.c.attempts + 1,
        "last_error": redact_text(error)[:2000] if error else None,
        "next_at": next_at if pending else None,
    }
    if not pending:
        values["sent_at"] = now
    conn.execute(sa.update(alerts).where(alerts.c.id == alert_id).values(**values))


def recent(conn: Connection, tenant: TenantId, limit: int) -> list[StoredAlert]:
    stmt = (
        sa.select(alerts)
        .where(alerts.c.tenant_id == tenant)
        .order_by(alerts.c.id.desc())
        .limit(limit)
    )
    return [_row(r) for r in conn.execute(stmt).mappings()]


def _row(row: Any) -> StoredAlert:
    alert = Alert(
        row["subject"], row["change"], row["event"], row["title"], row["text"], row["link"]
    )
    return StoredAlert(
        id=row["id"],
        tenant_id=TenantId(row["tenant_id"]),
        alert=alert,
        pending=tuple(row["pending"]),
        attempts=row["attempts"],
        next_at=row["next_at"],
        last_error=row["last_error"],
        created_at=row["created_at"],
        sent_at=row["sent_at"],
    )
