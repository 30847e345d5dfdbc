"""The scale-out work queue: procrastinate tasks on the store's PostgreSQL database.

With a PostgreSQL store, every worker process on every machine takes reconciles from
procrastinate's job table (its schema is one of cosell's migrations):

* one ``cosell.reconcile`` job per dirty key and signal scope, deferred with a
  ``queueing_lock`` of the tenant and key (and the scope, when one side signalled it), so a key
  waiting in the queue is never queued twice for the same side, and a ``lock`` on the tenant and
  the pair's canonical key (the referral's, once linked), so one reconcile of a key, or of a
  linked pair, runs at a time across every machine. A key marked dirty while it runs is queued
  again (its earlier job is no longer waiting) and runs once more after the current run.
* errors are classified as in the embedded queue (``cosell.errors.outcome_of``): ``reread``
  runs again at once, ``retry`` queues the key's next attempt as a job of its own after the
  engine's backoff (at least the server's ``Retry-After``; a job queued for the key meanwhile
  is that attempt), ``dead_letter``/``reject`` and exhausted retries are recorded in
  cosell's own ``dead_letters`` table (so ``status``, ``retry`` and the console see them as
  before), and ``halt`` also tells ``on_halt`` so the service can stop the tenant.
* a job left in ``doing`` by a worker that died (SIGKILL, a lost machine) is put back by the
  ``cosell.recover_stalled`` periodic task once that worker's heartbeat is stale.
* periodic tasks (the CRM polls, the Partner Center sweep) are procrastinate periodic tasks:
  procrastinate defers each period once, however many workers run. A signal's task ticks at
  its cadence's shortest wait and looks when the pace it keeps in the store says so
  (:mod:`cosell.signals.pace`), so the workers keep the back-off one process keeps.
* a job that succeeded is deleted as it finishes, and an hourly task deletes those an earlier
  version kept (see :data:`DELETE_FINISHED`).
* with several tenants, one tenant's keys hold at most ``tenant_slots`` of a process's
  reconciles at once: a key fetched while its tenant is at its share is deferred again a moment
  later (not an attempt), so a tenant whose every call is slow cannot take every worker.
"""

from __future__ import annotations

import asyncio
import logging
import threading
import uuid
from collections import Counter
from collections.abc import Callable, Iterable, Iterator, Sequence
from contextlib import contextmanager, suppress
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any

import procrastinate
import procrastinate.utils
from procrastinate import exceptions as pexc
from procrastinate import jobs as pjobs
from procrastinate.retry import BaseRetryStrategy, RetryDecision
from procrastinate.worker import Worker
from sqlalchemy import Engine, text
from sqlalchemy.engine import make_url

from cosell.clients.retry import RetryPolicy
from cosell.errors import CosellError, RetryableError, outcome_of
from cosell.queue.embedded import describe
from cosell.redaction import redact_text
from cosell.store import jobs
from cosell.store.records import Job, SignalScope, TenantId
from cosell.store.sql import Store

log = logging.getLogger(__name__)

RECONCILE_TASK = "cosell.reconcile"
RECOVER_TASK = "cosell.recover_stalled"
PRUNE_TASK = "cosell.prune_finished"
_CARRY_ATTEMPT = text(
    "UPDATE procrastinate_jobs SET args = jsonb_set(args, '{attempt}', to_jsonb(GREATEST("
    "COALESCE((args->>'attempt')::int, 1), :attempt))) "
    "WHERE queueing_lock = :lock AND status = 'todo'"
)
"""A retry's count given to the job of its key already waiting (see ``_next_attempt``)."""
WORKER_SPARE = 2
"""The worker's pool: a connection for each reconcile's fetch and finish, plus two for its
heartbeat, periodic deferrals and stalled-job recovery. It opens one and grows to that."""
LISTEN_CONNECTIONS = 1
"""The worker's LISTEN holds a connection of its own, outside its pool."""
DEFERRER_CONNECTIONS = 4
"""The pool that defers jobs from the service's threads (webhooks, polls). procrastinate's pools
keep 4 open by default, a worker 9 in all at rest; with one each, 3 (``docs/store.md``)."""
IDLE_CLOSE = 60.0
"""Seconds a pool's connection beyond its first stays open unused before the pool closes it,
one each period (psycopg_pool's ``max_idle``; its default, 600, held a burst's connections for
most of an hour)."""
WORKER_NAME, DEFERRER_NAME = "cosell worker", "cosell deferrer"
"""The ``application_name`` of the worker's connections (its pool and its LISTEN) and of the
deferring pool's, as ``pg_stat_activity`` shows them to an operator counting connections."""
PERIODIC_PREFIX = "cosell.periodic."
WAKE = 0
"""The period a woken periodic task is given (:meth:`DistributedQueue.wake_periodic`)."""
DELETE_FINISHED = "successful"
"""A job that succeeded is deleted as it finishes (its events with it): procrastinate keeps
every job by default, so each reconcile and each periodic tick of every signal (the CRM poll
ticks every 2 s) left a row and its events for good. A failed job stays for inspection; a
reconcile that ends as a dead letter has succeeded here (the dead letter is cosell's own)."""
QUEUE_NAME = "cosell"
SLOT_DELAY = 1.0

Handler = Callable[[Job], None]
HaltHook = Callable[[Job, CosellError], None]
Canonical = Callable[[TenantId, str], str]
Periodic = Callable[[TenantId, int], None]


def connections_at_most(workers: int, *, runs_jobs: bool) -> int:
    """The most connections the queue opens in one process: the deferring pool's, and with a
    worker of ``workers`` reconciles at once its pool's and its LISTEN (``docs/store.md``)."""
    worker = workers + WORKER_SPARE + LISTEN_CONNECTIONS if runs_jobs else 0
    return DEFERRER_CONNECTIONS + worker


def every(seconds: float) -> str:
    """A procrastinate cron expression for about every ``seconds`` (whole seconds, minutes or
    hours). procrastinate reads cron with croniter, whose optional sixth field, *last*, is the
    second: ``"*/30 * * * * *"`` is every second of every thirtieth minute, not every 30 s."""
    whole = max(int(seconds), 1)
    if whole < 60:
        return f"* * * * * */{whole}"
    if whole < 3600:
        return f"*/{whole // 60} * * * * 0"
    return f"0 */{min(whole // 3600, 23)} * * * 0"


def libpq_dsn(url: str) -> str:
    """The libpq connection string for a SQLAlchemy PostgreSQL URL (``postgresql+psycopg://``)."""
    parsed = make_url(url)
    if parsed.get_backend_name() != "postgresql":
        raise ValueError(f"the scale-out queue needs a PostgreSQL store, not {parsed.drivername}")
    return parsed.set(drivername="postgresql").render_as_string(hide_password=False)


def worker_mark(engine: Engine) -> int:
    """The newest worker registration so far (procrastinate's ``procrastinate_workers``)."""
    with engine.connect() as conn:
        return int(
            conn.execute(
                text("SELECT coalesce(max(id), 0) FROM procrastinate_workers")
            ).scalar_one()
        )


def workers_since(engine: Engine, mark: int) -> int:
    """How many workers registered after ``mark`` are still registered (serving)."""
    sql = text("SELECT count(*) FROM procrastinate_workers WHERE id > :mark")
    with engine.connect() as conn:
        return int(conn.execute(sql, {"mark": mark}).scalar_one())


class _Retry(Exception):
    """Raised out of a reconcile so procrastinate retries it; carries the engine's delay."""

    def __init__(self, reason: str, delay: float) -> None:
        super().__init__(reason)
        self.delay = delay


class _EngineRetry(BaseRetryStrategy):
    """Retry exactly the reconciles the task asked to retry, after the delay it computed."""

    def get_retry_decision(
        self, *, exception: BaseException, job: pjobs.Job
    ) -> RetryDecision | None:
        if not isinstance(exception, _Retry):
            return None
        return RetryDecision(retry_in={"seconds": max(int(exception.delay + 0.999), 0)})


@dataclass
class Runner:
    """What a worker process runs for each job; set by ``DistributedQueue.serve``."""

    handler: Handler | None = None
    on_halt: HaltHook | None = None
    retry: RetryPolicy = field(
        default_factory=lambda: RetryPolicy(base=1.0, cap=300.0, max_retry_after=3600.0)
    )
    max_attempts: int = 8
    reread_limit: int = 3


class DistributedQueue:
    """cosell's reconciles and periodic work as procrastinate tasks on ``store``'s database."""

    def __init__(
        self,
        store: Store,
        *,
        canonical: Canonical | None = None,
        max_attempts: int = 8,
        reread_limit: int = 3,
        retry: RetryPolicy | None = None,
        stalled_cron: str | None = None,
        prune_cron: str | None = None,
        handler: Handler | None = None,
        on_halt: HaltHook | None = None,
        workers: int = 4,
        tenant_slots: int | None = None,
        idle_close: float = IDLE_CLOSE,
    ) -> None:
        """``tenant_slots``: the most reconciles one tenant's keys may hold at once in this
        process (a deployment of several tenants keeps the rest for the others); ``None``: no
        limit. ``idle_close``: see :data:`IDLE_CLOSE`."""
        self._store = store
        self._idle_close = idle_close
        self._workers = workers
        self._tenant_slots = tenant_slots
        self._tenant_busy: Counter[TenantId] = Counter()
        self._busy_lock = threading.Lock()
        self.slot_delay = SLOT_DELAY
        """Seconds a key fetched while its tenant is at its share waits before it is due."""
        self._defer_lock = threading.Lock()
        self._deferrer: procrastinate.App | None = None
        self._thread: threading.Thread | None = None
        self._worker: Worker | None = None
        self._canonical = canonical or self._pair_key
        self._periodic: dict[str, dict[TenantId, Periodic]] = {}
        self._periodic_tasks: dict[str, Any] = {}
        self.runner = Runner(max_attempts=max_attempts, reread_limit=reread_limit)
        self.runner.handler, self.runner.on_halt = handler, on_halt
        if retry is not None:
            self.runner.retry = retry
        self._dsn = libpq_dsn(store.engine.url.render_as_string(hide_password=False))
        connector = procrastinate.PsycopgConnector(
            conninfo=self._dsn,
            min_size=1,
            max_size=workers + WORKER_SPARE,
            max_idle=idle_close,
            kwargs={"application_name": WORKER_NAME},
        )
        self.app = procrastinate.App(connector=connector)
        self._reconcile = self.app.task(
            name=RECONCILE_TASK, queue=QUEUE_NAME, pass_context=True, retry=_EngineRetry()
        )(self._run_job)
        self.app.periodic(cron=stalled_cron or every(10), periodic_id="stalled")(
            self.app.task(name=RECOVER_TASK, queue=QUEUE_NAME, pass_context=True)(
                self._recover_stalled
            )
        )
        self.app.periodic(cron=prune_cron or every(3600), periodic_id="prune")(
            self.app.task(name=PRUNE_TASK, queue=QUEUE_NAME, pass_context=True)(_prune_finished)
        )

    def add_periodic(
        self, name: str, cron: str, work: Periodic, tenants: Iterable[TenantId]
    ) -> None:
        """Run ``work(tenant, period_start)`` once per ``cron`` period for each tenant.

        procrastinate records each (task, tenant, period) it defers, so however many workers
        run, each period's work is queued once. ``cron`` may have a sixth field, last, for
        seconds (:func:`every` writes one).
        Called again with the same ``name`` for other tenants, each tenant runs its own ``work``.
        """
        works = self._periodic.get(name)
        if works is None:
            works = self._periodic[name] = {}

            def run(timestamp: int, tenant: int) -> None:
                found = works.get(TenantId(tenant))
                if found is None:
                    log.warning("periodic %s: no tenant %s in this deployment", name, tenant)
                    return
                found(TenantId(tenant), timestamp)

            self._periodic_tasks[name] = self.app.task(
                name=f"{PERIODIC_PREFIX}{name}", queue=QUEUE_NAME
            )(run)
        task = self._periodic_tasks[name]
        for tenant in tenants:
            works[tenant] = work
            self.app.periodic(
                cron=cron, periodic_id=f"{name}:{tenant}", task_kwargs={"tenant": int(tenant)}
            )(task)

    def wake_periodic(self, name: str, tenant: TenantId) -> None:
        """Run ``name``'s periodic work for ``tenant`` now, once, on some worker: its task is
        deferred with the period :data:`WAKE` (a look asked for, not a period's). Wakes that
        come while one waits are that one (its queueing lock)."""
        with suppress(pexc.AlreadyEnqueued):
            self._defer().configure_task(
                name=f"{PERIODIC_PREFIX}{name}",
                queue=QUEUE_NAME,
                queueing_lock=f"wake:{name}:{tenant}",
            ).defer(timestamp=WAKE, tenant=int(tenant))

    # --- signals ---------------------------------------------------------------------------------

    @contextmanager
    def opened(self) -> Iterator[DistributedQueue]:
        """``enqueue`` ready from synchronous code; its connections closed afterwards."""
        try:
            yield self
        finally:
            self.close()

    def close(self) -> None:
        """Close the connections ``enqueue`` opened."""
        with self._defer_lock:
            if self._deferrer is not None:
                self._deferrer.close()
                self._deferrer = None

    def _defer(self) -> procrastinate.App:
        # Deferring from the service's threads uses a synchronous connector of its own, apart
        # from the worker's event loop.
        with self._defer_lock:
            if self._deferrer is None:
                app = procrastinate.App(
                    connector=procrastinate.SyncPsycopgConnector(
                        conninfo=self._dsn,
                        min_size=1,
                        max_size=DEFERRER_CONNECTIONS,
                        max_idle=self._idle_close,
                        kwargs={"application_name": DEFERRER_NAME},
                    )
                )
                self._deferrer = app.open()
            return self._deferrer

    def enqueue_many(
        self,
        tenant: TenantId,
        keys: Sequence[str],
        due_at: datetime | None = None,
        *,
        scope: SignalScope = "both",
    ) -> None:
        """``enqueue`` each key."""
        for key in dict.fromkeys(keys):
            self.enqueue(tenant, key, due_at, scope=scope)

    def enqueue(
        self,
        tenant: TenantId,
        key: str,
        due_at: datetime | None = None,
        *,
        scope: SignalScope = "both",
        change_time: str | None = None,
    ) -> None:
        """Queue a reconcile of ``key`` unless one of the same ``scope`` is already waiting
        (its queueing lock). A waiting job's arguments cannot widen when the other side's signal
        comes, so each scope waits on its own: a key signalled by both sides may run twice, each
        run looking at its side first (the pair's lock keeps them one after the other). For the
        same reason a job carries no ``change_time``: a later change's signal would find the
        job waiting with an earlier one, and be taken for it; the run reads the referral."""
        del change_time
        self._enqueue(tenant, key, {} if due_at is None else {"schedule_at": due_at}, scope)

    def _enqueue(
        self,
        tenant: TenantId,
        key: str,
        when: dict[str, Any],
        scope: SignalScope = "both",
        attempt: int = 1,
    ) -> bool:
        """Defer a reconcile of ``key``; False when one of its scope was already waiting (that
        one runs the key)."""
        options: dict[str, Any] = {
            "queueing_lock": self._queueing_lock(tenant, key, scope),
            "lock": f"{tenant}:{self._canonical(tenant, key)}",
            **when,
        }
        arguments: dict[str, Any] = {"tenant": int(tenant), "key": key, "scope": scope}
        if attempt > 1:
            arguments["attempt"] = attempt
        deferrer = self._defer()
        try:
            deferrer.configure_task(name=RECONCILE_TASK, queue=QUEUE_NAME, **options).defer(
                **arguments
            )
        except pexc.AlreadyEnqueued:
            return False
        return True

    @staticmethod
    def _queueing_lock(tenant: TenantId, key: str, scope: SignalScope) -> str:
        return f"{tenant}:{key}" if scope == "both" else f"{tenant}:{key}:{scope}"

    def _pair_key(self, tenant: TenantId, key: str) -> str:
        """A linked pair's canonical key: its referral's; an unlinked key is its own."""
        kind, _, record_id = key.partition(":")
        if kind != "opportunity":
            return key
        link = self._store.link_by_opportunity(tenant, record_id)
        if link is not None and link.referral_id:
            return f"referral:{link.referral_id}"
        return key

    # --- workers ---------------------------------------------------------------------------------

    def serve(
        self,
        handler: Handler,
        *,
        concurrency: int = 4,
        on_halt: HaltHook | None = None,
        install_signal_handlers: bool = True,
        stalled_worker_timeout: float = 30.0,
        heartbeat: float = 10.0,
        polling: float = 5.0,
        wait: bool = True,
        name: str | None = None,
    ) -> None:
        """Run a procrastinate worker in this process until stopped (SIGTERM/SIGINT: in-flight
        reconciles finish first) or, with ``wait=False``, until the queue is empty."""
        self.runner.handler = handler
        self.runner.on_halt = on_halt or self.runner.on_halt
        self._stalled_timeout = stalled_worker_timeout
        self.app.run_worker(
            queues=[QUEUE_NAME],
            concurrency=concurrency,
            wait=wait,
            install_signal_handlers=install_signal_handlers,
            update_heartbeat_interval=heartbeat,
            stalled_worker_timeout=stalled_worker_timeout,
            fetch_job_polling_interval=polling,
            name=name,
            delete_jobs=DELETE_FINISHED,
        )

    _stalled_timeout: float = 30.0

    def start(self) -> None:
        """Run a worker in a thread of this process (``cosell run`` on PostgreSQL)."""
        if self._thread is not None:
            raise RuntimeError("queue already started")
        if self.runner.handler is None:
            raise RuntimeError("no reconcile handler")
        worker = Worker(
            app=self.app,
            queues=[QUEUE_NAME],
            concurrency=self._workers,
            install_signal_handlers=False,
            delete_jobs=DELETE_FINISHED,
        )

        async def run() -> None:
            async with self.app.open_async():
                await worker.run()  # type: ignore[no-untyped-call]

        self._worker = worker
        self._thread = threading.Thread(
            target=asyncio.run, args=(run(),), name="cosell-procrastinate", daemon=True
        )
        self._thread.start()

    def stop(self, drain: bool = True, timeout: float = 30.0) -> bool:
        """Stop fetching jobs; in-flight reconciles finish. True when they did in ``timeout``.

        Jobs still waiting stay in PostgreSQL for the next worker (``drain`` is not needed).
        """
        del drain
        if self._worker is not None:
            self._worker.stop()  # type: ignore[no-untyped-call]
        stopped = True
        if self._thread is not None:
            self._thread.join(timeout)
            stopped = not self._thread.is_alive()
            if stopped:
                self._thread = self._worker = None
        self.close()
        return stopped

    def hand_over(self, limit: int = 500) -> int:
        """Move keys written to the store's own queue table (``cosell retry``, the console's
        retry, a full sync) into procrastinate; how many moved.

        Those paths go through ``Store.enqueue`` whatever the queue; on PostgreSQL with
        procrastinate the table is only an inbox, emptied here by the periodic
        ``cosell.recover_stalled`` task.
        """
        owner = f"procrastinate-inbox:{uuid.uuid4().hex[:8]}"
        claimed = self._store.claim(owner, self._store.clock.now(), 60.0, limit=limit)
        for job in claimed:
            self.enqueue(job.tenant_id, job.key, job.due_at, scope=job.scope)
            with self._store.engine.begin() as conn:
                jobs.handed_over(conn, job)
        return len(claimed)

    async def _recover_stalled(self, context: procrastinate.JobContext, timestamp: int) -> None:
        """Put back every reconcile whose worker stopped beating (a killed process), and move
        keys from the store's queue table into procrastinate (``hand_over``)."""
        del timestamp
        await procrastinate.utils.sync_to_async(self.hand_over)
        manager = context.app.job_manager
        stalled = await manager.get_stalled_jobs(
            task_name=RECONCILE_TASK, seconds_since_heartbeat=self._stalled_timeout
        )
        for job in stalled:
            log.warning("reconcile of %s stalled on a dead worker; retrying", job.task_kwargs)
            try:
                await manager.retry_job(job)
            except pexc.UniqueViolation:
                # A job of the same key is waiting (queued while this one ran): it is the
                # retry. This one is let go, and the pair's lock with it.
                await manager.finish_job(job, pjobs.Status.FAILED, delete_job=True)

    def _run_job(
        self,
        context: procrastinate.JobContext,
        tenant: int,
        key: str,
        scope: str = "both",
        attempt: int = 1,
    ) -> None:
        if self.runner.handler is None:
            raise RuntimeError("no reconcile handler: start the worker with DistributedQueue.serve")
        owner = TenantId(tenant)
        if not self._take_slot(owner):
            # The tenant holds its share of this process's workers: queue the key again a
            # moment later (this job ends as done, not as a failed attempt) and take other work.
            later = {"schedule_in": {"seconds": self.slot_delay}}
            self._enqueue(owner, key, later, _scope(scope), attempt)
            log.debug("tenant %s at its share of workers; %s deferred", tenant, key)
            return
        try:
            self._run_reconcile(context, tenant, key, _scope(scope), attempt)
        finally:
            with self._busy_lock:
                self._tenant_busy[owner] -= 1

    def _take_slot(self, tenant: TenantId) -> bool:
        with self._busy_lock:
            slots = self._tenant_slots
            if slots is not None and self._tenant_busy[tenant] >= slots:
                return False
            self._tenant_busy[tenant] += 1
            return True

    def _run_reconcile(
        self,
        context: procrastinate.JobContext,
        tenant: int,
        key: str,
        scope: SignalScope,
        attempt: int = 1,
    ) -> None:
        runner = self.runner
        assert runner.handler is not None
        pjob = context.job
        now = self._store.clock.now()
        attempts = attempt + pjob.attempts
        job = Job(
            id=pjob.id or 0,
            tenant_id=TenantId(tenant),
            key=key,
            due_at=now,
            priority=pjob.priority,
            attempts=attempts,
            last_error=None,
            lease_owner=context.worker_name or "",
            lease_until=now,
            enqueued_at=now,
            scope=scope,
        )
        error: Exception | None = None
        for attempt in range(runner.reread_limit + 1):
            try:
                runner.handler(job)
                error = None
                break
            except CosellError as exc:
                error = exc
                if outcome_of(exc) != "reread" or attempt == runner.reread_limit:
                    break
            except Exception as exc:
                error = exc
                break
        if error is None:
            self._clear_dead_letter(job)
            return
        outcome = outcome_of(error) if isinstance(error, CosellError) else "retry"
        if outcome in ("retry", "reread"):
            if attempts >= runner.max_attempts:
                self._dead_letter(job, f"gave up after {attempts} attempts: {describe(error)}")
                return
            retry_after = error.retry_after if isinstance(error, RetryableError) else None
            delay = runner.retry.delay(attempts, retry_after)
            self._next_attempt(job, delay, describe(error))
            return
        if outcome == "halt":
            assert isinstance(error, CosellError)
            self._dead_letter(job, f"halted: {describe(error)}")
            if runner.on_halt is not None:
                runner.on_halt(job, error)
            return
        self._dead_letter(job, describe(error))

    def _next_attempt(self, job: Job, delay: float, reason: str) -> None:
        """The key's next attempt as a job of its own, ``delay`` seconds on; this one ends.

        Not procrastinate's retry: that puts this job back in the queue, which its queueing
        lock refuses when a signal queued the key again while it ran (a unique violation that
        leaves this job "doing" for as long as its worker lives, and with it the pair's lock:
        nothing of the pair ran again). The queued job then is the next attempt, at its own
        time, and takes this one's count, as the embedded queue's row keeps it when a signal
        comes during a backoff. Only when the store cannot take the new job is this one
        retried in place."""
        when = {"schedule_in": {"seconds": max(int(delay + 0.999), 0)}}
        attempt = job.attempts + 1
        try:
            if self._enqueue(job.tenant_id, job.key, when, job.scope, attempt):
                return
            waiting = self._queueing_lock(job.tenant_id, job.key, job.scope)
            with self._store.engine.begin() as conn:
                conn.execute(_CARRY_ATTEMPT, {"lock": waiting, "attempt": attempt})
        except Exception as exc:
            raise _Retry(reason, delay) from exc
        log.info("retry of %s: the job queued since runs it (%s)", job.key, redact_text(reason))

    def _dead_letter(self, job: Job, reason: str) -> None:
        log.warning(
            "dead letter: key=%s attempts=%d reason=%s", job.key, job.attempts, redact_text(reason)
        )
        with self._store.engine.begin() as conn:
            jobs.put_dead_letter(
                conn, job.tenant_id, job.key, reason, job.attempts, self._store.clock.now()
            )

    def _clear_dead_letter(self, job: Job) -> None:
        with self._store.engine.begin() as conn:
            jobs.clear_dead_letter(conn, job.tenant_id, job.key)


async def _prune_finished(context: procrastinate.JobContext, timestamp: int) -> None:
    """Delete this queue's succeeded jobs finished over an hour ago: those an earlier version
    kept (see :data:`DELETE_FINISHED`). Hourly, on one worker."""
    del timestamp
    await context.app.job_manager.delete_old_jobs(nb_hours=1, queue=QUEUE_NAME)


def _scope(text: str) -> SignalScope:
    """A job's ``scope`` argument (jobs queued before it existed have none: both sides)."""
    if text == "partner_center":
        return "partner_center"
    return "crm" if text == "crm" else "both"
