"""Accepting or declining an incoming referral from the console.

A referral Microsoft shares waits in the CRM as an on-hold opportunity; a seller accepts it by
moving the opportunity to the active stage, or declines it with the declined stage, and the
engine tells Partner Center on the next reconcile. The console does exactly that: one stage
write through the CRM side (guarded like the engine's own writes), then the pair is queued.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Literal

from cosell.errors import StaleWrite
from cosell.queue.protocol import queue_key
from cosell.sync.core.records import CrmWrite
from cosell.sync.core.stages import is_on_hold, stage_from_crm

if TYPE_CHECKING:
    from cosell.sync.engine.engine import Engine

Decision = Literal["accept", "decline"]
WRITE_ATTEMPTS = 3
"""Reads and guarded stage writes before a decision gives up on a record being edited."""


def decide(engine: Engine, referral_id: str, decision: Decision) -> str:
    """Move the referral's on-hold opportunity to the active or declined stage and queue the
    pair; the CRM stage written. ``LookupError`` without a linked opportunity, ``ValueError``
    when the opportunity is no longer on hold."""
    store, tenant, mapping = engine.store, engine.tenant, engine.mapping
    link = store.link_by_referral(tenant, referral_id)
    if link is None or not link.opportunity_id:
        raise LookupError(f"referral {referral_id} has no opportunity yet")
    field = mapping.fields["stage"].crm
    stages = mapping.stages
    stage = stages.active if decision == "accept" else stages.declined
    for attempt in range(WRITE_ATTEMPTS):
        record = engine.crm.read(link.opportunity_id)
        if record is None:
            raise LookupError(f"the CRM has no opportunity {link.opportunity_id}")
        now = str(record.opportunity.get(field) or "")
        if not is_on_hold(stage_from_crm(now, stages)):
            raise ValueError(f"the opportunity is {now!r}, no longer waiting to be accepted")
        try:
            engine.crm.update(record, CrmWrite(), {field: stage})
            break
        except StaleWrite:
            # Edited since the read (or read in the second of its last edit): read again.
            if attempt == WRITE_ATTEMPTS - 1:
                raise
    store.enqueue(tenant, queue_key("opportunity", link.opportunity_id))
    return stage
