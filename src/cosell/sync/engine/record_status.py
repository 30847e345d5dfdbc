"""What one reconcile says: its audit entries, and what they show on the CRM record.

The record carries a one-line status (✔ synced, ✖ refused, or a lifecycle notice), the error
field and the ``Audit__c`` summary (see :mod:`cosell.sync.core.audit_trail`); they are written with
the reconcile's own CRM write. A refusal by either side is shown on the record before the
queue gets it, so the seller sees why without opening the service.
"""

from __future__ import annotations

from collections.abc import Iterator, Sequence
from contextlib import contextmanager, suppress
from dataclasses import replace
from typing import TYPE_CHECKING, Any

from cosell.errors import RejectedError
from cosell.store.records import AuditEntry, Direction, LedgerUpdate
from cosell.sync.core import audit_trail, lifecycle, name_marker
from cosell.sync.core.mapping import SyncMapping
from cosell.sync.core.plan import FieldConflict, Plan
from cosell.sync.core.records import CrmWrite
from cosell.sync.core.translate import CONTACTS, contacts_left_out
from cosell.sync.engine import outcomes, related, resolutions
from cosell.sync.engine.ledger_states import Recorder, waiting
from cosell.sync.sides.crm_record import CrmRecord, refused_cursor
from cosell.sync.sides.partner_center import PcRecord

if TYPE_CHECKING:
    from cosell.sync.engine.context import Context, Snapshot


class NotReady(RejectedError):
    """The record lacks what Partner Center needs; the reason is shown on the CRM record and the
    record syncs on its own once it is fixed (the fix is a change the poller sees)."""


class RecordStatus:
    """The audit entries of one reconcile round and the status fields they put on the record.

    ``pending`` are entries an earlier round of the same reconcile already stored (a create's):
    this round shows them on the record but does not store them again.
    """

    def __init__(
        self,
        ctx: Context,
        snapshot: Snapshot,
        correlation_id: str,
        pending: Sequence[AuditEntry] = (),
    ) -> None:
        self.ctx = ctx
        self.snap = snapshot
        self.request_ids = (f"ms-correlation-id:{correlation_id}",)
        self.entries: list[AuditEntry] = list(pending)
        self._stored = {id(e) for e in pending}
        self.recorder = Recorder(ctx)

    @property
    def mapping(self) -> SyncMapping:
        return self.ctx.mapping

    def to_store(self) -> list[AuditEntry]:
        """The entries not stored yet."""
        return [e for e in self.entries if id(e) not in self._stored]

    def unmatched_team(self, write: CrmWrite) -> list[AuditEntry]:
        if not write.team:
            return []
        crm = self.snap.crm
        users = crm.users if crm is not None else self.ctx.crm.active_users()
        return [
            self.entry("none", outcome="skipped", field=name, message=message)
            for name, message in related.unmatched_team(self.mapping, users, write)
        ]

    def notice(self, decided: Plan, pc: PcRecord) -> AuditEntry | None:
        """A lifecycle notice for the status field (see :mod:`cosell.sync.core.lifecycle`)."""
        facts = lifecycle.Facts(
            referral=pc.raw,
            decided=decided,
            crm_values=self.snap.crm_values or {},
            stage_field=self.mapping.stage_field(),
            now=self.ctx.clock.now(),
        )
        text = lifecycle.notice(facts) or contacts_left_out(pc.wire, self.mapping)
        return None if text is None else self.entry("none", outcome="skipped", message=text)

    def audit_left_out(self, pc: PcRecord, opportunity_id: str) -> None:
        """Customer contacts the cap leaves out are audited once per distinct list."""
        text = contacts_left_out(pc.wire, self.mapping)
        if text is None:
            return
        store, tenant = self.ctx.store, self.ctx.tenant
        if any(e.message == text for e in store.audit_for(tenant, pc.id, limit=50)):
            return
        name = next((n for n, spec in self.mapping.fields.items() if spec.crm == CONTACTS), None)
        entry = self.entry("none", outcome="skipped", field=name, message=text)
        entry = replace(entry, referral_id=pc.id, opportunity_id=opportunity_id)
        store.record_audit(tenant, [entry])
        outcomes.log_entry(entry)

    def on_record(self, notice: AuditEntry | None) -> bool:
        """The notice is already the record's status: the record remembers it was shown."""
        return notice is not None and self.ctx.schema.names.status_field is not None

    def skip_entries(self, decided: Plan) -> list[AuditEntry]:
        shown = {(e.field, e.message) for e in self.entries}
        return [
            self.entry("none", outcome="skipped", field=s.field, message=s.reason)
            for s in decided.skipped
            if (s.field, s.reason) not in shown
        ]

    def entry(
        self,
        direction: Direction,
        *,
        outcome: Any = "synced",
        field: str | None = None,
        old: Any = None,
        new: Any = None,
        message: str = "",
    ) -> AuditEntry:
        return AuditEntry(
            direction=direction,
            outcome=outcome,
            field=field,
            old=old,
            new=new,
            message=message,
            request_ids=self.request_ids,
            at=self.ctx.clock.now(),
        )

    def decision_entries(self, decided: Plan) -> list[AuditEntry]:
        entries = []
        for d in decided.decisions:
            direction: Direction = "to_crm" if d.source == "partner_center" else "to_partner_center"
            entries.append(self.entry(direction, field=d.field, old=d.old, new=d.new))
        if entries:
            entries += [
                self.entry("none", outcome="skipped", field=s.field, message=s.reason)
                for s in decided.skipped
            ]
        return entries

    def conflict_entries(self, conflicts: list[FieldConflict]) -> list[AuditEntry]:
        store, tenant, link = self.ctx.store, self.ctx.tenant, self.snap.link
        fresh = [c for c in conflicts if not resolutions.is_parked(store, tenant, link, c)]
        return [
            self.entry(
                "none",
                outcome="conflict",
                field=c.field,
                old=c.partner_center,
                new=c.crm,
                message=resolutions.describe(c),
            )
            for c in fresh
        ]

    def fields(
        self,
        current: dict[str, Any] | None,
        entries: Sequence[AuditEntry],
        refusal: AuditEntry | None = None,
        notice: AuditEntry | None = None,
        pending: dict[str, Any] | None = None,
    ) -> dict[str, Any]:
        names, now = self.ctx.schema.names, self.ctx.clock.now()
        shown = [e for e in entries if not self._pairs_anew(e)]
        fields = audit_trail.record_fields(names, current or {}, shown, now, refusal, notice)
        marked = name_marker.marked_name(self.mapping, current or {}, pending or {}, bool(refusal))
        return {**fields, **marked}

    def _pairs_anew(self, entry: AuditEntry) -> bool:
        """The first write of a pairing field (the opportunity's id written back as the
        referral's ``externalReferenceId`` after the create): the store keeps the entry, but the
        record's summary and status already say the pair was made, so it alone does not rewrite
        them (which would cost a CRM write per created record)."""
        return entry.field in self.mapping.pairing_fields and entry.old in (None, "")

    def shows_refusal(self, fields: dict[str, Any]) -> bool:
        names = self.ctx.schema.names
        return any(f in fields for f in (names.status_field, names.error_field) if f)

    def refusal(self, reason: str, request_id: str | None = None) -> AuditEntry:
        entry = self.entry("none", outcome="rejected", message=reason)
        if request_id:
            entry = replace(entry, request_ids=(*entry.request_ids, f"request-id:{request_id}"))
        return entry

    def refuse(self, reasons: list[str], fields: Sequence[str] = ()) -> None:
        """Show why on the record (once per distinct reason), then give up with ``NotReady``:
        the record waits for the data (``fields``) Partner Center needs."""
        text = "; ".join(reasons)
        self.recorder.put(waiting(fields, text, self.referral_id(), self.opportunity_id()))
        self.show_failure(text)
        raise NotReady(text)

    def show_failure(self, reason: str, request_id: str | None = None) -> None:
        crm = self.snap.crm
        if crm is None:
            # Nothing in the CRM to show it on (the create was refused): the audit and the log
            # say why, once per distinct reason.
            self._audit_once(self.refusal(reason, request_id))
            return
        refusal = self.refusal(reason, request_id)
        fields = self.fields(crm.opportunity, [], refusal)
        if not fields:
            self._keep_refused(crm)
            return
        try:
            self._keep_refused(self.ctx.crm.update(crm, CrmWrite(), fields).read)
        except RejectedError as exc:
            # The CRM refuses even the status write: the audit is then the only place that
            # tells why (``cosell audit ID``), with both refusals.
            message = f"{reason} (not shown on the record: {exc.message})"
            self._audit(replace(refusal, message=message), crm.id)
            raise
        if self.shows_refusal(fields):
            self._audit(refusal, crm.id)

    def _keep_refused(self, crm: CrmRecord | None) -> None:
        """An opportunity refused before it had a link: the version it has now (after the
        status write, as read back with it), so the poll knows it again (see
        :func:`~cosell.sync.sides.crm_record.refused_cursor`). A linked pair's link holds it."""
        if self.snap.linked or crm is None or not crm.fingerprint:
            return
        self.ctx.store.set_cursor(self.ctx.tenant, refused_cursor(crm.id), crm.fingerprint)

    def _audit(self, refusal: AuditEntry, opportunity_id: str) -> None:
        stored = replace(refusal, referral_id=self.referral_id(), opportunity_id=opportunity_id)
        self.ctx.store.record_audit(self.ctx.tenant, [stored])

    def _audit_once(self, entry: AuditEntry) -> None:
        referral_id = self.referral_id()
        if referral_id is None:
            return
        last = self.ctx.store.audit_for(self.ctx.tenant, referral_id, limit=1)
        if last and last[0].outcome == entry.outcome and last[0].message == entry.message:
            return
        stored = replace(entry, referral_id=referral_id)
        self.ctx.store.record_audit(self.ctx.tenant, [stored])
        outcomes.log_entry(stored)

    def referral_id(self) -> str | None:
        if self.snap.pc is not None:
            return self.snap.pc.id
        return self.snap.link.referral_id if self.snap.link else None

    def opportunity_id(self) -> str | None:
        if self.snap.crm is not None:
            return self.snap.crm.id
        return self.snap.link.opportunity_id if self.snap.link else None

    def refused(self, exc: RejectedError) -> None:
        """The record is refused by a side: its words, and the exact error for support."""
        raw = f"{type(exc).__name__}: {exc}"
        ids = (self.referral_id(), self.opportunity_id())
        self.recorder.put(LedgerUpdate("refused", *ids, reason=exc.message, raw=raw))

    @contextmanager
    def shown_on_record(self) -> Iterator[None]:
        """A refusal by either side is shown on the record, then handed to the queue."""
        try:
            yield
        except RejectedError as exc:
            self.refused(exc)
            # If the CRM refuses even the status write, the dead letter keeps the reason.
            with suppress(RejectedError):
                self.show_failure(exc.message, exc.request_id)
            raise
