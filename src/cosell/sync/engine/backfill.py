"""Backfill: a full pass over many records, page by page, that survives being killed.

``cosell sync`` runs this. Flagged-or-linked opportunities come first (200 to a batch),
then referrals, 450 to a batch from the Partner Center listing (pages of 100, oldest first by
creation). Each batch runs on an engine whose sides serve what the page already read (see
:mod:`cosell.sync.engine.paged_sides`): its new records through batched creates, the rest
through :class:`~cosell.sync.engine.full_sync.FullSync` (the durable queue: retries,
``Retry-After``, dead letters).

The checkpoint is a store cursor written after every finished batch:

* the last link id that existed when the backfill began: a pair linked *after* it (by this
  backfill, or by the run that was killed) and settled in the ledger (which only the write-back
  round records) is finished and is skipped without a call; pairs linked before, and pairs
  whose write-back a kill cut off, are reconciled as any full pass does;
* the creation time of the last referral of the last finished batch: a resumed run lists from
  there, so finished pages are not even listed again;
* whether the opportunities are done.

A batch that did not finish (a record dead-lettered or still retrying) freezes the checkpoint
for the rest of the run, so a resumed run looks at it again. The cursor is marked finished at
the end, and the next run starts a new backfill.

A batch's records that have no link go through
:class:`~cosell.sync.engine.batch_creates.BatchCreates` first (the same reconcile, a step at a
time for the whole batch); the queue gets the rest, and whatever those leave.

Before each batch's batched creates and each record the queue runs, background work respects
the Salesforce API reserve: while a call would eat into it, the backfill says so, waits, re-reads
the allowance and goes on when it allows. Work already started is finished, so nothing is left
half-made; the reserve can be overrun by at most the calls of the records in flight.

A backfill can be one :class:`Shard` of several running side by side, each in a process of its
own (``cosell sync`` on Salesforce, ``sync.backfill_processes``): a shard takes the referrals of
its customers (by the customer's lock name, else the referral's id) and the flagged
opportunities of its ids, lists every page and keeps its own, and checkpoints under a cursor of
its own. Two shards never touch one customer, so never one account, one pair or one key; the
locks of a pair stay this process's. All shards finish their opportunities before any starts on
referrals (``between_phases``): a referral one shard creates for an opportunity is listed by the
shard of its customer only once its link is committed.
"""

from __future__ import annotations

import json
import threading
import time
import zlib
from collections.abc import Callable, Iterator, Mapping, Sequence
from dataclasses import dataclass, field, replace
from datetime import UTC, datetime
from typing import TYPE_CHECKING, Any, Literal, Protocol, TypeVar

from cosell.clients.coalesce import Room
from cosell.clients.retry import RetryPolicy
from cosell.clients.salesforce_composite import GRAPH_LIMIT
from cosell.clients.salesforce_limits import ApiBudget
from cosell.clock import Clock
from cosell.errors import LimitReserveReached
from cosell.queue.owners import gone
from cosell.queue.protocol import queue_key
from cosell.store.records import Job, LedgerState, Link, TenantId
from cosell.sync.engine.batch_creates import BatchCreates, Outcome
from cosell.sync.engine.context import customer_key
from cosell.sync.engine.engine import UNSETTLED, Engine
from cosell.sync.engine.full_sync import CallMeter, FullSync, PassReport
from cosell.sync.engine.paged_sides import (
    PagedCrm,
    PagedPartnerCenter,
    coalescing,
    salesforce_lookup,
    salesforce_matcher,
    salesforce_primer,
    salesforce_reader,
)
from cosell.sync.sides.partner_center import PcRecord, pc_record
from cosell.sync.sides.salesforce.accounts import customer_of

if TYPE_CHECKING:
    from cosell.store.sql import Store

CURSOR = "backfill"
BATCH = 450
"""Referrals per batch (listing pages of 100, cut and joined): six full composite graph calls of
creates (75 graphs each); their lookups (five ``IN`` queries of referral ids, five of account
names) two full ``composite`` calls, and their read-back (three queries of 150 ids) one."""
OPPORTUNITY_BATCH = 200
"""Flagged opportunities per batch: one full sObject Collections call for their write-backs
and one for their new rows (200 each); their reads, two ``IN`` queries, go in one call."""
CREATED_ORDER = "createdDateTime asc"
"""Creation order is stable while the backfill's own writes change ``updatedDateTime``."""
LINGER = 5.0
"""Seconds at most a worker's create, read or guarded write waits for the other workers' to go
in the same request (see :mod:`cosell.clients.coalesce`). It goes at once when they all have
come, or when every worker that still has a record of the batch waits in one of these
requests; so the wait runs out only when a worker is held elsewhere (a throttled Partner Center
call waiting out its ``Retry-After``, the reserve gate). A batch's records are planned one
after the other under one interpreter lock, so they reach a step over a second or more: a
shorter wait sent each step in several requests (0.25 s: 65 graph calls for 1,000 referrals,
5 s: 20)."""
RESERVE_POLL = 60.0
"""Seconds between looks at the allowance while paused for the reserve."""
PATIENCE_CAP = 300.0
"""Seconds at most between the batch's own attempts at a shared call a client gave up on (a
``Retry-After`` up to an hour wins): as the work queue waits between a record's attempts."""
SPARE_HEADROOM = 10
"""Database connections a backfill leaves to others (a ``cosell run`` sharing the store, a
console, an operator's ``psql``) when it sizes its workers to the server's limit."""

Say = Callable[[str], None]
T = TypeVar("T")


@dataclass(frozen=True)
class Shard:
    """Which of ``count`` side-by-side backfills this one is (``index`` from 0): it takes the
    records whose key hashes to its index, and checkpoints under a cursor of its own."""

    index: int = 0
    count: int = 1

    def __post_init__(self) -> None:
        if not 0 <= self.index < self.count:
            raise ValueError(f"shard {self.index} of {self.count} does not exist")

    @property
    def cursor(self) -> str:
        return CURSOR if self.count == 1 else f"{CURSOR}.{self.index + 1}-of-{self.count}"

    def takes_referral(self, referral: Mapping[str, Any]) -> bool:
        """The referral (as listed) is this shard's: its customer's (every referral of one
        customer goes to one shard, which creates or matches their account), else its own
        id's."""
        return self._takes(customer_key(referral) or f"referral:{referral.get('id')}")

    def takes_opportunity(self, opportunity_id: str) -> bool:
        return self._takes(f"opportunity:{opportunity_id}")

    def _takes(self, key: str) -> bool:
        return self.count == 1 or zlib.crc32(key.encode()) % self.count == self.index

    @classmethod
    def all_of(cls, count: int) -> list[Shard]:
        return [cls(index, count) for index in range(count)]


@dataclass(frozen=True)
class Checkpoint:
    """Where a backfill is (see the module docstring)."""

    links_before: int
    created_after: str | None = None
    opportunities_done: bool = False
    finished: bool = False

    def dumps(self) -> str:
        return json.dumps(self.__dict__, sort_keys=True)

    @classmethod
    def loads(cls, text: str | None) -> Checkpoint | None:
        if not text:
            return None
        data = json.loads(text)
        return cls(**data) if isinstance(data, dict) and "links_before" in data else None


@dataclass
class Readout:
    """Records done this run, calls since it began, and the rates the progress bar shows."""

    meter: CallMeter
    started: float = field(default_factory=time.monotonic)
    records: int = 0
    _base: dict[str, int] = field(default_factory=dict)
    others: dict[int, dict[str, int]] = field(default_factory=dict)
    """The calls each other shard's process has sent (by shard index), as it last said."""

    def __post_init__(self) -> None:
        self._base = self.meter.snapshot()

    def calls(self) -> dict[str, int]:
        now = self.meter.snapshot()
        calls = {side: n - self._base.get(side, 0) for side, n in now.items()}
        for sent in self.others.values():
            for side, n in sent.items():
                calls[side] = calls.get(side, 0) + n
        return calls

    def line(self) -> str:
        per = max(self.records, 1)
        calls = " ".join(f"{side} {n / per:.2f}" for side, n in sorted(self.calls().items()))
        rate = self.records / max(time.monotonic() - self.started, 1e-9)
        return f"calls/record {calls or '-'} · {rate:.0f} records/s"


class ReserveGate:
    """Holds background work while the Salesforce allowance is down to its reserve."""

    def __init__(
        self, budget: ApiBudget, refresh: Callable[[], object], clock: Clock, say: Say
    ) -> None:
        self.budget = budget
        self.refresh = refresh
        self.clock = clock
        self.say = say
        self.poll = RESERVE_POLL
        self.pauses = 0
        self._lock = threading.Lock()

    def wait(self) -> None:
        """Return at once while the allowance allows; else pause, say why, and resume later."""
        with self._lock:  # one waiter polls; the other workers queue behind it
            paused = False
            while True:
                try:
                    self.budget.check("background")
                except LimitReserveReached as exc:
                    if not paused:
                        self.pauses += 1
                        self.say(f"paused: {exc}; looking again every {self.poll:.0f} s")
                    paused = True
                    self.clock.sleep(self.poll)
                    self.refresh()
                    continue
                if paused:
                    self.say("resumed: the Salesforce API allowance is above the reserve again")
                return


@dataclass
class BackfillReport:
    """What a backfill run did, over all its batches."""

    passes: PassReport = field(default_factory=PassReport)
    skipped: int = 0
    """Records finished by an earlier, interrupted run of the same backfill (no call made)."""
    resumed: bool = False
    released: int = 0
    """Keys whose leases a process of this host that is gone held, let go at the start."""

    def merge(self, other: BackfillReport) -> None:
        """Another shard's report added to this one."""
        left_out = self.passes.left_out + other.passes.left_out
        self.add(other.passes)
        self.passes.left_out = tuple(dict.fromkeys(left_out))
        self.skipped += other.skipped
        self.resumed |= other.resumed
        self.released += other.released

    def add(self, report: PassReport) -> None:
        total = self.passes
        self.passes = PassReport(
            total.keys + report.keys,
            total.synced + report.synced,
            total.failures + report.failures,
            report.left_out,
            total.held + report.held,
        )


def begin_shards(store: Store, tenant: TenantId, count: int) -> bool:
    """Before ``count`` shards start side by side: each one's checkpoint, fresh (one last link
    id for all, so a pair one shard links is finished for every other) unless the shard has an
    unfinished one to resume. True when any had (the shards resume a killed pass)."""
    shards = Shard.all_of(count)
    found = [Checkpoint.loads(store.get_cursor(tenant, shard.cursor)) for shard in shards]
    resumed = [c is not None and not c.finished for c in found]
    if all(resumed):
        return True
    fresh = Checkpoint(store.last_link_id(tenant))
    for shard, going in zip(shards, resumed, strict=True):
        if not going:
            store.set_cursor(tenant, shard.cursor, fresh.dumps())
    return any(resumed)


class Backfill:
    """Opportunities then referrals, a batch at a time, checkpointed in the store."""

    def __init__(
        self,
        engine: Engine,
        *,
        workers: int,
        max_attempts: int,
        clock: Clock,
        gate: ReserveGate | None = None,
        batch: int = BATCH,
        opportunity_batch: int = OPPORTUNITY_BATCH,
        linger: float = LINGER,
        shard: Shard = Shard(),
        between_phases: Callable[[], object] = lambda: None,
    ) -> None:
        self.store, self.tenant, self.clock = engine.store, engine.tenant, clock
        self.shard = shard
        self.between_phases = between_phases
        """Called once the opportunities are done, before the referrals (the shards' barrier)."""
        self.asked = workers
        workers = self.workers = fit_workers(engine.store, workers, shard.count)
        self.pc = PagedPartnerCenter(engine.pc)
        room = self.room = Room(workers)
        crm = coalescing(engine.crm, room, linger)
        self.crm = PagedCrm(
            crm,
            salesforce_lookup(crm),
            salesforce_reader(crm),
            salesforce_matcher(crm),
            primer=salesforce_primer(crm),
            room=room,
            linger=linger,
        )
        self.engine = _GatedEngine(
            store=engine.store,
            tenant=engine.tenant,
            partner_center=self.pc,
            crm=self.crm,
            clock=clock,
            loops=engine.context.loops,
        )
        self.engine.gate = gate
        self.engine.room = room
        self.full = FullSync(
            self.engine,
            workers=workers,
            max_attempts=max_attempts,
            clock=clock,
            own_keys_only=shard.count > 1,
        )
        self.creates = BatchCreates(self.engine, room, workers, self.crm.prime_reads)
        """A batch's referrals that no opportunity holds, a step for all at a time (see
        :mod:`cosell.sync.engine.batch_creates`); the rest, and what it leaves, to ``full``."""
        self.gate = gate
        self.patience = RetryPolicy(
            attempts=max_attempts, base=1.0, cap=PATIENCE_CAP, max_retry_after=3600.0, clock=clock
        )
        """The batch's own calls (the listing, the shared lookups and reads) are asked again
        under it when the client gives up: the pass waits the storm out instead of ending."""
        self.batch = batch
        self.opportunity_batch = opportunity_batch
        self.pages = 0
        """Listing pages read by this run."""
        self.after_batch: Callable[[Checkpoint], None] = lambda _checkpoint: None
        """Called after each batch, its checkpoint written (tests stop a run here)."""

    def run(
        self, progress: Callable[[str], None] | None = None, timeout: float = 300.0
    ) -> BackfillReport:
        checkpoint, report = self._begin()
        report.released = self._release_the_gone()
        try:
            checkpoint = self._opportunities(checkpoint, report, progress, timeout)
            self.between_phases()
            checkpoint = self._referrals(checkpoint, report, progress, timeout)
        finally:
            self.creates.close()
        self._save(replace(checkpoint, finished=True))
        return report

    def _release_the_gone(self) -> int:
        """The leases of processes of this host that no longer run (a killed pass's, a stopped
        service's) let go, so their keys are worked now, not reported held by a running
        service until the leases run out (see :mod:`cosell.queue.owners`)."""
        dead = sorted(owner for owner in self.store.lease_owners(self.tenant) if gone(owner))
        return self.store.release_leases(self.tenant, dead)

    # --- checkpoint -------------------------------------------------------------------------

    def checkpoint(self) -> Checkpoint | None:
        return Checkpoint.loads(self.store.get_cursor(self.tenant, self.shard.cursor))

    def _begin(self) -> tuple[Checkpoint, BackfillReport]:
        found = self.checkpoint()
        if found is not None and not found.finished:
            return found, BackfillReport(resumed=True)
        return Checkpoint(self.store.last_link_id(self.tenant)), BackfillReport()

    def _save(self, checkpoint: Checkpoint) -> None:
        self.store.set_cursor(self.tenant, self.shard.cursor, checkpoint.dumps())

    def _finished(
        self, link: Link | None, checkpoint: Checkpoint, state: LedgerState | None
    ) -> bool:
        """Linked by this backfill (this run or the one it resumes) and reconciled to the end:
        nothing left to do. A pair whose create was committed but whose second round (the
        write-back of what the create made, which records the ledger state) was not, is not."""
        return (
            link is not None
            and link.id > checkpoint.links_before
            and link.state == "linked"
            and bool(link.referral_id and link.opportunity_id)
            and state is not None
            and state not in UNSETTLED
        )

    def _states(
        self, kind: Literal["referral", "opportunity"], found: Mapping[str, Link]
    ) -> dict[str, LedgerState]:
        """The ledger states of the linked records among ``found`` (one read; none without)."""
        return self.store.ledger_states(self.tenant, kind, list(found)) if found else {}

    # --- opportunities ----------------------------------------------------------------------

    def _opportunities(
        self,
        checkpoint: Checkpoint,
        report: BackfillReport,
        progress: Callable[[str], None] | None,
        timeout: float,
    ) -> Checkpoint:
        if checkpoint.opportunities_done:
            return checkpoint
        ok = True
        every = self.patience.call(self.crm.flagged_or_linked)
        every = [i for i in every if self.shard.takes_opportunity(i)]
        self.patience.call(lambda: self.pc.prime_external_ids(len(every)))
        for ids in _chunks(every, self.opportunity_batch):
            found = self.store.links_by_opportunity(self.tenant, ids)
            states = self._states("opportunity", found)
            todo = [i for i in ids if not self._finished(found.get(i), checkpoint, states.get(i))]
            report.skipped += len(ids) - len(todo)
            self._patiently(self.crm.prime_reads, todo)
            if self.gate is not None:
                self.gate.wait()
            unlinked = [i for i in todo if found.get(i) is None]
            finished = self._batched(self.creates.run_opportunities(unlinked, progress), report)
            keys = [key for i in todo if (key := queue_key("opportunity", i)) not in finished]
            ok &= self._run_batch(keys, report, progress, timeout)
            self.after_batch(checkpoint)
        checkpoint = replace(checkpoint, opportunities_done=ok)
        self._save(checkpoint)
        return checkpoint

    # --- referrals --------------------------------------------------------------------------

    def _referrals(
        self,
        checkpoint: Checkpoint,
        report: BackfillReport,
        progress: Callable[[str], None] | None,
        timeout: float,
    ) -> Checkpoint:
        frozen = False
        for batch in self._batches(checkpoint.created_after):
            found = self.store.links_by_referral(self.tenant, [r.id for r in batch])
            states = self._states("referral", found)
            todo = [
                r
                for r in batch
                if not self._finished(found.get(r.id), checkpoint, states.get(r.id))
            ]
            report.skipped += len(batch) - len(todo)
            links = {r.id: found.get(r.id) for r in todo}
            self.pc.prime(todo)
            unlinked = [r for r in todo if links[r.id] is None]
            self._patiently(self.crm.prime_page, {r.id: customer_of(r.raw) for r in unlinked})
            linked = [link.opportunity_id for link in links.values() if link is not None]
            self._patiently(self.crm.prime_reads, [i for i in linked if i])
            if self.gate is not None:
                self.gate.wait()
            finished = self._batched(self.creates.run(unlinked, progress), report)
            keys = [key for r in todo if (key := queue_key("referral", r.id)) not in finished]
            frozen |= not self._run_batch(keys, report, progress, timeout)
            if not frozen:
                checkpoint = replace(checkpoint, created_after=_created(batch[-1]))
                self._save(checkpoint)
            self.after_batch(checkpoint)
        return checkpoint

    def _batches(self, created_after: str | None) -> Iterator[list[PcRecord]]:
        """The referrals of the listing pages (100 each), in batches of ``self.batch``."""
        batch: list[PcRecord] = []
        for page in self._pages(created_after):
            batch += page
            while len(batch) >= self.batch:
                yield batch[: self.batch]
                batch = batch[self.batch :]
        if batch:
            yield batch

    def _pages(self, created_after: str | None) -> Iterator[list[PcRecord]]:
        """The listing's pages, each cut to this shard's referrals (before batching, so a
        shard's batches are as full as a lone backfill's)."""
        where = None if created_after is None else f"createdDateTime ge {created_after}"
        keep = None if self.shard.count == 1 else self.shard.takes_referral
        listed = self.pc.client.list_pages(where, CREATED_ORDER, patience=self.patience, keep=keep)
        for page in listed:
            yield [pc_record(r.as_read()) for r in page.referrals if r.id]
            self.pages += 1

    def _batched(self, outcome: Outcome, report: BackfillReport) -> set[str]:
        """The keys the batched creates finished, counted in the report."""
        report.add(PassReport(len(outcome.done), len(outcome.done)))
        return set(outcome.done)

    def _patiently(self, step: Callable[[T], object], argument: T) -> None:
        self.patience.call(lambda: step(argument))

    # --- one batch --------------------------------------------------------------------------

    def _run_batch(
        self,
        keys: Sequence[str],
        report: BackfillReport,
        progress: Callable[[str], None] | None,
        timeout: float,
    ) -> bool:
        if not keys:
            return True
        if self.gate is not None:
            self.gate.wait()
        self.room.expect(len(keys))
        passed = self.full.run(list(keys), progress, timeout=timeout)
        report.add(passed)
        return passed.ok and not passed.held


class _GatedEngine(Engine):
    """The backfill's engine: each record waits at the reserve gate before it starts, and tells
    the workers' room when it is over (the others then stop waiting for it)."""

    gate: ReserveGate | None = None
    room: Room | None = None

    def reconcile(self, job: Job) -> None:
        try:
            if self.gate is not None:
                self.gate.wait()
            super().reconcile(job)
        finally:
            if self.room is not None:
                self.room.done()


class ConnectionBudget(Protocol):
    """What sizing the workers asks of the store (:class:`~cosell.store.sql.Store` has it)."""

    def spare_connections(self) -> int | None: ...

    def pool_connections(self) -> int: ...


def fit_workers(store: ConnectionBudget, workers: int, processes: int = 1) -> int:
    """``workers``, or fewer when the database could not serve them. On PostgreSQL each worker
    holds its pair's advisory locks on a session of its own for the whole reconcile (see
    :mod:`cosell.store.advisory_locks`), beside the store's pool: asked for more than the
    server has spare, the backfill would stop at "too many clients". ``processes`` backfills
    side by side (shards) share what is spare. Cut, they are cut to whole
    composite graph calls' worth (75 each) when there are that many, so a batch's creates fill
    their calls: 170 workers sent a batch of 450 referrals' creates in nine graph calls, 150 in
    six (Salesforce 1.74x the floor against 1.48x). SQLite: as asked."""
    spare = store.spare_connections()
    if spare is None:
        return workers
    share = (spare - SPARE_HEADROOM) // processes - store.pool_connections()
    fitted = max(1, min(workers, share))
    if fitted < workers and fitted >= GRAPH_LIMIT:
        fitted -= fitted % GRAPH_LIMIT
    return fitted


def _chunks(items: Sequence[T], size: int) -> Iterator[list[T]]:
    for start in range(0, len(items), size):
        yield list(items[start : start + size])


def _created(record: PcRecord) -> str | None:
    """The record's creation time floored to the second, as a ``$filter`` literal (the records
    of that second are listed again, and skipped when finished)."""
    value = record.raw.get("createdDateTime")
    if not value:
        return None
    when = value if isinstance(value, datetime) else datetime.fromisoformat(str(value))
    return when.astimezone(UTC).strftime("%Y-%m-%dT%H:%M:%SZ")
