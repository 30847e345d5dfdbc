"""Links as operators browse them (the store's API finds one link; listing is read-only SQL)."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime

import sqlalchemy as sa

from cosell.store.records import TenantId
from cosell.store.schema import links
from cosell.store.sql import Store


@dataclass(frozen=True)
class LinkRow:
    """One referral ↔ opportunity pair for the links list."""

    id: int
    referral_id: str | None
    opportunity_id: str | None
    state: str
    updated_at: datetime


def recent_links(store: Store, tenant: TenantId, limit: int = 100) -> list[LinkRow]:
    """The tenant's links, most recently changed first."""
    columns = (links.c.id, links.c.referral_id, links.c.opportunity_id, links.c.state)
    stmt = (
        sa.select(*columns, links.c.updated_at)
        .where(links.c.tenant_id == tenant)
        .order_by(links.c.updated_at.desc(), links.c.id.desc())
        .limit(limit)
    )
    with store.engine.connect() as conn:
        return [LinkRow(*row) for row in conn.execute(stmt).all()]


def link_ids(store: Store, tenant: TenantId, link_id: int) -> tuple[str | None, str | None]:
    """``(referral_id, opportunity_id)`` of one link (``(None, None)`` when it is gone)."""
    stmt = sa.select(links.c.referral_id, links.c.opportunity_id).where(
        links.c.tenant_id == tenant, links.c.id == link_id
    )
    with store.engine.connect() as conn:
        row = conn.execute(stmt).one_or_none()
    return (None, None) if row is None else (row[0], row[1])
