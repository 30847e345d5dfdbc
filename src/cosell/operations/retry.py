"""``cosell retry``: put dead letters back on the queue.

The running service (or the next ``cosell sync``) picks them up: requeueing only marks
the key dirty, the reconcile reads both sides afresh.
"""

from __future__ import annotations

from cosell.operations.audit_view import linked_ids
from cosell.queue.protocol import parse_key, queue_key
from cosell.store.records import TenantId
from cosell.store.sql import Store


def candidate_keys(store: Store, tenant: TenantId, target: str) -> list[str]:
    """The queue keys ``target`` may name: itself when it is a key, else both keys of the id
    and of its linked partner id."""
    try:
        parse_key(target)
    except ValueError:
        ids = linked_ids(store, tenant, target.strip())
        return [queue_key(kind, i) for i in ids for kind in ("referral", "opportunity")]
    return [target]


def retry_one(store: Store, tenant: TenantId, target: str) -> list[str]:
    """Requeue the dead letters ``target`` names (a referral/opportunity id or a queue key);
    returns the keys requeued (empty when there was no such dead letter)."""
    dead = {d.key for d in store.dead_letters(tenant)}
    keys = [k for k in candidate_keys(store, tenant, target) if k in dead]
    return [k for k in keys if store.retry_dead_letter(tenant, k)]


def retry_all(store: Store, tenant: TenantId) -> list[str]:
    """Requeue every dead letter of the tenant; returns the keys requeued."""
    keys = [d.key for d in store.dead_letters(tenant)]
    return [k for k in keys if store.retry_dead_letter(tenant, k)]
