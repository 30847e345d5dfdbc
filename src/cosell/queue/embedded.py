"""The embedded work queue: a pool of threads reconciling keys from the store's durable queue.

Signals (``enqueue``) wake an idle worker at once through a condition; idle workers otherwise
sleep until the next key falls due. The store's leases guarantee one run per key at a time; a
``LeaseKeeper`` extends them while a run lasts.
Handler errors are classified with ``cosell.errors.outcome_of``:

* ``retry``: backoff (jittered, capped, at least the server's ``retry_after``), then dead letter
  after ``max_attempts`` claims;
* ``reread``: run again at once, up to ``reread_limit`` times, then treated as ``retry``;
* ``dead_letter`` / ``reject``: dead letter with the reason;
* ``halt``: dead letter, and ``on_halt`` is told so the service can stop the tenant;
* anything unexpected: retried like ``retry``, dead-lettered with its redacted ``repr``.

``stop`` lets in-flight runs finish for ``timeout`` seconds; a run still going after that is
handed back (see :mod:`cosell.queue.handback`): its lease released, its key due at once, and
the run stopped at its next remote write or store transaction.
"""

from __future__ import annotations

import itertools
import logging
import threading
import time
from collections import Counter
from collections.abc import Callable, Sequence
from dataclasses import dataclass, fields, replace
from datetime import datetime, timedelta

from cosell import handback
from cosell.clients.retry import RetryPolicy
from cosell.clock import Clock
from cosell.errors import CosellError, RetryableError, outcome_of
from cosell.queue.lease import LeaseKeeper
from cosell.queue.owners import owner_name
from cosell.redaction import redact_text
from cosell.store import jobs
from cosell.store.jobs import Among, QueuedKey
from cosell.store.records import Job, SignalScope, TenantId
from cosell.store.sql import Store

log = logging.getLogger(__name__)

Handler = Callable[[Job], None]
HaltHook = Callable[[Job, CosellError], None]


@dataclass(frozen=True)
class QueueStats:
    """What a run did: claims and how each ended."""

    claimed: int = 0
    completed: int = 0
    retried: int = 0
    rereads: int = 0
    dead_lettered: int = 0
    halted: int = 0
    lost_leases: int = 0

    def __sub__(self, other: QueueStats) -> QueueStats:
        return QueueStats(*(getattr(self, f.name) - getattr(other, f.name) for f in fields(self)))


def describe(error: BaseException) -> str:
    """A one-line, secret-free account of an error for the queue and dead letters."""
    text = f"{type(error).__name__}: {error}" if isinstance(error, CosellError) else repr(error)
    return redact_text(text)


class EmbeddedQueue:
    """Worker threads over ``store``'s queue, calling ``handler(job)`` for each claimed key."""

    def __init__(
        self,
        store: Store,
        handler: Handler,
        *,
        workers: int = 4,
        clock: Clock | None = None,
        retry: RetryPolicy | None = None,
        max_attempts: int = 8,
        lease_seconds: float = 300.0,
        reread_limit: int = 3,
        idle_wait: float = 5.0,
        on_halt: HaltHook | None = None,
        heartbeat: float | None = None,
        tenant_slots: int | None = None,
        among: Among | None = None,
    ) -> None:
        """``tenant_slots``: the most workers one tenant's keys may hold at once (a deployment
        of several tenants keeps the rest for the others); ``None``: no limit. ``among``: a
        tenant and keys, the only ones this queue's workers claim (a pass's own, when other
        passes share the store); ``None``: whatever is due."""
        self._store = store
        self._among = among
        self._tenant_slots = tenant_slots
        self._claim_lock = threading.Lock()
        self._tenant_busy: Counter[TenantId] = Counter()
        self._handler = handler
        self._workers = workers
        self._clock = clock or store.clock
        self._retry = retry or RetryPolicy(base=1.0, cap=300.0, max_retry_after=3600.0)
        self._max_attempts = max_attempts
        self._lease_seconds = lease_seconds
        self._reread_limit = reread_limit
        self._idle_wait = idle_wait
        self._on_halt = on_halt
        self._cond = threading.Condition()
        self._generation = 0
        self._stopping = False
        self._drain = True
        self._threads: list[threading.Thread] = []
        self._stats = QueueStats()
        self._owner = owner_name()
        self._thread_ids = itertools.count()
        self._leases = LeaseKeeper(store, lease_seconds, heartbeat)
        self._running: dict[str, tuple[Job, threading.Event]] = {}

    @property
    def stats(self) -> QueueStats:
        with self._cond:
            return self._stats

    # --- signals ---------------------------------------------------------------------------------

    def enqueue(
        self,
        tenant: TenantId,
        key: str,
        due_at: datetime | None = None,
        *,
        priority: int = 0,
        scope: SignalScope = "both",
        change_time: str | None = None,
    ) -> None:
        """Mark ``key`` dirty and wake a worker."""
        self._store.enqueue(
            tenant, key, due_at, priority=priority, scope=scope, change_time=change_time
        )
        with self._cond:
            self._generation += 1
            self._cond.notify()

    def enqueue_many(
        self,
        tenant: TenantId,
        keys: Sequence[str],
        due_at: datetime | None = None,
        *,
        priority: int = 0,
        scope: SignalScope = "both",
    ) -> None:
        """Mark many keys dirty in one write and wake every worker."""
        self._store.enqueue_many(tenant, keys, due_at, priority=priority, scope=scope)
        with self._cond:
            self._generation += 1
            self._cond.notify_all()

    # --- what is left ---------------------------------------------------------------------------

    def queued(self, tenant: TenantId) -> list[QueuedKey]:
        """``tenant``'s keys still in the queue: waiting, or leased by any worker of any process."""
        with self._store.reading() as conn:
            return jobs.queued(conn, tenant)

    def holds(self, entry: QueuedKey) -> bool:
        """Whether the lease on ``entry`` is one of this queue's workers' (not another process')."""
        owner = entry.lease_owner
        return owner is not None and owner.startswith(f"{self._owner}:")

    # --- lifecycle -------------------------------------------------------------------------------

    def start(self) -> None:
        """Start the worker threads."""
        if self._threads:
            raise RuntimeError("queue already started")
        with self._cond:
            self._stopping = False
        self._leases.start()
        for n in range(self._workers):
            thread = threading.Thread(
                target=self._serve,
                args=(self._new_owner(),),
                name=f"cosell-worker-{n}",
                daemon=True,
            )
            thread.start()
            self._threads.append(thread)

    def stop(self, drain: bool = True, timeout: float = 30.0) -> bool:
        """Stop claiming; in-flight jobs finish. ``drain`` first runs everything due now.

        True when every worker ended within ``timeout`` seconds.
        """
        with self._cond:
            self._stopping = True
            self._drain = drain
            self._cond.notify_all()
        deadline = time.monotonic() + timeout
        for thread in self._threads:
            thread.join(max(deadline - time.monotonic(), 0.0))
        alive = [t for t in self._threads if t.is_alive()]
        self._threads = alive
        if alive:
            self._hand_back()
        self._leases.stop()
        return not alive

    def _hand_back(self) -> None:
        """The drain time is up: stop claiming, and hand every running job back untouched."""
        with self._cond:
            self._drain = False
            running = list(self._running.values())
            for _job, flag in running:
                flag.set()
            self._cond.notify_all()
        for job, _flag in running:
            released = self._store.hand_back(job)
            log.warning(
                "queue: %s still running after the drain time; handed back (%s)",
                job.key,
                "due again now" if released else "its lease had already been lost",
            )

    def run_until_idle(self, timeout: float = 60.0) -> QueueStats:
        """Process everything due now with ``workers`` threads and return what happened.

        Handler errors are handled as in ``start``; a failure of the store itself is raised.
        """
        if self._threads:
            raise RuntimeError("run_until_idle is for a queue that is not started")
        before = self.stats
        deadline = time.monotonic() + timeout
        errors: list[Exception] = []
        drained = _Drained()
        threads = [
            threading.Thread(
                target=self._drain_until,
                args=(self._new_owner(), deadline, errors, drained),
                name=f"cosell-drain-{n}",
                daemon=True,
            )
            for n in range(self._workers)
        ]
        self._leases.start()
        for thread in threads:
            thread.start()
        for thread in threads:
            thread.join(max(deadline - time.monotonic(), 0.0))
        self._leases.stop()
        if errors:
            raise errors[0]
        return self.stats - before

    # --- workers ---------------------------------------------------------------------------------

    def _serve(self, owner: str) -> None:
        while True:
            with self._cond:
                if self._stopping and not self._drain:
                    return
                generation = self._generation
            try:
                if self._step(owner):
                    continue
            except Exception:
                log.exception("queue worker %s failed; pausing", owner)
            # With a tenant at its share, what is due may be its keys: wait for a slot to free
            # (or new work) instead of polling for them.
            wait = self._idle_wait if self._a_tenant_is_full() else self._wait_seconds()
            with self._cond:
                if self._stopping:
                    return
                if self._generation == generation:
                    self._cond.wait(wait)

    def _drain_until(
        self, owner: str, deadline: float, errors: list[Exception], drained: _Drained
    ) -> None:
        """Claim and run until nothing is due. Once one worker of the run found nothing due,
        the others stop too unless this queue was given work since (``_generation``): a batch's
        hundreds of workers each asked the store once more at its end (half a backfill's
        claims, a read each under the store's turn)."""
        try:
            while time.monotonic() < deadline:
                with self._cond:
                    generation = self._generation
                    if drained.at == generation:
                        return
                if not self._step(owner):
                    with self._cond:
                        drained.at = generation
                    return
        except Exception as exc:
            errors.append(exc)

    def _wait_seconds(self) -> float:
        try:
            due = self._store.next_due()
        except Exception:
            log.exception("queue: cannot read the next due time")
            return self._idle_wait
        if due is None:
            return self._idle_wait
        seconds = (due - self._clock.now()).total_seconds()
        return min(max(seconds, 0.01), self._idle_wait)

    def _step(self, owner: str) -> bool:
        """Claim and process one job; False when nothing is due (for a tenant with a free slot)."""
        with self._claim_lock:
            slots = self._tenant_slots
            full = [t for t, n in self._tenant_busy.items() if slots is not None and n >= slots]
            now = self._clock.now()
            claimed = self._store.claim(
                owner, now, self._lease_seconds, limit=1, skip_tenants=full, among=self._among
            )
            if not claimed:
                return False
            for job in claimed:
                self._tenant_busy[job.tenant_id] += 1
        for job in claimed:
            try:
                self._count(claimed=1)
                self._process(job)
            finally:
                with self._claim_lock:
                    self._tenant_busy[job.tenant_id] -= 1
                if self._tenant_slots is not None:
                    with self._cond:  # a tenant's slot is free: a waiting worker may take it
                        self._generation += 1
                        self._cond.notify()
        return bool(claimed)

    def _a_tenant_is_full(self) -> bool:
        slots = self._tenant_slots
        with self._claim_lock:
            return slots is not None and any(n >= slots for n in self._tenant_busy.values())

    def _new_owner(self) -> str:
        return f"{self._owner}:{next(self._thread_ids)}"

    def _process(self, job: Job) -> None:
        flag = threading.Event()
        owner = job.lease_owner or ""
        with self._cond:
            self._running[owner] = (job, flag)
        try:
            with self._leases.holding(job), handback.running(flag):
                error = self._run(job)
        finally:
            with self._cond:
                self._running.pop(owner, None)
                handed_back = flag.is_set()
        if handed_back:
            return  # released by stop(): the key is another run's now
        if error is None:
            self._settled(self._store.complete(job), completed=1)
            return
        self._fail(job, error)

    def _run(self, job: Job) -> Exception | None:
        for attempt in range(self._reread_limit + 1):
            try:
                self._handler(job)
                return None
            except CosellError as exc:
                if outcome_of(exc) != "reread" or attempt == self._reread_limit:
                    return exc
                self._count(rereads=1)
            except Exception as exc:
                return exc
        return None  # pragma: no cover - the loop always returns

    def _fail(self, job: Job, error: Exception) -> None:
        outcome = outcome_of(error) if isinstance(error, CosellError) else "retry"
        if outcome in ("retry", "reread"):
            self._retry_or_give_up(job, error)
        elif outcome == "halt":
            assert isinstance(error, CosellError)
            self._dead_letter(job, f"halted: {describe(error)}", halted=1)
            if self._on_halt is not None:
                self._on_halt(job, error)
        else:
            self._dead_letter(job, describe(error), dead_lettered=1)

    def _dead_letter(self, job: Job, reason: str, **counts: int) -> None:
        """Park the job as a dead letter, with a warning an operator's log shows."""
        log.warning(
            "dead letter: key=%s attempts=%d reason=%s", job.key, job.attempts, redact_text(reason)
        )
        self._settled(self._store.dead_letter(job, reason), **counts)

    def _retry_or_give_up(self, job: Job, error: Exception) -> None:
        if job.attempts >= self._max_attempts:
            reason = f"gave up after {job.attempts} attempts: {describe(error)}"
            self._dead_letter(job, reason, dead_lettered=1)
            return
        retry_after = error.retry_after if isinstance(error, RetryableError) else None
        delay = self._retry.delay(job.attempts, retry_after)
        due = self._clock.now() + timedelta(seconds=delay)
        self._settled(self._store.retry_later(job, due, describe(error)), retried=1)

    def _settled(self, held: bool, **counts: int) -> None:
        if held:
            self._count(**counts)
        else:
            self._count(lost_leases=1)

    def _count(self, **counts: int) -> None:
        with self._cond:
            bumped = {k: getattr(self._stats, k) + v for k, v in counts.items()}
            self._stats = replace(self._stats, **bumped)


@dataclass
class _Drained:
    """What the workers of one ``run_until_idle`` share: the queue's generation when one of
    them last found nothing due (``None``: not yet)."""

    at: int | None = None
