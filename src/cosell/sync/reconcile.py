"""One round of a reconcile: plan over a snapshot, then create, or write both sides and commit.

Write order: Partner Center first (guarded by the eTag), then the CRM (guarded by
``LastModifiedDate``, carrying the status and the ``Audit__c`` summary in the same call), then
the store in one transaction. A crash between a write and the commit is repaired by the next
run: it reads both sides, and the planner sees the write as already agreed.
"""

from __future__ import annotations

from collections.abc import Iterator, Sequence
from contextlib import contextmanager, suppress
from dataclasses import replace
from typing import TYPE_CHECKING, Any

from cosell.clients.salesforce_records import parse_datetime
from cosell.errors import RejectedError, StaleWrite
from cosell.store.records import AuditEntry, Direction, LinkUpdate
from cosell.sync import audit_trail, lifecycle, name_marker, related, resolutions
from cosell.sync.account_review import AccountReview
from cosell.sync.mapping import SyncMapping
from cosell.sync.partner_center_side import PcRecord, split_patchable
from cosell.sync.plan import FieldConflict, Plan, PlanFacts, plan
from cosell.sync.records import CreateContext, CrmWrite, Value
from cosell.sync.solutions import ROWS_KEY
from cosell.sync.translate import to_crm_create, to_crm_fields, to_partner_center_create
from cosell.sync.translate import to_partner_center_ops as pc_ops
from cosell.sync.validation import check_cosell_ready

if TYPE_CHECKING:
    from cosell.sync.engine import Engine, Snapshot

REFUSED_PATH = "Partner Center does not accept updates of {path}"


class NotReady(RejectedError):
    """The record lacks what Partner Center needs; the reason is shown on the CRM record and the
    record syncs on its own once it is fixed (the fix is a change the poller sees)."""


class Reconcile:
    """Plan one snapshot and carry the plan out. ``run()`` is True when it created a record
    (the engine then runs one more round to write back what the create produced)."""

    def __init__(
        self,
        engine: Engine,
        snapshot: Snapshot,
        facts: PlanFacts,
        correlation_id: str,
        pending: Sequence[AuditEntry] = (),
    ) -> None:
        self.engine = engine
        self.snap = snapshot
        self.facts = facts
        self.request_ids = (f"ms-correlation-id:{correlation_id}",)
        self.entries: list[AuditEntry] = list(pending)
        self.stored = {id(e) for e in pending}
        """Entries a create already stored: shown on the record by this round, not stored again."""
        self.carried: list[AuditEntry] = []

    @property
    def mapping(self) -> SyncMapping:
        return self.engine.mapping

    def run(self) -> bool:
        snap = self.snap
        if snap.pc is not None and snap.pc.is_microsofts and not snap.linked:
            return False
        if snap.pc is None and snap.crm is None:
            return False
        if self._read_before_commit():
            raise StaleWrite("the opportunity was read before the pair's last commit: re-read")
        base = snap.link.base if snap.linked and snap.link else None
        decided = plan(base, snap.pc_values, snap.crm_values, self.mapping, self.facts)
        if decided.create == "referral":
            return self._create_referral(decided)
        if decided.create == "opportunity":
            return self._create_opportunity(decided)
        if snap.pc is not None and snap.crm is not None:
            choices = self._resolutions(decided)
            self._merge(decided)
            resolutions.mark_applied(
                self.engine.store, self.engine.tenant, [c.conflict.id for c in choices]
            )
        return False

    def _read_before_commit(self) -> bool:
        """The CRM record is older than the base (a reconcile committed between this one's
        reads): planning on it would take the older values for edits and send them back."""
        link, crm = self.snap.link, self.snap.crm
        if link is None or crm is None or not self.snap.linked:
            return False
        committed, read = parse_datetime(link.crm_modstamp), parse_datetime(crm.modstamp)
        return committed is not None and read is not None and read < committed

    def _resolutions(self, decided: Plan) -> list[resolutions.Resolved]:
        """Conflicts a person resolved since the last run: their values go into the plan."""
        link, engine = self.snap.link, self.engine
        if link is None or not self.snap.linked:
            return []
        values = (self.snap.pc_values or {}, self.snap.crm_values or {})
        choices = resolutions.take_resolved(
            engine.store, engine.tenant, link, decided, values, self.mapping
        )
        message = "resolved by a person: {take} applied to both sides"
        self.entries += [
            self._entry(
                "none",
                outcome="conflict",
                field=c.conflict.field,
                old=c.conflict.pc,
                new=c.value,
                message=message.format(take=c.take),
            )
            for c in choices
        ]
        return choices

    # --- creates ---------------------------------------------------------------------------------

    def _create_referral(self, decided: Plan) -> bool:
        engine, crm = self.engine, self.snap.crm
        assert crm is not None
        assert self.snap.crm_values is not None
        problems = check_cosell_ready(self.snap.crm_values, self.mapping)
        if problems:
            self._refuse([str(p) for p in problems])
        engine.store.record_create_intent(
            engine.tenant, "partner_center", crm.id, f"opportunity:{crm.id}"
        )
        with self._shown_on_record():
            found = engine.pc.find_by_external_id(crm.id)
            body = to_partner_center_create(
                decided.to_partner_center, CreateContext(crm.id), self.mapping
            )
            created = found or engine.pc.create(body)
        verb = "found (created earlier)" if found else "created"
        entry = self._entry("to_partner_center", message=f"referral {created.id} {verb}")
        related.remember_rows(engine, self.snap, decided, decided.new_base)
        self._commit(created, crm.id, decided.new_base, [entry], crm.modstamp)
        self.carried = [*self.entries, entry]
        return True

    def _create_opportunity(self, decided: Plan) -> bool:
        engine, pc = self.engine, self.snap.pc
        assert pc is not None
        entry = self._entry("to_crm", message=f"opportunity created from referral {pc.id}")
        choice = AccountReview(engine).choose(pc, self.snap.link, entry)
        if choice is None:
            return False
        engine.store.record_create_intent(engine.tenant, "crm", pc.id, f"referral:{pc.id}")
        write = to_crm_create(decided.to_crm, self.mapping)
        if choice.account_id:
            entry = replace(entry, message=f"{entry.message} (account: {choice.rule})")
        notice = self._notice(decided, pc)
        extra = self._status_fields(None, [entry], notice=notice, pending=write.opportunity)
        opportunity_id = engine.crm.create(write, pc.id, extra, choice.account_id)
        related.mirror_notes(engine, opportunity_id, decided)
        if write.solutions is not None:
            decided.new_base[ROWS_KEY] = list[Value](sorted(write.solutions))
        entries = [entry, *self._unmatched_team(write)]
        self._commit(pc, opportunity_id, decided.new_base, entries, None)
        if choice.settled is not None:
            resolutions.mark_applied(engine.store, engine.tenant, [choice.settled])
        return True

    # --- updates ---------------------------------------------------------------------------------

    def _merge(self, decided: Plan) -> None:
        snap = self.snap
        assert snap.pc is not None
        assert snap.crm is not None
        new_base = dict(decided.new_base)
        unready = self._hold_unready(decided, new_base)
        pc_after = self._write_partner_center(decided, new_base)
        self.entries += self._decision_entries(decided)
        self.entries += self._conflict_entries(decided.conflicts)
        related.mirror_solutions(self.engine, snap, decided)
        related.remember_rows(self.engine, snap, decided, new_base)
        write = to_crm_fields(decided.to_crm, self.mapping)
        self.entries += self._unmatched_team(write)
        refusal = self._refusal(unready) if unready else None
        notice = self._notice(decided, pc_after)
        extra = self._status_fields(
            snap.crm.opportunity, self.entries, refusal, notice, write.opportunity
        )
        if refusal is not None and self._shows_refusal(extra):
            self.entries.append(refusal)
        status_field = self.engine.schema.names.status_field
        noticed = notice is not None and refusal is None and bool(status_field)
        noticed = noticed and status_field in extra
        if noticed and notice is not None:
            self.entries += [notice, *self._skip_entries(decided)]
        with self._shown_on_record():
            if not write.is_empty() or extra:
                self.engine.crm.update(snap.crm, write, extra)
            related.mirror_notes(self.engine, snap.crm.id, decided)
        changed = not snap.linked or new_base != (snap.link.base if snap.link else None)
        if changed or audit_trail.has_news(self.entries) or noticed:
            stored = self._entries_to_store()
            link = self._commit(pc_after, snap.crm.id, new_base, stored, snap.crm.modstamp)
            resolutions.park(self.engine.store, self.engine.tenant, link.id, decided.conflicts)
        elif decided.skipped and self._edited_since_commit() and not self._on_record(notice):
            self._record_skips(decided, new_base)
        elif self._edited_since_commit():
            # Both sides agree with the base: remember the versions read (store only), so a
            # change signal about this very version can be told apart from a new change.
            self._commit(pc_after, snap.crm.id, new_base, [], snap.crm.modstamp)
        if unready:
            raise NotReady(unready)

    def _unmatched_team(self, write: CrmWrite) -> list[AuditEntry]:
        if not write.team:
            return []
        crm = self.snap.crm
        users = crm.users if crm is not None else self.engine.crm.active_users()
        return [
            self._entry("none", outcome="skipped", field=name, message=message)
            for name, message in related.unmatched_team(self.mapping, users, write)
        ]

    def _notice(self, decided: Plan, pc: PcRecord) -> AuditEntry | None:
        """A lifecycle notice for the status field (see :mod:`cosell.sync.lifecycle`)."""
        facts = lifecycle.Facts(
            referral=pc.raw,
            decided=decided,
            crm_values=self.snap.crm_values or {},
            stage_field=self.mapping.stage_field(),
            now=self.engine.clock.now(),
        )
        text = lifecycle.notice(facts)
        return None if text is None else self._entry("none", outcome="skipped", message=text)

    def _on_record(self, notice: AuditEntry | None) -> bool:
        """The notice is already the record's status: the record remembers it was shown."""
        return notice is not None and self.engine.schema.names.status_field is not None

    def _skip_entries(self, decided: Plan) -> list[AuditEntry]:
        shown = {(e.field, e.message) for e in self.entries}
        return [
            self._entry("none", outcome="skipped", field=s.field, message=s.reason)
            for s in decided.skipped
            if (s.field, s.reason) not in shown
        ]

    def _edited_since_commit(self) -> bool:
        """A side changed since the last commit (its eTag or SystemModstamp moved)."""
        link, pc, crm = self.snap.link, self.snap.pc, self.snap.crm
        if link is None or pc is None or crm is None:
            return False
        return link.pc_etag != pc.etag or link.crm_modstamp != crm.modstamp

    def _record_skips(self, decided: Plan, new_base: dict[str, Value]) -> None:
        """Changes that may not flow (e.g. a Closed referral: not syncable) are audited once per
        edit in the store; the record itself is left alone, so nothing echoes."""
        pc, crm = self.snap.pc, self.snap.crm
        assert pc is not None
        assert crm is not None
        entries = [
            self._entry("none", outcome="skipped", field=s.field, message=s.reason)
            for s in decided.skipped
        ]
        self._commit(pc, crm.id, new_base, entries, crm.modstamp)

    def _write_partner_center(self, decided: Plan, new_base: dict[str, Value]) -> PcRecord:
        pc = self.snap.pc
        assert pc is not None
        ops: list[dict[str, Any]] = []
        stage = self.mapping.stage_field()
        # Data fields first, the status last: a close must not land before the final values.
        changes = sorted(decided.to_partner_center.items(), key=lambda item: item[0] == stage)
        for name, value in changes:
            kept, refused = split_patchable(pc_ops({name: value}, pc.raw, self.mapping))
            if refused:
                message = REFUSED_PATH.format(path=", ".join(refused))
                self._keep_base(name, new_base, decided, message)
            else:
                ops += [dict(op) for op in kept]
        if not ops:
            return pc
        with self._shown_on_record():
            return self.engine.pc.patch(pc, ops)

    def _keep_base(
        self, name: str, new_base: dict[str, Value], decided: Plan, message: str
    ) -> None:
        """A field that cannot be sent keeps its base, so it is tried again after the next edit."""
        base = self.snap.link.base if self.snap.link else {}
        new_base[name] = base.get(name)
        decided.to_partner_center.pop(name, None)
        decided.decisions[:] = [d for d in decided.decisions if d.field != name]
        self.entries.append(self._entry("none", outcome="skipped", field=name, message=message))

    def _hold_unready(self, decided: Plan, new_base: dict[str, Value]) -> str | None:
        """Changes Partner Center would refuse are held back (with the reason); the rest syncs."""
        changes = decided.to_partner_center
        values = {**(self.snap.pc_values or {}), **changes}
        problems = [p for p in check_cosell_ready(values, self.mapping) if p.field in changes]
        for problem in problems:
            self._keep_base(problem.field, new_base, decided, str(problem))
        return "; ".join(str(p) for p in problems) or None

    # --- audit and status ------------------------------------------------------------------------

    def _entry(
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
            at=self.engine.clock.now(),
        )

    def _decision_entries(self, decided: Plan) -> list[AuditEntry]:
        entries = []
        for d in decided.decisions:
            direction: Direction = "to_crm" if d.source == "partner_center" else "to_partner_center"
            entries.append(self._entry(direction, field=d.field, old=d.old, new=d.new))
        if entries:
            entries += [
                self._entry("none", outcome="skipped", field=s.field, message=s.reason)
                for s in decided.skipped
            ]
        return entries

    def _conflict_entries(self, conflicts: list[FieldConflict]) -> list[AuditEntry]:
        store, tenant, link = self.engine.store, self.engine.tenant, self.snap.link
        fresh = [c for c in conflicts if not resolutions.is_parked(store, tenant, link, c)]
        return [
            self._entry(
                "none",
                outcome="conflict",
                field=c.field,
                old=c.partner_center,
                new=c.crm,
                message=resolutions.describe(c),
            )
            for c in fresh
        ]

    def _entries_to_store(self) -> list[AuditEntry]:
        return [e for e in self.entries if id(e) not in self.stored]

    def _status_fields(
        self,
        current: dict[str, Any] | None,
        entries: Sequence[AuditEntry],
        refusal: AuditEntry | None = None,
        notice: AuditEntry | None = None,
        pending: dict[str, Any] | None = None,
    ) -> dict[str, Any]:
        names, now = self.engine.schema.names, self.engine.clock.now()
        fields = audit_trail.record_fields(names, current or {}, entries, now, refusal, notice)
        marked = name_marker.marked_name(self.mapping, current or {}, pending or {}, bool(refusal))
        return {**fields, **marked}

    def _shows_refusal(self, fields: dict[str, Any]) -> bool:
        names = self.engine.schema.names
        return any(f in fields for f in (names.status_field, names.error_field) if f)

    def _refusal(self, reason: str, request_id: str | None = None) -> AuditEntry:
        entry = self._entry("none", outcome="rejected", message=reason)
        if request_id:
            entry = replace(entry, request_ids=(*entry.request_ids, f"request-id:{request_id}"))
        return entry

    def _refuse(self, reasons: list[str]) -> None:
        """Show why on the record (once per distinct reason), then give up with ``NotReady``."""
        text = "; ".join(reasons)
        self._show_failure(text)
        raise NotReady(text)

    def _show_failure(self, reason: str, request_id: str | None = None) -> None:
        crm = self.snap.crm
        if crm is None:
            return
        refusal = self._refusal(reason, request_id)
        fields = self._status_fields(crm.opportunity, [], refusal)
        if not fields:
            return
        self.engine.crm.update(crm, CrmWrite(), fields)
        if self._shows_refusal(fields):
            stored = replace(refusal, referral_id=self._referral_id(), opportunity_id=crm.id)
            self.engine.store.record_audit(self.engine.tenant, [stored])

    def _referral_id(self) -> str | None:
        if self.snap.pc is not None:
            return self.snap.pc.id
        return self.snap.link.referral_id if self.snap.link else None

    @contextmanager
    def _shown_on_record(self) -> Iterator[None]:
        """A refusal by either side is shown on the record, then handed to the queue."""
        try:
            yield
        except RejectedError as exc:
            # If the CRM refuses even the status write, the dead letter keeps the reason.
            with suppress(RejectedError):
                self._show_failure(exc.message, exc.request_id)
            raise

    # --- commit ----------------------------------------------------------------------------------

    def _commit(
        self,
        pc: PcRecord,
        opportunity_id: str,
        base: dict[str, Value],
        entries: Sequence[AuditEntry],
        modstamp: str | None,
    ) -> Any:
        update = LinkUpdate(
            referral_id=pc.id,
            opportunity_id=opportunity_id,
            link_id=self.snap.link.id if self.snap.link else None,
            engagement_id=pc.engagement_id,
            base=dict(base),
            pc_etag=pc.etag,
            crm_modstamp=modstamp,
        )
        return self.engine.store.commit_sync(self.engine.tenant, update, entries)
