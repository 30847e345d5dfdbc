"""Drift detection: read both sides of every linked pair from outside and compare them.

The store is used only to know which pairs are linked (and which conflicts a person has parked);
the comparison itself reads the referral from Partner Center and the opportunity with its related
rows (contacts, team, solutions) from the CRM, translates both through the mapping and compares
the canonical values (:mod:`cosell.sync.core.drift`), never the stored base or status.

A drifted pair is repaired as far as the owner rules allow: it is reconciled (at once by
``cosell verify``, through the queue inside the service) and checked again. So is a pair with
held differences: which side moved is not known from outside (an on-hold opportunity keeps the
seller's edits but takes Microsoft's), so the engine's own rules decide what may still flow.
A pair that still disagrees keeps a drift mark in the store and an audit row (outcome
``drift``, in ``cosell audit``) names its fields and both values; the mark is removed, with an
audit row, once the sides agree.

A pair parked as a loop (see :mod:`cosell.sync.engine.loop_guard`) is not read at all: it costs
no calls until a person resumes it. It is reported ``parked`` with its reason and counts as
disagreeing (``cosell sync --once`` exits non-zero while one is parked).
"""

from __future__ import annotations

import itertools
import math
import unicodedata
from collections.abc import Callable, Iterable, Iterator, Mapping, Sequence
from dataclasses import dataclass, field
from datetime import datetime
from typing import TYPE_CHECKING, Any, Literal

import structlog

from cosell.clients.partner_center import LIST_PAGE
from cosell.clock import Clock
from cosell.errors import CosellError, RetryableError
from cosell.queue.protocol import WorkQueue, queue_key
from cosell.store import drift as marks
from cosell.store import watch
from cosell.store.records import AuditEntry, LinkedPair, TenantId
from cosell.store.sql import Store
from cosell.sync.core import name_marker, solutions, team
from cosell.sync.core.drift import Comparison, FieldDrift, HeldField, compare
from cosell.sync.core.translate import from_crm, from_partner_center
from cosell.sync.engine.paged_sides import salesforce_reader
from cosell.sync.sides.crm_record import CrmRecord
from cosell.sync.sides.partner_center import PcRecord, pc_record
from cosell.sync.sides.salesforce.side import READ_BATCH

if TYPE_CHECKING:
    from cosell.sync.engine.engine import Engine

log = structlog.get_logger(__name__)

PairState = Literal["agrees", "held", "drift", "missing", "unreadable", "parked"]
DISAGREEING: tuple[PairState, ...] = ("drift", "unreadable", "parked")
SOLUTION_ROWS = "solutions (related list vs Products__c)"


@dataclass
class PairCheck:
    """One linked pair as verified."""

    link_id: int
    referral_id: str
    opportunity_id: str
    drift: list[FieldDrift] = field(default_factory=list)
    held: list[HeldField] = field(default_factory=list)
    parked: list[str] = field(default_factory=list)
    """Fields with an open conflict (``cosell conflicts``): parked for a person."""
    missing: str | None = None
    """``"referral"`` or ``"opportunity"`` when that side no longer exists."""
    error: str | None = None
    repaired: list[FieldDrift] = field(default_factory=list)
    """Drift found at first and gone after the repair."""
    loop: str | None = None
    """Why the pair is parked as a loop (it was not read)."""

    @property
    def state(self) -> PairState:
        if self.loop is not None:
            return "parked"
        if self.error is not None:
            return "unreadable"
        if self.missing is not None:
            return "missing"
        if self.drift:
            return "drift"
        return "held" if self.held or self.parked else "agrees"

    @property
    def disagrees(self) -> bool:
        """Drift no rule explains, or a pair that could not be read (so not shown to agree)."""
        return self.state in DISAGREEING

    def lines(self) -> list[str]:
        """Human-readable lines: the pair, then one per field."""
        pair = f"referral {self.referral_id} ↔ opportunity {self.opportunity_id}"
        out = [f"{self.state.upper()} {pair}"]
        out += [f"  {d.describe()}" for d in self.drift]
        out += [f"  repaired {d.describe()}" for d in self.repaired]
        out += [f"  held {h.field}: {h.reason}" for h in self.held]
        out += [f"  parked {name}: open conflict (cosell conflicts)" for name in self.parked]
        if self.missing:
            out.append(f"  linked {self.missing} not found")
        if self.error:
            out.append(f"  could not read: {self.error}")
        if self.loop:
            out.append(f"  parked, not read: {self.loop} (resume: cosell retry)")
        return [printable(line) for line in out]

    def to_json(self) -> dict[str, Any]:
        return {
            "link_id": self.link_id,
            "referral_id": self.referral_id,
            "opportunity_id": self.opportunity_id,
            "state": self.state,
            "drift": [_drift_json(d) for d in self.drift],
            "repaired": [_drift_json(d) for d in self.repaired],
            "held": [{**_drift_json(h), "reason": h.reason} for h in self.held],
            "parked": self.parked,
            "missing": self.missing,
            "error": self.error,
            "loop": self.loop,
        }


@dataclass
class VerifyReport:
    """What a verify run found: a count of its pairs by state, and the pairs themselves (with
    ``every_pair`` False, only those worth a look: not agreeing, or repaired; a check of a
    hundred thousand pairs keeps the few that need a person, not all of them)."""

    every_pair: bool = True
    pairs: list[PairCheck] = field(default_factory=list)
    counts: dict[PairState, int] = field(default_factory=dict)
    repaired: int = 0
    """Pairs that drifted and agree after the repair."""

    def add(self, check: PairCheck) -> None:
        self.counts[check.state] = self.counts.get(check.state, 0) + 1
        self.repaired += bool(check.repaired and not check.drift)
        if self.every_pair or check.state != "agrees" or check.repaired:
            self.pairs.append(check)

    @property
    def total(self) -> int:
        return sum(self.counts.values())

    @property
    def ok(self) -> bool:
        return not any(self.counts.get(state) for state in DISAGREEING)

    def count(self, state: PairState) -> int:
        return self.counts.get(state, 0)

    def summary(self) -> str:
        states: tuple[PairState, ...] = (
            "agrees",
            "held",
            "drift",
            "missing",
            "unreadable",
            "parked",
        )
        counts = ", ".join(f"{s}: {self.count(s)}" for s in states)
        return f"pairs: {self.total}, {counts}, repaired: {self.repaired}"


Repair = Callable[[LinkedPair], bool]
"""Reconciles a pair: at once (returns True, and the pair is checked again) or by putting its key
on the queue (returns False: the next visit checks it)."""


PRIME_BATCH = 5 * READ_BATCH
"""Pairs whose opportunities are read at once: five of the Salesforce side's ``read_many``
queries, which go in one ``composite`` call."""
LIST_FROM = LIST_PAGE
"""Pairs from which the referrals may be read from the listing rather than one by one."""


class Verifier:
    """Checks linked pairs through an engine's sides; optionally repairs and records."""

    def __init__(self, engine: Engine, clock: Clock) -> None:
        self.engine = engine
        self.clock = clock
        self._read_many = salesforce_reader(engine.crm)
        self._primed: dict[str, CrmRecord] = {}
        self._pc_primed: dict[str, PcRecord] = {}
        self._users: frozenset[str] | None = None
        self._marks: dict[int, dict[str, Any]] = {}

    @property
    def store(self) -> Store:
        return self.engine.store

    @property
    def tenant(self) -> TenantId:
        return self.engine.tenant

    def pairs(self) -> list[LinkedPair]:
        return marks.linked_pairs(self.store, self.tenant)

    def run(
        self,
        links: Iterable[LinkedPair],
        *,
        repair: Repair | None = None,
        record: bool = True,
        confirm: bool = False,
        every_pair: bool = True,
    ) -> VerifyReport:
        """Check each pair; repair drift (then check again) and record the outcome. With
        ``confirm``, new drift is audited only when the next visit sees it again (a pair read
        while a reconcile of it runs may look drifted for a moment). With ``every_pair`` False
        the report keeps only the pairs worth a look (it counts them all)."""
        parked = self._parked()
        loops = watch.parked(self.store, self.tenant)
        self._marks = marks.flags(self.store, self.tenant, unconfirmed=True) if record else {}
        report = VerifyReport(every_pair)
        links, self._users = list(links), None
        for batch, referrals in self._batches(links, loops):
            self._pc_primed = referrals
            self._prime([link for link in batch if link.id not in loops])
            for link in batch:
                self._visit(link, parked, loops, report, repair, record, confirm)
        self._primed, self._pc_primed, self._marks = {}, {}, {}
        kept = {check.link_id for check in report.pairs}
        order = {link.id: n for n, link in enumerate(links) if link.id in kept}
        report.pairs.sort(key=lambda check: order.get(check.link_id, len(links)))
        return report

    def _batches(
        self, links: Sequence[LinkedPair], loops: Mapping[int, Any]
    ) -> Iterator[tuple[list[LinkedPair], dict[str, PcRecord]]]:
        """The pairs in batches, each with the referrals already read for it. When there are
        more pairs to check than listing pages to read (the listing's ``@odata.count`` says
        how many), the referrals come from the listing, 100 a call, instead of one call each;
        a pair whose referral the listing did not hold is read on its own (it may be gone)."""
        wanted = {
            link.referral_id: link for link in links if link.referral_id and link.id not in loops
        }
        done: set[int] = set()
        if len(wanted) >= LIST_FROM:
            for batch, referrals in self._listed(wanted):
                done.update(link.id for link in batch)
                yield batch, referrals
        rest = [link for link in links if link.id not in done]
        for start in range(0, len(rest), PRIME_BATCH):
            yield rest[start : start + PRIME_BATCH], {}

    def _listed(
        self, wanted: dict[str, LinkedPair]
    ) -> Iterator[tuple[list[LinkedPair], dict[str, PcRecord]]]:
        pages = self.engine.pc.client.list_pages()
        first = next(pages, None)
        if first is None:
            return
        cheaper = first.count is not None and math.ceil(first.count / LIST_PAGE) < len(wanted)
        batch: list[LinkedPair] = []
        found: dict[str, PcRecord] = {}
        for page in itertools.chain([first], pages if cheaper else []):
            listed = {r.id: pc_record(r.as_read()) for r in page.referrals if r.id in wanted}
            batch += [wanted.pop(referral_id) for referral_id in listed]
            found |= listed
            if len(batch) >= PRIME_BATCH:
                yield batch, found
                batch, found = [], {}
        if batch:
            yield batch, found

    def _prime(self, links: Sequence[LinkedPair]) -> None:
        """Read the opportunities of ``links`` at once when the CRM can (many a query); each is
        used for its pair's first read, a re-check after a repair reads again. Pairs parked as
        loops are left out by the caller: they cost no call."""
        ids = [link.opportunity_id for link in links if link.opportunity_id]
        self._primed = self._read_many(ids) if self._read_many is not None and ids else {}

    def _visit(
        self,
        link: LinkedPair,
        parked: dict[int, list[str]],
        loops: dict[int, dict[str, Any]],
        report: VerifyReport,
        repair: Repair | None,
        record: bool,
        confirm: bool,
    ) -> None:
        if link.id in loops:
            check = PairCheck(link.id, link.referral_id or "", link.opportunity_id or "")
            check.loop = str(loops[link.id].get("parked"))
            report.add(check)
            return
        check = self.check(link, parked.get(link.id, []))
        if (check.drift or check.held) and repair is not None:
            check = self._repaired(link, check, repair, parked.get(link.id, []))
        if record:
            self._record(check, confirm=confirm)
        report.add(check)

    def check(self, link: LinkedPair, parked: Sequence[str] = ()) -> PairCheck:
        """Read both sides of ``link`` now and compare them per the mapping."""
        check = PairCheck(link.id, link.referral_id or "", link.opportunity_id or "")
        try:
            compared = self._compare(check)
        except RetryableError:
            raise
        except CosellError as exc:
            check.error = str(exc)
            return check
        if compared is None:
            return check
        check.parked = [name for name in parked if _differs(compared, name)]
        check.drift = [d for d in compared.drift if d.field not in check.parked]
        check.held = [h for h in compared.held if h.field not in check.parked]
        return check

    def _compare(self, check: PairCheck) -> Comparison | None:
        engine, mapping, names = self.engine, self.engine.mapping, self.engine.schema.names
        crm = self._primed.pop(check.opportunity_id, None) or engine.crm.read(check.opportunity_id)
        pc = self._pc_primed.pop(check.referral_id, None) or engine.pc.read(check.referral_id)
        if crm is None or pc is None:
            check.missing = "opportunity" if crm is None else "referral"
            return None
        pc_values = from_partner_center(pc.wire, mapping)
        related = crm.related(names, None)
        if related.team is not None and crm.team is not None:
            pc_team = pc.raw.get("team") or []
            if self._users is None:  # read once a run: the org's users rarely change
                self._users = frozenset(crm.users)
            users = self._users
            related = type(related)(
                account=related.account,
                contacts=related.contacts,
                team=team.crm_view(crm.team, pc_team, users),
                solutions=related.solutions,
            )
        opportunity = name_marker.unmarked(crm.opportunity, mapping, None)
        crm_values = from_crm(opportunity, related, mapping)
        extra: dict[str, tuple[Any, Any]] = {}
        solution_field = solutions.field_name(mapping)
        if solution_field is not None:
            rows, typed = crm.solution_ids(names), crm.typed_solutions(names)
            wanted = [str(v) for v in pc_values.get(solution_field) or []]  # type: ignore[union-attr]
            spec = mapping.fields[solution_field]
            agreed = set(wanted) == {str(v) for v in crm_values.get(solution_field) or []}  # type: ignore[union-attr]
            if agreed and solutions.out_of_step(rows, typed, wanted, spec):
                extra[SOLUTION_ROWS] = (sorted(rows or []), typed)
        enabled = bool(crm.opportunity.get(names.sync_flag_field))
        return compare(pc_values, crm_values, mapping, sync_enabled=enabled, crm_extra=extra)

    def _repaired(
        self, link: LinkedPair, first: PairCheck, repair: Repair, parked: Sequence[str]
    ) -> PairCheck:
        try:
            if not repair(link):
                return first
        except CosellError as exc:
            log.warning("verify.repair_failed", link=link.id, error=str(exc))
        again = self.check(link, parked)
        still = {d.field for d in again.drift} | {h.field for h in again.held}
        before = [*first.drift, *(FieldDrift(h.field, h.partner_center, h.crm) for h in first.held)]
        again.repaired = [d for d in before if d.field not in still]
        return again

    def _parked(self) -> dict[int, list[str]]:
        parked: dict[int, list[str]] = {}
        for conflict in self.store.conflicts(self.tenant, "open"):
            parked.setdefault(conflict.link_id, []).append(conflict.field)
        return parked

    def _record(self, check: PairCheck, *, confirm: bool = False) -> None:
        """Audit a drifted pair once per distinct drift and mark it; clear the mark once it
        agrees. Nothing is written for a pair that stays as it was. With ``confirm`` a new drift
        is first marked as seen once, and audited when seen again."""
        store, tenant = self.store, self.tenant
        if check.state == "unreadable":
            return
        known = self._marks.get(check.link_id)
        if not check.drift:
            cleared = known is not None and marks.clear(store, tenant, check.link_id)
            self._marks.pop(check.link_id, None)
            cleared = cleared and _confirmed(known)
            if cleared or check.repaired:
                self._audit(check, "drift repaired: the sides agree", check.repaired)
            return
        drift = {d.field: _drift_json(d) for d in check.drift}
        same = known is not None and known.get("fields") == drift
        if same and _confirmed(known):
            return
        sightings = 2 if same or not confirm else 1
        mark = {"fields": drift, "sightings": sightings, "at": _stamp(self.clock.now())}
        marks.flag(store, tenant, check.link_id, mark)
        self._marks[check.link_id] = mark
        if sightings == 2:
            self._audit(check, "drift: the sides disagree", check.drift)

    def _audit(self, check: PairCheck, message: str, drifts: Sequence[FieldDrift]) -> None:
        entries = [
            AuditEntry(
                "none",
                "drift",
                field=d.field,
                old=d.partner_center,
                new=d.crm,
                message=f"{message} (Partner Center → old, CRM → new)",
                referral_id=check.referral_id,
                opportunity_id=check.opportunity_id,
            )
            for d in drifts
        ] or [
            AuditEntry(
                "none",
                "drift",
                message=message,
                referral_id=check.referral_id,
                opportunity_id=check.opportunity_id,
            )
        ]
        self.store.record_audit(self.tenant, entries)


def reconcile_now(engine: Engine) -> Repair:
    """The repair of ``cosell verify``: reconcile the pair in this process."""

    def repair(link: LinkedPair) -> bool:
        engine.reconcile_key(queue_key("referral", link.referral_id or ""))
        return True

    return repair


def through_queue(queue: WorkQueue, tenant: TenantId) -> Repair:
    """The repair inside the service: the pair's key goes on the work queue."""

    def repair(link: LinkedPair) -> bool:
        queue.enqueue(tenant, queue_key("referral", link.referral_id or ""))
        return False

    return repair


class BudgetedVerify:
    """The service's periodic drift check: ``pairs`` linked pairs per look, rotating through all
    of them (the position is a store cursor, so a restart carries on). Reads go through the same
    clients as the engine, so the Salesforce budget reserve and throttling defer a look."""

    def __init__(self, verifier: Verifier, repair: Repair, pairs: int) -> None:
        self.verifier = verifier
        self.repair = repair
        self.pairs = pairs

    def look(self) -> int:
        store, tenant = self.verifier.store, self.verifier.tenant
        if self.pairs <= 0:
            return 0
        after = int(store.get_cursor(tenant, marks.ROTATION) or 0)
        links = marks.linked_pairs(store, tenant, after, self.pairs)
        if len(links) < self.pairs and after > 0:
            seen = {link.id for link in links}
            wrapped = marks.linked_pairs(store, tenant, 0, self.pairs - len(links))
            links += [link for link in wrapped if link.id not in seen]
        if not links:
            return 0
        report = self.verifier.run(links, repair=self.repair, confirm=True)
        store.set_cursor(tenant, marks.ROTATION, str(links[-1].id))
        drifted = [p for p in report.pairs if p.drift]
        for pair in drifted:
            fields = [d.field for d in pair.drift]
            log.warning("verify.drift", referral=pair.referral_id, fields=fields)
        return len(drifted)


def printable(text: str) -> str:
    """``text`` without terminal control characters (values come from records and servers)."""
    return "".join("\ufffd" if unicodedata.category(c) == "Cc" else c for c in text)


def _confirmed(mark: dict[str, Any] | None) -> bool:
    return mark is not None and int(mark.get("sightings", 2)) >= 2


def _differs(compared: Comparison, name: str) -> bool:
    return any(d.field == name for d in compared.drift) or any(
        h.field == name for h in compared.held
    )


def _drift_json(d: FieldDrift | HeldField) -> dict[str, Any]:
    return {"field": d.field, "partner_center": d.partner_center, "crm": d.crm}


def _stamp(at: datetime) -> str:
    return at.isoformat(timespec="seconds")
