"""One round of a reconcile: plan over a snapshot, then create, or write both sides and commit.

Write order: Partner Center first (guarded by the eTag), then the CRM (guarded by
``LastModifiedDate``, carrying the status and the ``Audit__c`` summary in the same call), then
the store in one transaction. A crash between a write and the commit is repaired by the next
run: it reads both sides, and the planner sees the write as already agreed.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, replace
from typing import TYPE_CHECKING, Any

from cosell.clients.salesforce_records import parse_datetime
from cosell.errors import CosellError, NotFound, StaleWrite
from cosell.store.records import AuditEntry, LedgerRow, LedgerUpdate, Link, LinkUpdate, Side
from cosell.sync.core import audit_trail, solutions
from cosell.sync.core import pending as flight
from cosell.sync.core.leads import lead_fields
from cosell.sync.core.mapping import SyncMapping
from cosell.sync.core.plan import SYNC_OFF, Plan, PlanFacts, plan
from cosell.sync.core.records import CreateContext, CrmWrite, Value
from cosell.sync.core.solutions import ROWS_KEY
from cosell.sync.core.translate import (
    held_as_rows,
    to_crm_create,
    to_crm_fields,
    to_partner_center_create,
)
from cosell.sync.core.translate import to_partner_center_ops as pc_ops
from cosell.sync.core.validation import Problem, check_cosell_ready
from cosell.sync.engine import ledger_states, outcomes, rebase, related, resolutions
from cosell.sync.engine.account_review import AccountReview
from cosell.sync.engine.loop_guard import LoopGuard
from cosell.sync.engine.record_status import NotReady, RecordStatus
from cosell.sync.sides.crm_record import CrmRecord, Made, Written, refused_cursor
from cosell.sync.sides.partner_center import PcRecord, split_patchable
from cosell.sync.sides.salesforce.accounts import new_account_fields

__all__ = ["REFUSED_PATH", "NotReady", "Reconcile"]

if TYPE_CHECKING:
    from cosell.sync.engine.context import Context, Snapshot

REFUSED_PATH = "Partner Center does not accept updates of {path}"
LEAD_MADE = "imported as CRM lead"
NEVER_REACHED = "it never reached the CRM"
DELETED_AS_CREATED = "opportunity {opportunity} was deleted in the CRM as cosell created it"


class ExpiredBeforeSync(CosellError):
    """A referral a side refused closed (or expired) before it was ever synced: it stays a dead
    letter with both reasons, so no surface loses it."""


@dataclass(frozen=True)
class PreparedCreate:
    """An opportunity's create, planned and its intent recorded, not sent yet."""

    referral_id: str
    write: CrmWrite
    extra: dict[str, Any]
    account_id: str | None
    entry: AuditEntry
    settled: int | None
    """The account review a person settled, marked applied once the create is committed."""


@dataclass(frozen=True)
class Intent:
    """A create about to be sent, recorded in the store before it is (for an opportunity, with
    the base it will be created with)."""

    side: Side
    local_id: str
    key: str
    base: dict[str, Any] | None = None


@dataclass(frozen=True)
class PreparedReferral:
    """A referral's create, planned and its intent recorded, not sent yet; or the referral an
    earlier attempt made."""

    body: dict[str, Any]
    found: PcRecord | None


@dataclass
class MergeWork:
    """One merge between its steps: the plan, the loop guard, the base it leaves, what is held
    back for data Partner Center needs, and the ops Partner Center is sent."""

    decided: Plan
    guard: LoopGuard
    new_base: dict[str, Value]
    unready: str | None
    unready_fields: list[str]
    ops: list[dict[str, Any]]
    pc: PcRecord
    """The referral as read (what the ops are guarded by)."""
    notice: AuditEntry | None = None
    noticed: bool = False
    crm_write: tuple[CrmWrite, dict[str, Any]] | None = None
    """The CRM write the merge makes after Partner Center took its part, and its status
    fields."""
    crm_wrote: bool = False


class Reconcile:
    """Plan one snapshot and carry the plan out. ``run()`` is True when it created a record
    (the engine then runs one more round to write back what the create produced)."""

    def __init__(
        self,
        ctx: Context,
        snapshot: Snapshot,
        facts: PlanFacts,
        correlation_id: str,
        pending: Sequence[AuditEntry] = (),
        claim: Callable[[str], object] = lambda _key: None,
    ) -> None:
        self.ctx = ctx
        self.claim = claim
        """Holds the key of a record this round created, when it is free (see
        :meth:`cosell.sync.engine.pair_locks.HeldLocks.claim`)."""
        self.snap = snapshot
        self.facts = facts
        self.status = RecordStatus(ctx, snapshot, correlation_id, pending)
        self.entries = self.status.entries
        """This round's audit entries (the same list the status shows)."""
        self.carried: list[AuditEntry] = []
        self.crm_unchanged: CrmRecord | None = None
        self.crm_after: CrmRecord | None = None
        """The opportunity as this round's update read it back (see :meth:`Engine._rounds`)."""
        """The opportunity as read, when this round created the referral and wrote nothing to
        the CRM: the next round plans on it instead of reading it again (its writes stay
        guarded by the ``LastModifiedDate`` read, so an edit made meanwhile answers 412)."""
        self.pc_unchanged: PcRecord | None = None
        """The referral as read when this round created the opportunity (it wrote nothing to
        Partner Center), or as its create answered when it created the referral: the next round
        plans on it (its writes stay guarded by the eTag)."""
        self.ledger = self.status.recorder
        """The ledger state this round leaves the record in (``ledger.recorded``)."""
        self.base: dict[str, Value] | None = None
        """The stored base, with the writes an earlier run left in flight settled."""
        self.wrote_ahead = False
        self.made_link: int | None = None
        """The link this round's create made, when the pair had none."""
        self.intent: Link | None = None
        """The link as this round's create recorded its intent (the commit updates it by id)."""
        self.committed: Link | None = None
        """The link as this round's last commit left it (see :class:`Engine`'s next round)."""
        self.stored: Link | None = None
        """The link as this round last stored it (its intent, a write-ahead, a commit): what
        the next of its updates applies to (see :meth:`Store.commit_sync`)."""
        self.intents_later: list[tuple[Reconcile, Intent]] | None = None
        """Where a batch gathers its creates' intents, to record them together before any of
        the creates is sent (:func:`record_intents`); None records each at once."""

    @property
    def mapping(self) -> SyncMapping:
        return self.ctx.mapping

    def run(self) -> bool:
        snap = self.snap
        if not self.plannable():
            return False
        if snap.deleted_opportunity is not None:
            return self._record_deleted_create(snap.deleted_opportunity)
        decided = self.decide()
        if decided.create == "referral":
            return self._create_referral(decided)
        if decided.create == "opportunity" and self._as_crm_lead():
            return self._import_lead()
        if decided.create == "opportunity":
            return self._create_opportunity(decided)
        if not snap.linked and snap.pc is not None and snap.crm is None and decided.skipped:
            self._record_not_imported(decided)
        elif not snap.linked and snap.crm is not None and self._sync_off(decided):
            self.ledger.put(
                LedgerUpdate("skipped", None, snap.crm.id, reason=SYNC_OFF, setting="sync flag")
            )
        if snap.pc is not None and snap.crm is not None:
            choices = self._resolutions(decided)
            self._merge(decided)
            resolutions.mark_applied(
                self.ctx.store, self.ctx.tenant, [c.conflict.id for c in choices]
            )
        return False

    def plannable(self) -> bool:
        """A pair this round plans for: not Microsoft's own referral without a link, not two
        records that are both gone."""
        snap = self.snap
        if snap.pc is not None and snap.pc.is_microsofts and not snap.linked:
            return False
        return snap.pc is not None or snap.crm is not None

    def decide(self) -> Plan:
        """The plan over the snapshot, from the stored base with what an earlier run left in
        flight settled (store reads only; raises :class:`StaleWrite` when the opportunity was
        read before the pair's last commit)."""
        snap = self.snap
        if self._read_before_commit():
            raise StaleWrite("the opportunity was read before the pair's last commit: re-read")
        stored = self._base()
        if stored is None:
            stored = self._unfinished_create()
        self.base = flight.settle(stored, snap.pc_values, snap.crm_values, self.mapping)
        decided = plan(self.base, snap.pc_values, snap.crm_values, self.mapping, self.facts)
        rebase.settle(decided)
        return decided

    def ready_for_partner_center(self) -> bool:
        """The opportunity holds what Partner Center needs for a referral (else its create
        shows why on the record and waits: :meth:`prepare_referral`)."""
        values = self.snap.crm_values
        return values is not None and not check_cosell_ready(values, self.mapping)

    def creates_opportunity(self, decided: Plan) -> bool:
        """The plan makes an opportunity (not a CRM lead) of the referral."""
        return decided.create == "opportunity" and not self._as_crm_lead()

    def _base(self) -> dict[str, Value] | None:
        """The link's base, re-based first for fields the mapping moved (store only)."""
        snap = self.snap
        if not snap.linked or snap.link is None:
            return None
        pc_values, crm_values = snap.pc_values, snap.crm_values
        if pc_values is None or crm_values is None:
            return snap.link.base
        moves = rebase.needed(snap.link, self.ctx.moved)
        if moves:
            base = rebase.rebased(snap.link.base, moves, pc_values, crm_values)
            entries = [
                self.status.entry("none", outcome="skipped", field=name, message=_rebased(move))
                for name, move in sorted(moves.items())
            ]
            update = LinkUpdate(link_id=snap.link.id, base=base)
            snap.link = self._store_link(update, entries)
            outcomes.log_entries(
                entries, referral_id=snap.link.referral_id, opportunity_id=snap.link.opportunity_id
            )
        rebase.view(snap.link.base, pc_values, crm_values)
        return snap.link.base

    def _unfinished_create(self) -> dict[str, Value] | None:
        """The base a CRM create recorded before it was made, when it stopped after the
        opportunity itself was written (see :func:`cosell.sync.core.pending.finish_create`)."""
        snap = self.snap
        if snap.linked or snap.link is None or snap.pc is None or snap.crm_values is None:
            return None
        return flight.finish_create(snap.link.base, snap.crm_values, self.mapping)

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
        link, ctx = self.snap.link, self.ctx
        if link is None or not self.snap.linked or self.snap.made_here:
            return []
        values = (self.snap.pc_values or {}, self.snap.crm_values or {})
        choices = resolutions.take_resolved(
            ctx.store, ctx.tenant, link, decided, values, self.mapping
        )
        message = "resolved by a person: {take} applied to both sides"
        self.entries += [
            self.status.entry(
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

    def _record_not_imported(self, decided: Plan) -> None:
        """A referral left out by a rule (a lead the mapping does not import, a closed one) is
        audited and logged with the reason and the setting that changes it, once per reason."""
        pc, ctx = self.snap.pc, self.ctx
        assert pc is not None
        message = "; ".join(s.reason for s in decided.skipped)
        last = ctx.store.audit_for(ctx.tenant, pc.id, limit=1)
        if not (last and last[0].outcome == "skipped" and last[0].message == message):
            entry = self.status.entry("none", outcome="skipped", message=message)
            entry = replace(entry, referral_id=pc.id)
            ctx.store.record_audit(ctx.tenant, [entry])
            outcomes.log_entry(entry)
        self._keep_dead_letter(message)
        self.ledger.put(ledger_states.skipped(pc.id, decided))

    def _sync_off(self, decided: Plan) -> bool:
        """An opportunity the ledger knows (it was flagged once) whose flag is now off."""
        crm = self.snap.crm
        assert crm is not None
        off = any(s.reason == SYNC_OFF for s in decided.skipped)
        return off and self.ledger.known(crm.id) not in (None, "skipped")

    def _keep_dead_letter(self, message: str) -> None:
        """A referral refused earlier (a dead letter, or still refused in the ledger after a
        retry took the dead letter off) that is now left out (it expired, it closed) never
        reached the CRM: it stays dead-lettered and ``expired``, saying both, instead of being
        cleared by this pass that did nothing."""
        pc, ctx = self.snap.pc, self.ctx
        assert pc is not None
        letter = ctx.store.dead_letter_for(ctx.tenant, f"referral:{pc.id}")
        prior = ctx.store.ledger_for(ctx.tenant, pc.id)
        unsettled = prior is not None and prior.state in ("refused", "waiting", "expired")
        if letter is None and not unsettled:
            return
        if letter is not None:
            earlier = letter.reason
        else:
            assert prior is not None
            earlier = prior.raw or prior.reason
        prefix = f"{ExpiredBeforeSync.__name__}: "
        if earlier.startswith(prefix) or NEVER_REACHED in earlier:
            reason = earlier.removeprefix(prefix)
        else:
            reason = f"{message}; {NEVER_REACHED}: {earlier}"
        self.ledger.put(
            LedgerUpdate("expired", pc.id, reason=self._expired_words(prior), raw=reason)
        )
        raise ExpiredBeforeSync(reason)

    def _expired_words(self, prior: LedgerRow | None) -> str:
        """What a seller reads: how it closed, and the side's words from the refusal."""
        pc = self.snap.pc
        assert pc is not None
        if prior is not None and prior.state == "expired":
            return prior.reason
        substatus = str(pc.raw.get("substatus") or pc.raw.get("status") or "Closed")
        why = prior.reason if prior is not None else "a side refused it"
        return f"{substatus} before it reached the CRM: {why}"

    # --- creates ---------------------------------------------------------------------------------

    def _as_crm_lead(self) -> bool:
        settings = self.mapping.partner_center
        return self.facts.referral_kind == "lead" and settings.import_leads_as == "lead"

    def _import_lead(self) -> bool:
        """A lead referral becomes a CRM lead, once; qualifying it is the seller's work."""
        pc, ctx = self.snap.pc, self.ctx
        assert pc is not None
        known = ctx.store.ledger_for(ctx.tenant, pc.id)
        if known is not None and known.state == "synced" and known.reason.startswith(LEAD_MADE):
            self.ledger.put(LedgerUpdate("synced", pc.id, reason=known.reason))
            return False
        with self.status.shown_on_record():
            lead_id = ctx.crm.import_lead(pc.id, lead_fields(pc.raw))
        message = f"lead {lead_id} created from referral {pc.id}"
        entry = replace(self.status.entry("to_crm", message=message), referral_id=pc.id)
        ctx.store.record_audit(ctx.tenant, [entry])
        outcomes.log_entry(entry)
        self.ledger.put(LedgerUpdate("synced", pc.id, reason=f"{LEAD_MADE} {lead_id}"))
        return False

    def _create_referral(self, decided: Plan) -> bool:
        prepared = self.prepare_referral(decided)
        with self.status.shown_on_record():
            created = prepared.found or self.ctx.pc.create(prepared.body)
        return self.finish_referral(decided, prepared, created)

    def prepare_referral(self, decided: Plan) -> PreparedReferral:
        """The referral's create, its intent recorded before it is sent, and the referral an
        earlier attempt made (looked up only after one); :class:`NotReady` when the
        opportunity lacks what Partner Center needs."""
        ctx, crm = self.ctx, self.snap.crm
        assert crm is not None
        assert self.snap.crm_values is not None
        problems = check_cosell_ready(self.snap.crm_values, self.mapping)
        if problems:
            self.status.refuse([str(p) for p in problems], self._crm_fields(problems))
        link = self.snap.link  # read with the pair held: an intent there is an earlier attempt's
        attempted = link is not None and link.intent is not None
        self._record_intent(Intent("partner_center", crm.id, f"opportunity:{crm.id}"))
        with self.status.shown_on_record():
            found = ctx.pc.find_created(crm.id, attempted=attempted)
        body = to_partner_center_create(
            decided.to_partner_center, CreateContext(crm.id), self.mapping
        )
        return PreparedReferral(body, found)

    def finish_referral(self, decided: Plan, prepared: PreparedReferral, created: PcRecord) -> bool:
        """What the create made (or found), committed: the link, its base and the audit."""
        ctx, crm = self.ctx, self.snap.crm
        assert crm is not None
        self.claim(f"referral:{created.id}")
        if ctx.store.get_cursor(ctx.tenant, refused_cursor(crm.id)) is not None:
            ctx.store.delete_cursor(ctx.tenant, refused_cursor(crm.id))  # refused no more
        verb = "found (created earlier)" if prepared.found else "created"
        entry = self.status.entry("to_partner_center", message=f"referral {created.id} {verb}")
        related.remember_rows(ctx, self.snap, decided, decided.new_base)
        self._commit(created, crm.id, decided.new_base, [entry], crm.modstamp)
        self.carried = [*self.entries, entry]
        self.crm_unchanged = crm
        self.pc_unchanged = created
        return True

    def _record_deleted_create(self, opportunity_id: str) -> bool:
        """The opportunity an earlier attempt made was deleted by a person before the link
        recorded it: the pair is linked to it (as any pair whose opportunity was deleted, it is
        reported missing and nothing is made again), audited and shown in the ledger."""
        pc = self.snap.pc
        assert pc is not None
        message = f"{DELETED_AS_CREATED.format(opportunity=opportunity_id)}: not created again"
        entry = replace(
            self.status.entry("none", outcome="skipped", message=message), referral_id=pc.id
        )
        # The base the create was planned with: restored from the bin, the record holds it.
        planned = flight.without_pending(self.snap.link.base) if self.snap.link else {}
        self._commit(pc, opportunity_id, planned, [entry], None)
        self.ledger.put(LedgerUpdate("skipped", pc.id, opportunity_id, reason=message))
        return False

    def _create_opportunity(self, decided: Plan) -> bool:
        prepared = self.prepare_create(decided)
        if prepared is None:
            return False
        with self.status.shown_on_record():
            made = self.ctx.crm.create(
                prepared.write, prepared.referral_id, prepared.extra, prepared.account_id
            )
        return self.finish_create(decided, prepared, made)

    def prepare_create(self, decided: Plan) -> PreparedCreate | None:
        """The opportunity's create, its intent recorded (with the base it will be created
        with) before it is sent; None when the customer's account waits for a person."""
        ctx, pc = self.ctx, self.snap.pc
        assert pc is not None
        entry = self.status.entry("to_crm", message=f"opportunity created from referral {pc.id}")
        choice = AccountReview(ctx).choose(pc, self.snap.link, entry, self.snap.account_match)
        if choice is None:
            reason = "the customer matches more than one account: a person chooses"
            update = LedgerUpdate("conflict", pc.id, reason=reason, setting="cosell conflicts")
            self.ledger.put(update)
            return None
        rows = {n: v for n, v in decided.to_crm.items() if _is_row(n, v, self.mapping)}
        recorded = flight.creating(decided.new_base, rows)
        # The intent and the base it will be created with, in one write.
        self._record_intent(Intent("crm", pc.id, f"referral:{pc.id}", recorded))
        write = related.with_note(ctx, to_crm_create(decided.to_crm, self.mapping), decided)
        write.solution_names.update(solutions.titles(pc.raw))
        if choice.account_id:
            entry = replace(entry, message=f"{entry.message} (account: {choice.rule})")
        elif write.account:
            write.account.update(new_account_fields(pc.raw, ctx.schema.account_fields))
        notice = self.status.notice(decided, pc)
        extra = self.status.fields(None, [entry], notice=notice, pending=write.opportunity)
        return PreparedCreate(pc.id, write, extra, choice.account_id, entry, choice.settled)

    def _record_intent(self, intent: Intent) -> None:
        if self.intents_later is not None:
            self.intents_later.append((self, intent))
            return
        store, tenant = self.ctx.store, self.ctx.tenant
        self.took_intent(
            store.record_create_intent(
                tenant, intent.side, intent.local_id, intent.key, intent.base
            )
        )

    def took_intent(self, link: Link) -> None:
        """The link as the store recorded this round's create intent."""
        self.intent = self.stored = link

    def finish_create(self, decided: Plan, prepared: PreparedCreate, made: Made) -> bool:
        """What the create made, committed: the link, its base and the audit (store only,
        unless the CRM takes the notes' Note in a call of its own)."""
        ctx, pc = self.ctx, self.snap.pc
        assert pc is not None
        opportunity_id = made.id
        self.claim(f"opportunity:{opportunity_id}")
        noted = related.mirror_notes(ctx, opportunity_id, decided)
        if prepared.write.solutions is not None:
            decided.new_base[ROWS_KEY] = list[Value](sorted(prepared.write.solutions))
        entries = [prepared.entry, *self.status.unmatched_team(prepared.write)]
        self._commit(pc, opportunity_id, decided.new_base, entries, None)
        self.pc_unchanged = pc
        # Read back by the create itself: the next round plans on it (unless a Note went since).
        self.crm_unchanged = None if noted else made.read
        self.status.audit_left_out(pc, opportunity_id)
        if prepared.settled is not None:
            resolutions.mark_applied(ctx.store, ctx.tenant, [prepared.settled])
        return True

    # --- updates ---------------------------------------------------------------------------------

    def _merge(self, decided: Plan) -> None:
        work = self.begin_merge(decided)
        if work is None:
            return
        if work.ops:
            self.write_ahead_partner_center(work)
            with self.status.shown_on_record():
                pc_after = self.patch_partner_center(work)
        else:
            pc_after = work.pc
        self.write_crm_after(work, pc_after)
        self.commit_merge(work, pc_after)

    def begin_merge(self, decided: Plan) -> MergeWork | None:
        """What the merge sends Partner Center (no write yet); None when the pair is parked
        as a loop instead."""
        snap = self.snap
        assert snap.pc is not None
        assert snap.crm is not None
        guard = LoopGuard(self.ctx, snap, self.status)
        if guard.parks(decided):
            return None
        new_base = dict(decided.new_base)
        unready, unready_fields = self._hold_unready(decided, new_base)
        ops = self._partner_center_ops(decided, new_base)
        return MergeWork(decided, guard, new_base, unready, unready_fields, ops, snap.pc)

    def write_crm_after(self, work: MergeWork, pc_after: PcRecord) -> None:
        """The merge's audit entries and its CRM write (with the status fields), after Partner
        Center took its part."""
        self.plan_crm_after(work, pc_after)
        self.send_crm_after(work)

    def plan_crm_after(self, work: MergeWork, pc_after: PcRecord) -> None:
        """The merge's audit entries and what it writes to the CRM, the base written ahead of
        that write (store only)."""
        snap, decided, new_base = self.snap, work.decided, work.new_base
        assert snap.pc is not None
        assert snap.crm is not None
        self.entries += self.status.decision_entries(decided)
        self.entries += self.status.conflict_entries(decided.conflicts)
        related.mirror_solutions(self.ctx, snap, decided)
        related.remember_rows(self.ctx, snap, decided, new_base)
        write = related.with_note(self.ctx, to_crm_fields(decided.to_crm, self.mapping), decided)
        write.solution_names.update(solutions.titles(snap.pc.raw))
        self.entries += self.status.unmatched_team(write)
        refusal = self.status.refusal(work.unready) if work.unready else None
        notice = work.notice = self.status.notice(decided, pc_after)
        extra = self.status.fields(
            snap.crm.opportunity, self.entries, refusal, notice, write.opportunity
        )
        if refusal is not None and self.status.shows_refusal(extra):
            self.entries.append(refusal)
        status_field = self.ctx.schema.names.status_field
        noticed = notice is not None and refusal is None and bool(status_field)
        noticed = work.noticed = noticed and status_field in extra
        if noticed and notice is not None:
            self.entries += [notice, *self.status.skip_entries(decided)]
        writes_crm = not write.is_empty() or bool(extra)
        if writes_crm or related.mirrors_notes(self.ctx, decided):
            self._agreed_after_partner_center(decided, new_base, pc_after)
        if decided.to_crm:
            self._write_ahead({"crm": decided.to_crm}, self._agreed(new_base, decided))
        if writes_crm:
            work.crm_write = (write, extra)

    def send_crm_after(self, work: MergeWork) -> None:
        """The merge's CRM write planned by :meth:`plan_crm_after`, and the notes' Note."""
        crm = self.snap.crm
        assert crm is not None
        with self.status.shown_on_record():
            if work.crm_write is not None:
                written = self._update_crm(crm, *work.crm_write)
                work.crm_wrote, self.crm_after = written.sent, written.read
            if related.mirror_notes(self.ctx, crm.id, work.decided):
                self.crm_after = None  # a Note went after the read-back

    def commit_merge(self, work: MergeWork, pc_after: PcRecord) -> None:
        """What the merge learnt, in one store transaction; :class:`NotReady` after it when
        changes were held back for data Partner Center needs."""
        snap, decided, crm_wrote = self.snap, work.decided, work.crm_wrote
        assert snap.crm is not None
        pc_wrote = pc_after is not snap.pc
        with self.ctx.store.together():  # what this round learnt: one store transaction
            written = _written(decided, pc_wrote, crm_wrote)
            work.guard.after(written, wrote=pc_wrote or crm_wrote)
            self.status.audit_left_out(pc_after, snap.crm.id)
            self._remember(decided, work.new_base, pc_after, work.notice, work.noticed)
            if work.unready:
                ids = (pc_after.id, snap.crm.id)
                self.ledger.put(ledger_states.waiting(work.unready_fields, work.unready, *ids))
            else:
                self._settle(decided, pc_after, work.notice)
        if work.unready:
            raise NotReady(work.unready)

    def _update_crm(self, crm: CrmRecord, write: CrmWrite, extra: Mapping[str, Any]) -> Written:
        """The CRM write of a merge. A 404 means the opportunity (or a row it names) went since
        it was read, a person deleted it: the pair is read again, and a pair whose opportunity
        is gone is reported missing, as after any delete, not refused with the CRM's words."""
        try:
            return self.ctx.crm.update(crm, write, extra)
        except NotFound as gone:
            raise StaleWrite(f"opportunity {crm.id} went since it was read: {gone}") from gone

    def _remember(
        self,
        decided: Plan,
        new_base: dict[str, Value],
        pc_after: PcRecord,
        notice: AuditEntry | None,
        noticed: bool,
    ) -> None:
        """The link after the writes: its base, versions and audit, when any of them moved."""
        snap = self.snap
        assert snap.crm is not None
        changed = not snap.linked or new_base != (snap.link.base if snap.link else None)
        changed = changed or self.wrote_ahead
        if changed or audit_trail.has_news(self.entries) or noticed:
            stored = self.status.to_store()
            link = self._commit(pc_after, snap.crm.id, new_base, stored, snap.crm.modstamp)
            resolutions.park(self.ctx.store, self.ctx.tenant, link.id, decided.conflicts)
        elif decided.skipped and self._edited_since_commit() and not self.status.on_record(notice):
            self._record_skips(decided, new_base)
        elif self._edited_since_commit():
            # Both sides agree with the base: remember the versions read (store only), so a
            # change signal about this very version can be told apart from a new change.
            self._commit(pc_after, snap.crm.id, new_base, [], snap.crm.modstamp)

    def _settle(self, decided: Plan, pc: PcRecord, notice: AuditEntry | None) -> None:
        crm = self.snap.crm
        assert crm is not None
        # A field waiting for a person is planned as a manual conflict on every pass until it
        # is resolved, so the plan says it without reading the conflicts table.
        waiting = {c.field for c in decided.conflicts if c.resolution == "manual"}
        closed = None
        if str(pc.raw.get("status") or "") == "Closed":
            closed = f"Closed: {pc.raw.get('substatus') or 'closed'} in Partner Center"
        update = ledger_states.settled(
            decided,
            pc.id,
            crm.id,
            conflicts=len(waiting),
            closed=closed,
            notice=notice.message if notice else None,
        )
        self.ledger.put(update)

    def _crm_fields(self, problems: list[Problem]) -> list[str]:
        specs = self.mapping.fields
        return [(specs[p.field].crm if p.field in specs else None) or p.field for p in problems]

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
            self.status.entry("none", outcome="skipped", field=s.field, message=s.reason)
            for s in decided.skipped
        ]
        self._commit(pc, crm.id, new_base, entries, crm.modstamp)

    def _partner_center_ops(
        self, decided: Plan, new_base: dict[str, Value]
    ) -> list[dict[str, Any]]:
        """The JSON Patch ops of the plan's Partner Center changes; a change Partner Center
        does not accept keeps its base (and is audited as skipped)."""
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
        return ops

    def write_ahead_partner_center(self, work: MergeWork) -> None:
        """The base with the Partner Center write in flight, stored before it is sent."""
        decided = work.decided
        sent: dict[str, dict[str, Value]] = {
            "partner_center": decided.to_partner_center,
            "crm": decided.to_crm,
            flight.BEFORE_CRM: {
                name: value
                for name, value in decided.agreed_before_crm.items()
                if name in decided.to_partner_center
            },
        }
        self._write_ahead(sent, dict(self.base or {}))

    def patch_partner_center(self, work: MergeWork) -> PcRecord:
        """The merge's Partner Center write (guarded by the eTag read): the referral after it."""
        return self.ctx.pc.patch(work.pc, work.ops)

    # --- what is known to be agreed while writing ------------------------------------------------

    def _agreed(self, new_base: dict[str, Value], decided: Plan) -> dict[str, Value]:
        """``new_base`` less what the CRM does not hold yet: the fields still to be written
        there keep their old base (and so do the solution rows' ids), but a field Partner
        Center took a merged value of has what both hold alike (``Plan.agreed_before_crm``)."""
        old = self.base or {}
        agreed = {**new_base, **{name: old.get(name) for name in decided.to_crm}}
        for name, value in decided.agreed_before_crm.items():
            if name in decided.to_partner_center:  # Partner Center took it (not held back)
                agreed[name] = value
        if ROWS_KEY in old:
            agreed[ROWS_KEY] = old[ROWS_KEY]
        else:
            agreed.pop(ROWS_KEY, None)
        return agreed

    def _write_ahead(self, sent: dict[str, dict[str, Value]], agreed: dict[str, Value]) -> None:
        """Store ``agreed`` as the base with ``sent`` in flight, before those writes are made
        (see :mod:`cosell.sync.core.pending`). Only a linked pair has a base to keep."""
        link = self.snap.link
        if link is None or not self.snap.linked:
            return
        update = LinkUpdate(link_id=link.id, base=flight.with_pending(agreed, sent))
        self._store_link(update, [])
        self.wrote_ahead = True

    def _agreed_after_partner_center(
        self, decided: Plan, new_base: dict[str, Value], pc_after: PcRecord
    ) -> None:
        """Partner Center took its changes: they are agreed now (the CRM held them when read),
        whatever happens to the CRM write that follows, so a later Partner Center edit is never
        met by them as a CRM change. With no CRM call to follow, the round's own commit right
        after says the same (and a crash before it leaves the writes in flight, settled by the
        next run as after any crash)."""
        link = self.snap.link
        if not self.wrote_ahead or link is None:
            return
        agreed = flight.with_pending(self._agreed(new_base, decided), {"crm": decided.to_crm})
        update = LinkUpdate(
            link_id=link.id, base=agreed, pc_etag=pc_after.etag, pc_changed_at=pc_after.changed_at
        )
        self._store_link(update, [])

    def _keep_base(
        self, name: str, new_base: dict[str, Value], decided: Plan, message: str
    ) -> None:
        """A field that cannot be sent keeps its base, so it is tried again after the next edit."""
        base = self.base or {}
        new_base[name] = base.get(name)
        decided.to_partner_center.pop(name, None)
        decided.decisions[:] = [d for d in decided.decisions if d.field != name]
        self.entries.append(
            self.status.entry("none", outcome="skipped", field=name, message=message)
        )

    def _hold_unready(
        self, decided: Plan, new_base: dict[str, Value]
    ) -> tuple[str | None, list[str]]:
        """Changes Partner Center would refuse are held back (with the reason); the rest syncs."""
        changes = decided.to_partner_center
        values = {**(self.snap.pc_values or {}), **changes}
        problems = [p for p in check_cosell_ready(values, self.mapping) if p.field in changes]
        for problem in problems:
            self._keep_base(problem.field, new_base, decided, str(problem))
        return "; ".join(str(p) for p in problems) or None, self._crm_fields(problems)

    # --- commit ----------------------------------------------------------------------------------

    def _commit(
        self,
        pc: PcRecord,
        opportunity_id: str,
        base: dict[str, Value],
        entries: Sequence[AuditEntry],
        modstamp: str | None,
    ) -> Any:
        known = self.snap.link or self.intent
        update = LinkUpdate(
            referral_id=pc.id,
            opportunity_id=opportunity_id,
            link_id=known.id if known else None,
            engagement_id=pc.engagement_id,
            base=dict(base),
            pc_etag=pc.etag,
            pc_changed_at=pc.changed_at,
            crm_modstamp=modstamp,
            crm_rows=self._crm_rows(modstamp),
            crm_read_at=self.snap.crm.read_at if self.snap.crm and modstamp else None,
            crm_fingerprint=self.snap.crm.fingerprint if self.snap.crm and modstamp else None,
        )
        link = self.committed = self._store_link(update, entries)
        if self.snap.link is None:
            self.made_link = link.id
        outcomes.log_entries(entries, referral_id=pc.id, opportunity_id=opportunity_id)
        return link

    def _store_link(self, update: LinkUpdate, entries: Sequence[AuditEntry]) -> Link:
        """Commit ``update`` with ``entries``, applied to the link as this round last stored
        or read it (the pair's lock is held: nobody else changed it since)."""
        current = self.stored or self.snap.link or self.intent
        self.stored = self.ctx.store.commit_sync(self.ctx.tenant, update, entries, current=current)
        return self.stored

    def _crm_rows(self, modstamp: str | None) -> dict[str, str] | None:
        """The related rows' versions of the CRM read being committed (kept when none is)."""
        crm = self.snap.crm
        return dict(crm.versions) if crm is not None and modstamp is not None else None


def _written(decided: Plan, pc_wrote: bool, crm_wrote: bool) -> dict[str, object]:
    """The synced fields a merge wrote, by ``field → side`` (for the loop detector)."""
    written: dict[str, object] = {}
    if pc_wrote:
        written |= {f"{k} → Partner Center": v for k, v in decided.to_partner_center.items()}
    if crm_wrote:
        written |= {f"{k} → CRM": v for k, v in decided.to_crm.items()}
    return written


def _rebased(move: rebase.Move) -> str:
    return (
        f"mapping changed ({move.what}): re-based, nothing written; the next edit of the field "
        "on either side syncs"
    )


def _is_row(name: str, value: Value, mapping: SyncMapping) -> bool:
    """A field a CRM create writes as related rows after the record (contacts, team)."""
    if not held_as_rows(mapping.fields[name]):
        return False  # the rest never are: no create of the whole mapping to learn it
    write = to_crm_create({name: value}, mapping)
    return write.contacts is not None or write.team is not None


def record_intents(ctx: Context, gathered: list[tuple[Reconcile, Intent]]) -> None:
    """The intents a batch gathered (see :attr:`Reconcile.intents_later`), recorded together:
    a statement for each side's new links, each round told its link."""
    sides: tuple[Side, ...] = ("crm", "partner_center")
    for side in sides:
        mine = [(step, intent) for step, intent in gathered if intent.side == side]
        if not mine:
            continue
        items = [(intent.local_id, intent.key, intent.base) for _, intent in mine]
        links = ctx.store.record_create_intents(ctx.tenant, side, items)
        for (step, _), link in zip(mine, links, strict=True):
            step.took_intent(link)
