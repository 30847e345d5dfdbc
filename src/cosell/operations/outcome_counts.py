"""Reconcile outcomes counted from the audit (append-only, so the counts only grow and survive
restarts; every replica reports the same figures)."""

from __future__ import annotations

import sqlalchemy as sa

from cosell.store.records import TenantId
from cosell.store.schema import audit
from cosell.store.sql import Store


def outcome_counts(store: Store, tenant: TenantId) -> dict[tuple[str, str], int]:
    """Audit rows by ``(direction, outcome)``."""
    stmt = (
        sa.select(audit.c.direction, audit.c.outcome, sa.func.count())
        .where(audit.c.tenant_id == tenant)
        .group_by(audit.c.direction, audit.c.outcome)
    )
    with store.engine.connect() as conn:
        return {(str(d), str(o)): int(n) for d, o, n in conn.execute(stmt).all()}
