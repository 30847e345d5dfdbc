"""The loop detector at work in a reconcile: count writing rounds, park a pair that loops.

Before a merge writes, :meth:`LoopGuard.parks` asks whether the pair's streak of writing
reconciles (see :mod:`cosell.sync.core.loops`) is a loop; if so the pair is parked instead of
written: the store marks it (``watch:<link id>``), the ledger says ``parked`` with the reason,
an audit row and a warning line record it, the CRM record's status shows it (one write), and
:class:`cosell.events.PairParked` is published for a notifier. From then on the engine drops the
pair's keys before reading anything (:func:`is_parked`), so it costs no API calls, until a person
resumes it (``cosell retry``, or Retry in the console), which clears the mark: the next
reconcile reads both sides afresh, so an edit made meanwhile is not lost.

After the merge, :meth:`LoopGuard.after` counts the round when it wrote and forgets the streak
when it did not (the pair converged).
"""

from __future__ import annotations

import logging
from collections.abc import Mapping
from dataclasses import replace
from typing import TYPE_CHECKING

from cosell import events
from cosell.errors import CosellError
from cosell.redaction import redact_text
from cosell.store import watch
from cosell.store.records import AuditEntry, LedgerUpdate, Link, TenantId
from cosell.store.sql import Store
from cosell.sync.core import loops
from cosell.sync.core.plan import Plan
from cosell.sync.core.records import CrmWrite

if TYPE_CHECKING:
    from cosell.sync.engine.context import Context, Snapshot
    from cosell.sync.engine.record_status import RecordStatus

log = logging.getLogger("cosell.sync.loops")

RESUME = (
    "Stop what rewrites these fields (a CRM trigger, flow or other integration), then resume: "
    "cosell retry {id} (or Retry in the console)."
)


def is_parked(store: Store, tenant: TenantId, link: Link | None) -> bool:
    """The pair behind ``link`` is parked as a loop (a store read, no API call)."""
    if link is None:
        return False
    streak = watch.load(store, tenant, link.id)
    return bool(streak and streak.get("parked"))


def resume(store: Store, tenant: TenantId, link: Link) -> bool:
    """Un-park the pair (its next reconcile reads both sides afresh); True when it was parked."""
    if not is_parked(store, tenant, link):
        return False
    return watch.clear(store, tenant, link.id)


class LoopGuard:
    """One reconcile's view of its pair's writing streak."""

    def __init__(self, ctx: Context, snapshot: Snapshot, status: RecordStatus) -> None:
        self.ctx = ctx
        self.snap = snapshot
        self.status = status
        link = snapshot.link
        self.link_id = link.id if link is not None and snapshot.linked else None
        loaded = None
        if self.link_id is not None and not snapshot.made_here:  # a new link has no streak
            loaded = watch.load(ctx.store, ctx.tenant, self.link_id)
        self.streak = None if loaded is None else loops.Streak.from_json(loaded)

    def parks(self, decided: Plan) -> bool:
        """Park the pair instead of writing when this round would extend a loop."""
        if self.link_id is None or not (decided.to_partner_center or decided.to_crm):
            return False
        now = self.ctx.clock.now()
        if not loops.is_loop(self.streak, now, self.ctx.loops):
            return False
        assert self.streak is not None
        reason = loops.reason(self.streak, now)
        parked = replace(self.streak, parked=reason, parked_at=now)
        watch.save(self.ctx.store, self.ctx.tenant, self.link_id, parked.to_json())
        self._tell(reason)
        return True

    def after(self, written: Mapping[str, object], *, wrote: bool) -> None:
        """Count a round that wrote synced fields (``written``); forget the streak after one that
        wrote nothing at all (``wrote`` False: the pair converged). A round that wrote only
        cosell's own status fields leaves the streak as it was."""
        if self.link_id is None:
            return
        store, tenant = self.ctx.store, self.ctx.tenant
        if not wrote:
            if self.streak is not None:
                watch.clear(store, tenant, self.link_id)
            return
        if not written:
            return
        now = self.ctx.clock.now()
        streak = loops.wrote(self.streak, written, now, self.ctx.loops)
        watch.save(store, tenant, self.link_id, streak.to_json())

    def _tell(self, reason: str) -> None:
        """Ledger, audit, log line, the record's status and the event."""
        ctx, status = self.ctx, self.status
        referral_id, opportunity_id = status.referral_id(), status.opportunity_id()
        fix = RESUME.format(id=referral_id or opportunity_id)
        status.recorder.put(
            LedgerUpdate("parked", referral_id, opportunity_id, reason=reason, setting=fix)
        )
        entry = status.entry("none", outcome="parked", message=f"Parked: {reason}")
        stored = replace(entry, referral_id=referral_id, opportunity_id=opportunity_id)
        ctx.store.record_audit(ctx.tenant, [stored])
        log.warning(
            "pair parked referral=%s opportunity=%s reason=%s",
            referral_id or "-",
            opportunity_id or "-",
            redact_text(reason),
        )
        self._show_on_record(entry)
        events.publish(
            events.PairParked(
                tenant=int(ctx.tenant),
                referral_id=referral_id,
                opportunity_id=opportunity_id,
                reason=reason,
                at=ctx.clock.now(),
            )
        )

    def _show_on_record(self, entry: AuditEntry) -> None:
        crm = self.snap.crm
        if crm is None:
            return
        fields = self.status.fields(crm.opportunity, [], refusal=entry)
        if not fields:
            return
        try:
            self.ctx.crm.update(crm, CrmWrite(), fields)
        except CosellError as exc:
            # The store, the ledger and the audit already say it; the record is a courtesy.
            log.warning("parked status not shown on %s: %s", crm.id, redact_text(str(exc)))
