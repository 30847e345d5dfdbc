"""``cosell audit ID``: the history of one referral or opportunity, newest first.

Either id (or its queue key) finds the whole history: when the id belongs to a link, the rows
recorded under the other side's id (for example before the link existed) are included.
"""

from __future__ import annotations

from cosell.queue.protocol import parse_key
from cosell.store.records import AuditRecord, TenantId
from cosell.store.sql import Store


def record_id_of(text: str) -> str:
    """The record id in ``text``: a bare id, or ``referral:<id>`` / ``opportunity:<id>``."""
    try:
        return parse_key(text)[1]
    except ValueError:
        return text.strip()


def linked_ids(store: Store, tenant: TenantId, record_id: str) -> list[str]:
    """``record_id`` and, when it belongs to a link, the other side's id."""
    link = store.link_by_referral(tenant, record_id) or store.link_by_opportunity(tenant, record_id)
    ids = [record_id]
    if link is not None:
        ids += [i for i in (link.referral_id, link.opportunity_id) if i and i != record_id]
    return ids


def history(store: Store, tenant: TenantId, text: str, limit: int = 50) -> list[AuditRecord]:
    """Audit rows about the record named by ``text``, newest first, at most ``limit``."""
    rows: dict[int, AuditRecord] = {}
    for record_id in linked_ids(store, tenant, record_id_of(text)):
        rows |= {row.id: row for row in store.audit_for(tenant, record_id, limit)}
    newest_first = sorted(rows.values(), key=lambda r: (r.at, r.id), reverse=True)
    return newest_first[:limit]
