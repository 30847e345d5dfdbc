"""``cosell retry``: put dead letters back on the queue, and resume pairs parked as loops.

The running service (or the next ``cosell sync``) picks them up: requeueing only marks
the key dirty, the reconcile reads both sides afresh. A pair parked because it kept writing
without converging (see :mod:`cosell.sync.engine.loop_guard`) costs nothing until it is
resumed here; resuming clears the mark and queues both of its keys.
"""

from __future__ import annotations

from cosell.operations.audit_view import linked_ids
from cosell.queue.protocol import parse_key, queue_key
from cosell.store.records import TenantId
from cosell.store.sql import Store
from cosell.sync.engine import loop_guard


def candidate_keys(store: Store, tenant: TenantId, target: str) -> list[str]:
    """The queue keys ``target`` may name: itself when it is a key, else both keys of the id
    and of its linked partner id."""
    if not target.strip():
        return []  # names no record (its keys would be "referral:" and "opportunity:")
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
    candidates = candidate_keys(store, tenant, target)
    keys = [k for k in candidates if k in dead]
    requeued = [k for k in keys if store.retry_dead_letter(tenant, k)]
    return requeued + [k for k in resume(store, tenant, candidates) if k not in requeued]


def retry_all(store: Store, tenant: TenantId) -> list[str]:
    """Requeue every dead letter of the tenant and resume every parked pair; returns the keys
    requeued."""
    keys = [d.key for d in store.dead_letters(tenant)]
    requeued = [k for k in keys if store.retry_dead_letter(tenant, k)]
    parked = [r for r in store.ledger(tenant) if r.state == "parked"]
    named = [queue_key("referral", r.referral_id) for r in parked if r.referral_id]
    named += [queue_key("opportunity", r.opportunity_id) for r in parked if r.opportunity_id]
    return requeued + [k for k in resume(store, tenant, named) if k not in requeued]


def resume(store: Store, tenant: TenantId, keys: list[str]) -> list[str]:
    """Un-park the pairs ``keys`` name and queue both their keys; returns the keys queued."""
    queued: list[str] = []
    for key in keys:
        try:
            kind, record_id = parse_key(key)
        except ValueError:
            continue  # not a record's key (an empty id): nothing is parked under it
        if kind == "referral":
            link = store.link_by_referral(tenant, record_id)
        else:
            link = store.link_by_opportunity(tenant, record_id)
        if link is None or not loop_guard.resume(store, tenant, link):
            continue
        pair = [queue_key("referral", link.referral_id or "")]
        pair += [queue_key("opportunity", link.opportunity_id or "")]
        pair = [k for k in pair if not k.endswith(":")]
        store.enqueue_many(tenant, pair)
        queued += pair
    return queued
