"""A backfill batch's new records, reconciled a step at a time for the whole batch.

The work queue runs one reconcile per worker: each claims its key, reads, plans, creates the
record on the other side, commits, plans again, writes back what the create made and commits,
every store write a transaction of its own. For a backfill's records that have no link (a
referral no opportunity holds, a flagged opportunity that holds no referral),
:class:`BatchCreates` runs the same steps of :class:`Reconcile` (the same code) for the whole
batch at once: each step's store writes in one transaction, the creates and the write-backs
side by side (on Salesforce in shared requests, see :mod:`cosell.clients.coalesce`). The
records are reconciled as the queue would reconcile them (``tests/sync/test_batch_creates.py``
compares the two from the outside), and a record it cannot finish (an error, a refusal, a 412,
anything not a plain create) is handed to the queue as it stands.

The batch leases its keys in the work queue first, as a worker leases its key, and holds every
pair's lock: a ``cosell run`` sharing the store never works on one of them meanwhile.

Each step leaves every record in a state a reconcile already knows how to go on from, as after
a crash at that point: a create's intent recorded (the next reconcile looks the record up
before creating it), a link committed, a write-back in flight (settled by the next read). A
transaction of a step that fails is rolled back whole and its records go to the queue in the
state before it.
"""

from __future__ import annotations

import logging
from collections.abc import Callable, Iterator, Mapping, Sequence
from concurrent.futures import Future, ThreadPoolExecutor, wait
from contextlib import ExitStack, contextmanager
from dataclasses import dataclass, field
from typing import TypeVar

from cosell.clients.at_once import CallsAtOnce
from cosell.clients.coalesce import Room
from cosell.clients.salesforce_composite import GRAPH_LIMIT
from cosell.errors import CosellError
from cosell.queue.lease import LeaseKeeper
from cosell.queue.owners import owner_name
from cosell.queue.protocol import KeyKind
from cosell.redaction import redact_text
from cosell.store.records import AuditEntry
from cosell.sync.core.plan import Plan
from cosell.sync.engine.context import Snapshot, customer_key
from cosell.sync.engine.engine import Engine, Unchanged
from cosell.sync.engine.paged_sides import PagedCrm
from cosell.sync.engine.pair_locks import Held
from cosell.sync.engine.reconcile import (
    Intent,
    MergeWork,
    PreparedCreate,
    PreparedReferral,
    Reconcile,
    record_intents,
)
from cosell.sync.sides.crm_record import Made
from cosell.sync.sides.partner_center import PcRecord
from cosell.sync.sides.salesforce.accounts import CreatedAccounts, customer_of
from cosell.sync.sides.salesforce.side import Create

log = logging.getLogger("cosell.sync.batch")

Progress = Callable[[str], None]
R = TypeVar("R")
LEASE = 300.0
"""Seconds a batch's lease on its keys lasts, renewed every third of it while the batch runs
(as the queue's workers keep theirs)."""
WRITERS = 16
"""Partner Center calls (write-backs, creates: it has no batch write) in flight at once at
most; how many run at once below that is set by how long its answers take (see
:mod:`cosell.clients.at_once`)."""


@dataclass
class _Pair:
    """One record on its way through the steps: a referral becoming an opportunity, or an
    opportunity becoming a referral."""

    kind: KeyKind
    record_id: str
    correlation_id: str
    step: Reconcile
    decided: Plan
    prepared: PreparedCreate | None = None
    """A referral's opportunity, planned and its intent recorded."""
    made: Made | None = None
    """The opportunity its create made."""
    referral: PreparedReferral | None = None
    """An opportunity's referral, planned and its intent recorded."""
    created: PcRecord | None = None
    """The referral its create made."""
    work: MergeWork | None = None
    """The second round's merge between its steps."""
    after: PcRecord | None = None
    """The referral after the second round's Partner Center write (or as it was, without)."""

    @property
    def key(self) -> str:
        return f"{self.kind}:{self.record_id}"


@dataclass
class Outcome:
    """The keys the batch finished (as a reconcile that returned) and those left to the queue."""

    done: list[str] = field(default_factory=list)
    handed: list[str] = field(default_factory=list)


class BatchCreates:
    """A backfill batch's new records (referrals into opportunities, flagged opportunities into
    referrals), a step for all at a time."""

    def __init__(
        self,
        engine: Engine,
        room: Room,
        workers: int,
        prime_reads: Callable[[Sequence[str]], object] = lambda _ids: None,
    ) -> None:
        self.engine = engine
        self.room = room
        self.prime_reads = prime_reads
        """Reads the opportunities a batch created, at once (where the creates did not read
        them back): the second round's reads then make no call."""
        self.workers = max(1, workers)
        self.writers = min(self.workers, WRITERS)
        self.partner_center_calls = CallsAtOnce(self.writers, least=min(2, self.writers))
        """How many of the writers call Partner Center at once."""
        self._pools: dict[int, ThreadPoolExecutor] = {}
        self._owner = owner_name("batch-")
        self._leases = LeaseKeeper(engine.store, LEASE)
        self.finished = 0
        """Records finished here, over every run (the rest went to the queue)."""

    def close(self) -> None:
        self._leases.stop()
        for pool in self._pools.values():
            pool.shutdown()
        self._pools.clear()

    def run(self, records: Sequence[PcRecord], progress: Progress | None = None) -> Outcome:
        """Reconcile ``records`` (referrals the store has no link for) into opportunities;
        what could not be finished here is in ``handed``, for the queue."""
        by_id = {r.id: r for r in records}
        customers = {r.id: key for r in records if (key := customer_key(r.raw))}

        def plan(ids: list[str], held: Held, outcome: Outcome) -> list[_Pair]:
            return self._planned([by_id[i] for i in ids], held, outcome)

        return self._run("referral", list(by_id), customers, plan, self._created, progress)

    def run_opportunities(
        self, opportunity_ids: Sequence[str], progress: Progress | None = None
    ) -> Outcome:
        """Reconcile flagged opportunities the store has no link for into referrals (their
        reads primed by the batch); what could not be finished here is in ``handed``."""
        plan, create = self._planned_referrals, self._referrals_created
        return self._run("opportunity", list(opportunity_ids), {}, plan, create, progress)

    def _run(
        self,
        kind: KeyKind,
        ids: list[str],
        customers: Mapping[str, str],
        plan: Callable[[list[str], Held, Outcome], list[_Pair]],
        create: Callable[[list[_Pair], Outcome], list[_Pair]],
        progress: Progress | None,
    ) -> Outcome:
        """The steps for the records ``ids`` of ``kind`` that this batch leases and that have
        no link, their pairs' locks held (``customers``: a referral's customer's lock)."""
        outcome = Outcome()
        if not ids:
            return outcome
        engine = self.engine
        engine.apply_mapping()
        with self._leased([f"{kind}:{i}" for i in ids], outcome) as mine:
            ids = [i for i in ids if f"{kind}:{i}" in mine]
            names = {f"{kind}:{i}" for i in ids} | {customers[i] for i in ids if i in customers}
            with engine.pairs.hold(*names) as held:
                if kind == "referral":
                    linked = engine.store.links_by_referral(engine.tenant, ids)
                else:
                    linked = engine.store.links_by_opportunity(engine.tenant, ids)
                outcome.handed += [f"{kind}:{i}" for i in ids if i in linked]
                pairs = plan([i for i in ids if i not in linked], held, outcome)
                pairs = create(pairs, outcome)
                with self._reading_back(pairs) as read_back:
                    pairs = self._committed(pairs, outcome)
                    read_back(pairs)
                self._second_round(pairs, held, outcome)
        return self._told(outcome, progress)

    @contextmanager
    def _reading_back(self, pairs: list[_Pair]) -> Iterator[Callable[[list[_Pair]], None]]:
        """The opportunities the creates made and did not read back, read at once on a thread
        of their own while the creates are committed (the commit is the store's, the read the
        CRM's: neither waits for the other). The block's function, given the committed pairs,
        waits for that read, and reads at once again should a commit have left more unread (a
        Note the CRM took in a call of its own). A failed read is logged: each is then read
        on its own."""
        made = [p.made.id for p in pairs if p.made is not None and p.made.read is None]
        reading = self._pool(1).submit(self.prime_reads, made) if made else None

        def read_back(committed: list[_Pair]) -> None:
            unread = [p.made.id for p in committed if p.made and p.step.crm_unchanged is None]
            try:
                if reading is not None:
                    reading.result()
                if not set(unread) <= set(made):
                    self.prime_reads(unread)
            except Exception as exc:  # each is read on its own then
                log.info("reading the created opportunities at once: %s", redact_text(str(exc)))

        try:
            yield read_back
        finally:
            if reading is not None:
                wait([reading])

    @contextmanager
    def _leased(self, keys: Sequence[str], outcome: Outcome) -> Iterator[set[str]]:
        """The keys leased in the work queue for the block, as a worker of it leases a key
        (kept alive while the block runs): a running ``cosell run`` sharing the store never
        works on one of them meanwhile, and those it holds already go to the queue's pass,
        which reports them. At the end the finished keys are completed (their dead letters
        cleared) and the rest handed back for the queue's workers."""
        store = self.engine.store
        self._leases.start()  # once; stopped by close()
        jobs = store.lease_keys(self.engine.tenant, keys, self._owner, LEASE)
        mine = {job.key: job for job in jobs}
        outcome.handed += [key for key in keys if key not in mine]
        with ExitStack() as kept:
            for job in jobs:
                kept.enter_context(self._leases.holding(job))
            yield set(mine)
        done = set(outcome.done)
        store.complete_many([job for key, job in mine.items() if key in done])
        store.hand_back_many([job for key, job in mine.items() if key not in done])

    def _second_round(self, pairs: list[_Pair], held: Held, outcome: Outcome) -> None:
        """What each create made, written back (to Partner Center, or to the CRM), and
        committed."""
        pairs = self._planned_back(pairs, held, outcome)
        pairs = self._written_back(pairs, outcome)
        pairs = self._crm_planned(pairs, outcome)
        pairs = self._crm_written(pairs, outcome)
        self._settled(pairs, outcome)

    def _told(self, outcome: Outcome, progress: Progress | None) -> Outcome:
        self.finished += len(outcome.done)
        if progress is not None:
            for key in outcome.done:
                progress(key)
        return outcome

    # --- round one: the create --------------------------------------------------------------

    def _planned(self, records: Sequence[PcRecord], held: Held, outcome: Outcome) -> list[_Pair]:
        """Each referral read and planned; those that are not a plain create of an
        opportunity (a lead, one a rule leaves out, one an opportunity holds already, one whose
        customer could be an account created in this batch) go to the queue."""
        engine, pairs = self.engine, []
        planned_accounts = CreatedAccounts()
        self.room.expect(1)  # only this thread calls the CRM now: its calls go at once
        for pc in records:
            customer = customer_of(pc.raw)
            if planned_accounts.could_pick(customer):
                outcome.handed.append(f"referral:{pc.id}")
                continue
            try:
                snapshot = engine.read_unlinked(pc)
                if snapshot is None:
                    outcome.handed.append(f"referral:{pc.id}")
                    continue
                with engine.pc.correlated() as correlation_id:
                    step = self._step(snapshot, correlation_id, held)
                decided = step.decide() if step.plannable() else None
            except Exception as exc:
                log.info("referral:%s: left to the queue: %s", pc.id, redact_text(str(exc)))
                outcome.handed.append(f"referral:{pc.id}")
                continue
            if decided is None or not step.creates_opportunity(decided):
                outcome.handed.append(f"referral:{pc.id}")
                continue
            planned_accounts.add({"Name": customer.name, "DunsNumber": customer.duns})
            pairs.append(_Pair("referral", pc.id, correlation_id, step, decided))
        return pairs

    def _created(self, pairs: list[_Pair], outcome: Outcome) -> list[_Pair]:
        """The creates, sent side by side (on Salesforce in shared composite graph calls), a
        composite graph's worth at a time: its intents recorded in one transaction, then sent
        while the next are recorded, so Salesforce makes them meanwhile."""

        def create(pair: _Pair) -> Made:
            prepared, step = pair.prepared, pair.step
            assert prepared is not None
            try:
                with step.status.shown_on_record():
                    return self.engine.crm.create(
                        prepared.write, prepared.referral_id, prepared.extra, prepared.account_id
                    )
            finally:
                self.room.done()

        crm = self.engine.crm
        if isinstance(crm, PagedCrm) and crm.creates_at_once:
            return self._created_at_once(crm, pairs, outcome)
        self.room.expect(len(pairs))
        sent: list[_Pair] = []
        futures: list[Future[Made]] = []
        for start in range(0, len(pairs), GRAPH_LIMIT):
            chunk = pairs[start : start + GRAPH_LIMIT]
            ready = self._prepared(chunk, outcome)
            for _ in range(len(chunk) - len(ready)):
                self.room.done()  # no create of theirs will come
            sent += ready
            futures += self._submit(create, ready, self.workers)
        made = self._gathered(sent, futures, outcome, "creating the opportunity")
        for pair, result in zip(sent, made, strict=True):
            pair.made = result
        return [pair for pair in sent if pair.made is not None]

    def _created_at_once(self, crm: PagedCrm, pairs: list[_Pair], outcome: Outcome) -> list[_Pair]:
        """The creates a composite graph call's worth at a time, each call made from one
        thread with its records' graphs (not a thread a record gathering them): its intents
        recorded in one transaction, then sent while the next are recorded. A create refused
        is shown on its record and handed to the queue, as one sent on its own."""

        def create(chunk: list[_Pair]) -> list[Made | Exception]:
            creates = []
            for pair in chunk:
                prepared = pair.prepared
                assert prepared is not None
                write, extra = prepared.write, prepared.extra
                creates.append(Create(write, prepared.referral_id, extra, prepared.account_id))
            return crm.create_many(creates)

        sent: list[tuple[list[_Pair], Future[list[Made | Exception]]]] = []
        for start in range(0, len(pairs), GRAPH_LIMIT):
            ready = self._prepared(pairs[start : start + GRAPH_LIMIT], outcome)
            if ready:
                sent.append((ready, self._pool(self.workers).submit(create, ready)))
        made: list[_Pair] = []
        for chunk, future in sent:
            try:
                answers = future.result()
            except Exception as exc:
                self._hand(chunk, outcome, "creating the opportunity", exc)
                continue
            for pair, answer in zip(chunk, answers, strict=True):
                try:
                    with pair.step.status.shown_on_record():
                        if isinstance(answer, Exception):
                            raise answer
                except Exception as exc:
                    self._hand([pair], outcome, "creating the opportunity", exc)
                    continue
                assert isinstance(answer, Made)
                pair.made = answer
                made.append(pair)
        return made

    def _prepared(self, pairs: list[_Pair], outcome: Outcome) -> list[_Pair]:
        """The creates' intents, in one transaction."""
        ready: list[_Pair] = []
        gathered: list[tuple[Reconcile, Intent]] = []
        try:
            with self.engine.store.together():
                for pair in pairs:
                    pair.step.intents_later = gathered
                    pair.prepared = pair.step.prepare_create(pair.decided)
                    pair.step.intents_later = None
                    if pair.prepared is None:
                        outcome.done.append(pair.key)  # waits for a person's account choice
                    else:
                        ready.append(pair)
                record_intents(self.engine.context, gathered)  # one statement, before any send
        except Exception as exc:
            return self._hand(pairs, outcome, "recording the creates' intents", exc)
        self.engine.stats.count("reconciles", len(pairs))
        return ready

    def _committed(self, pairs: list[_Pair], outcome: Outcome) -> list[_Pair]:
        """What the creates made (opportunities, or referrals), committed in one transaction."""

        def finish(pair: _Pair) -> None:
            if pair.prepared is not None and pair.made is not None:
                pair.step.finish_create(pair.decided, pair.prepared, pair.made)
            else:
                assert pair.referral is not None
                assert pair.created is not None
                pair.step.finish_referral(pair.decided, pair.referral, pair.created)

        pairs = self._together(pairs, outcome, "committing the creates", finish)
        self.engine.stats.count("creates", len(pairs))
        return pairs

    # --- round one, the other way: an opportunity's referral -----------------------------

    def _planned_referrals(
        self, opportunity_ids: list[str], held: Held, outcome: Outcome
    ) -> list[_Pair]:
        """Each opportunity read (from the batch's primed reads) and planned; those that are
        not a plain create of a referral (one that holds a referral already, one not flagged,
        one that lacks what Partner Center needs: the queue shows that on the record) go to
        the queue."""
        engine, pairs = self.engine, []
        self.room.expect(1)  # only this thread calls the CRM now: its calls go at once
        for opportunity_id in opportunity_ids:
            key = f"opportunity:{opportunity_id}"
            try:
                snapshot = engine.read("opportunity", opportunity_id)
                with engine.pc.correlated() as correlation_id:
                    step = self._step(snapshot, correlation_id, held)
                decided = step.decide() if step.plannable() else None
            except Exception as exc:
                log.info("%s: left to the queue: %s", key, redact_text(str(exc)))
                outcome.handed.append(key)
                continue
            if snapshot.link is not None or decided is None or decided.create != "referral":
                outcome.handed.append(key)
                continue
            if not step.ready_for_partner_center():
                outcome.handed.append(key)
                continue
            pairs.append(_Pair("opportunity", opportunity_id, correlation_id, step, decided))
        return pairs

    def _referrals_created(self, pairs: list[_Pair], outcome: Outcome) -> list[_Pair]:
        """The referrals' intents in one transaction, then their creates side by side
        (Partner Center has no batch write)."""
        gathered: list[tuple[Reconcile, Intent]] = []
        try:
            with self.engine.store.together():
                for pair in pairs:
                    pair.step.intents_later = gathered
                    pair.referral = pair.step.prepare_referral(pair.decided)
                    pair.step.intents_later = None
                record_intents(self.engine.context, gathered)  # one statement, before any send
        except Exception as exc:
            return self._hand(pairs, outcome, "recording the creates' intents", exc)
        self.engine.stats.count("reconciles", len(pairs))

        def create(pair: _Pair) -> PcRecord:
            prepared, step = pair.referral, pair.step
            assert prepared is not None
            if prepared.found is not None:
                return prepared.found
            with self.engine.pc.correlated(pair.correlation_id), step.status.shown_on_record():
                return self.engine.pc.create(prepared.body)

        created = self._at_partner_center(create, pairs, outcome, "creating the referral")
        for pair, result in zip(pairs, created, strict=True):
            pair.created = result
        return [pair for pair in pairs if pair.created is not None]

    # --- round two: the write-back ----------------------------------------------------------

    def _planned_back(self, pairs: list[_Pair], held: Held, outcome: Outcome) -> list[_Pair]:
        """Each pair planned again on what its create read back (as the reconcile's second
        round), and its Partner Center write recorded in flight, in one transaction."""
        engine, kept = self.engine, []
        for pair in pairs:
            first = pair.step
            known = Unchanged(
                first.crm_unchanged, first.pc_unchanged, first.made_link, first.committed
            )
            try:
                snapshot = engine.read(pair.kind, pair.record_id, known=known)
                step = self._step(snapshot, pair.correlation_id, held, first.carried)
                decided = step.decide() if step.plannable() else None
            except Exception as exc:
                self._hand([pair], outcome, "planning the write-back", exc)
                continue
            if decided is None or decided.create is not None:
                outcome.handed.append(pair.key)
                continue
            pair.step, pair.decided = step, decided
            kept.append(pair)
        ready: list[_Pair] = []
        try:
            with engine.store.together():
                for pair in kept:
                    pair.work = pair.step.begin_merge(pair.decided)
                    if pair.work is None:
                        outcome.done.append(pair.key)  # parked as a loop
                        continue
                    if pair.work.ops:
                        pair.step.write_ahead_partner_center(pair.work)
                    ready.append(pair)
        except Exception as exc:
            return self._hand(kept, outcome, "recording the write-backs in flight", exc)
        return ready

    def _written_back(self, pairs: list[_Pair], outcome: Outcome) -> list[_Pair]:
        """The Partner Center write-backs (no batch write there), side by side."""

        def patch(pair: _Pair) -> PcRecord:
            work, step = pair.work, pair.step
            assert work is not None
            if not work.ops:
                return work.pc
            with self.engine.pc.correlated(pair.correlation_id), step.status.shown_on_record():
                return step.patch_partner_center(work)

        after = self._at_partner_center(patch, pairs, outcome, "writing back to Partner Center")
        kept = []
        for pair, result in zip(pairs, after, strict=True):
            if result is not None:
                pair.after = result
                kept.append(pair)
        return kept

    def _crm_planned(self, pairs: list[_Pair], outcome: Outcome) -> list[_Pair]:
        """Each merge's audit entries and CRM write planned, the bases written ahead of those
        writes in one transaction."""

        def plan(pair: _Pair) -> None:
            assert pair.work is not None
            assert pair.after is not None
            pair.step.plan_crm_after(pair.work, pair.after)

        return self._together(pairs, outcome, "planning the CRM writes", plan)

    def _crm_written(self, pairs: list[_Pair], outcome: Outcome) -> list[_Pair]:
        """The merges' CRM writes (none for a referral's plain write-back), side by side: on
        Salesforce in shared requests (sObject Collections)."""
        writing = [p for p in pairs if p.work is not None and p.work.crm_write is not None]
        quiet = [p for p in pairs if p.work is not None and p.work.crm_write is None]

        def write(pair: _Pair) -> bool:
            assert pair.work is not None
            try:
                pair.step.send_crm_after(pair.work)
            finally:
                self.room.done()
            return True

        self.room.expect(len(writing))
        written = self._side_by_side(write, writing, outcome, "the CRM write", self.workers)
        kept = [pair for pair, ok in zip(writing, written, strict=True) if ok]
        self.room.expect(1)  # only this thread calls the CRM now: its calls go at once
        for pair in quiet:
            assert pair.work is not None
            try:
                pair.step.send_crm_after(pair.work)  # the notes' Note, where a CRM needs one
            except Exception as exc:
                self._hand([pair], outcome, "the CRM write", exc)
                continue
            kept.append(pair)
        return kept

    def _settled(self, pairs: list[_Pair], outcome: Outcome) -> None:
        """What each merge learnt, in one transaction."""
        finished: list[str] = []
        engine = self.engine
        settling = [(p.after.id if p.after else None, _crm_id(p)) for p in pairs]
        try:
            with engine.store.together():
                engine.store.read_ledger_ahead(engine.tenant, settling)  # one read, not each
                for pair in pairs:
                    assert pair.work is not None
                    assert pair.after is not None
                    try:
                        pair.step.commit_merge(pair.work, pair.after)
                    except CosellError as refused:  # held back for data (NotReady)
                        log.info("%s: %s", pair.key, redact_text(str(refused)))
                        outcome.handed.append(pair.key)
                        continue
                    if pair.step.crm_after is not None:
                        self.engine.remember_written(pair.step.crm_after)
                    finished.append(pair.key)
        except Exception as exc:
            self._hand(pairs, outcome, "committing the write-backs", exc)
            return
        outcome.done += finished

    # --- helpers ----------------------------------------------------------------------------

    def _step(
        self,
        snapshot: Snapshot,
        correlation_id: str,
        held: Held,
        pending: Sequence[AuditEntry] = (),
    ) -> Reconcile:
        engine = self.engine
        return Reconcile(
            engine.context,
            snapshot,
            engine.facts(snapshot),
            correlation_id,
            pending,
            claim=lambda key: held.claim([key]),
        )

    def _side_by_side(
        self,
        call: Callable[[_Pair], R],
        pairs: list[_Pair],
        outcome: Outcome,
        what: str,
        threads: int,
    ) -> list[R | None]:
        """``call`` for each pair on ``threads`` threads; a pair whose call raised is handed
        to the queue (None in its place)."""
        return self._gathered(pairs, self._submit(call, pairs, threads), outcome, what)

    def _at_partner_center(
        self, call: Callable[[_Pair], R], pairs: list[_Pair], outcome: Outcome, what: str
    ) -> list[R | None]:
        """``call`` for each pair, as many at once as Partner Center's answers call for (see
        :mod:`cosell.clients.at_once`); a pair whose call raised is handed to the queue."""
        pool = self._pool(self.writers)
        futures = self.partner_center_calls.each(call, pairs, pool)
        return self._gathered(pairs, futures, outcome, what)

    def _submit(
        self, call: Callable[[_Pair], R], pairs: list[_Pair], threads: int
    ) -> list[Future[R]]:
        if not pairs:
            return []
        pool = self._pool(threads)
        return [pool.submit(call, pair) for pair in pairs]

    def _pool(self, threads: int) -> ThreadPoolExecutor:
        pool = self._pools.get(threads)
        if pool is None:
            pool = self._pools[threads] = ThreadPoolExecutor(threads, "cosell-batch")
        return pool

    def _gathered(
        self, pairs: list[_Pair], futures: list[Future[R]], outcome: Outcome, what: str
    ) -> list[R | None]:
        results: list[R | None] = []
        for pair, future in zip(pairs, futures, strict=True):
            try:
                results.append(future.result())
            except Exception as exc:
                self._hand([pair], outcome, what, exc)
                results.append(None)
        return results

    def _together(
        self,
        pairs: list[_Pair],
        outcome: Outcome,
        what: str,
        each: Callable[[_Pair], object],
    ) -> list[_Pair]:
        """``each`` for every pair, its store writes in one transaction; when that fails, it
        is rolled back whole and every pair goes to the queue as it was before."""
        try:
            with self.engine.store.together():
                for pair in pairs:
                    each(pair)
        except Exception as exc:
            return self._hand(pairs, outcome, what, exc)
        return pairs

    def _hand(
        self, pairs: Sequence[_Pair], outcome: Outcome, what: str, exc: Exception
    ) -> list[_Pair]:
        """Leave ``pairs`` to the queue, which reconciles them from where they are."""
        for pair in pairs:
            log.info("%s: left to the queue after %s: %s", pair.key, what, redact_text(str(exc)))
            outcome.handed.append(pair.key)
        return []


def _crm_id(pair: _Pair) -> str | None:
    crm = pair.step.snap.crm
    return crm.id if crm is not None else None
