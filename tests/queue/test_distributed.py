"""The scale-out queue on a real PostgreSQL: procrastinate workers in separate processes."""

from __future__ import annotations

import asyncio
import itertools
import os
import signal
import subprocess
import sys
import threading
import time
from collections.abc import Callable, Iterator
from datetime import datetime
from pathlib import Path
from types import SimpleNamespace
from typing import Any

import pytest
import sqlalchemy as sa

from cosell.clients.retry import RetryPolicy
from cosell.errors import AuthError, CosellError, StaleWrite, Throttled
from cosell.queue.distributed import (
    DEFERRER_NAME,
    WAKE,
    WORKER_NAME,
    DistributedQueue,
    _prune_finished,
    connections_at_most,
)
from cosell.store import Store
from cosell.store.records import Job, TenantId
from cosell.store.testing import POSTGRES_URL_ENV, fresh_postgres_database
from support.wait import wait_until

pytestmark = pytest.mark.postgres

WORKER = Path(__file__).with_name("distributed_worker_proc.py")


@pytest.fixture
def url() -> Iterator[str]:
    base = os.environ.get(POSTGRES_URL_ENV)
    if not base:
        pytest.skip(f"{POSTGRES_URL_ENV} is not set")
    with fresh_postgres_database(base) as fresh:
        yield fresh


@pytest.fixture
def store(url: str) -> Iterator[Store]:
    opened = Store.open(url)
    with opened.engine.begin() as conn:
        conn.execute(
            sa.text(
                "CREATE TABLE test_runs (id serial PRIMARY KEY, key text, pid int, "
                "started timestamptz, finished timestamptz)"
            )
        )
        conn.execute(sa.text("CREATE TABLE test_ticks (tenant int, period bigint, pid int)"))
    yield opened
    opened.engine.dispose()


class Workers:
    def __init__(self, url: str, gates: Path) -> None:
        self.url, self.gates = url, gates
        self.procs: list[subprocess.Popen[bytes]] = []

    def start(self, *extra: str) -> subprocess.Popen[bytes]:
        proc = subprocess.Popen([sys.executable, str(WORKER), self.url, str(self.gates), *extra])
        self.procs.append(proc)
        return proc

    def ready(self, store: Store, count: int) -> None:
        """Wait until ``count`` worker processes have registered with procrastinate."""

        def registered() -> bool:
            with store.engine.connect() as conn:
                sql = sa.text("SELECT count(*) FROM procrastinate_workers")
                return int(conn.execute(sql).scalar_one()) >= count

        wait_until(registered)

    def stop(self) -> None:
        for proc in self.procs:
            if proc.poll() is None:
                proc.send_signal(signal.SIGTERM)
        for proc in self.procs:
            try:
                proc.wait(20)
            except subprocess.TimeoutExpired:
                proc.kill()
                proc.wait()


@pytest.fixture
def workers(url: str, tmp_path: Path) -> Iterator[Workers]:
    pool = Workers(url, tmp_path)
    yield pool
    pool.stop()


def runs(store: Store) -> list[Any]:
    with store.engine.connect() as conn:
        return list(
            conn.execute(sa.text("SELECT key, pid, started, finished FROM test_runs ORDER BY id"))
        )


def finished(store: Store, key: str) -> int:
    return sum(1 for r in runs(store) if r.key == key and r.finished is not None)


def test_migrations_create_procrastinates_schema(store: Store) -> None:
    with store.engine.connect() as conn:
        tables = set(sa.inspect(conn).get_table_names())
    assert {"procrastinate_jobs", "procrastinate_periodic_defers", "links"} <= tables


def test_two_worker_processes_never_reconcile_one_key_at_once(
    store: Store, workers: Workers
) -> None:
    tenant = store.ensure_tenant("acme")
    queue = DistributedQueue(store)
    workers.start()
    workers.start()
    workers.ready(store, 2)
    keys = [f"referral:r{n}" for n in range(6)]
    with queue.opened():
        for _ in range(8):
            for key in keys:
                queue.enqueue(tenant, key)
            time.sleep(0.04)  # spread the signals over the runs, like webhooks arriving

    def settled() -> bool:
        with store.engine.connect() as conn:
            left = conn.execute(
                sa.text("SELECT count(*) FROM procrastinate_jobs WHERE status IN ('todo','doing')")
            ).scalar_one()
        return left == 0

    wait_until(settled)
    done = runs(store)
    assert {r.key for r in done} == set(keys)
    assert len({r.pid for r in done}) == 2  # both processes took work
    for key in keys:
        spans = sorted((r.started, r.finished) for r in done if r.key == key)
        for (_, end), (start, _) in itertools.pairwise(spans):
            assert end <= start, f"{key} reconciled twice at once"


def test_a_key_enqueued_while_it_runs_runs_once_more(
    store: Store, workers: Workers, tmp_path: Path
) -> None:
    tenant = store.ensure_tenant("acme")
    queue = DistributedQueue(store)
    workers.start()
    workers.start()
    workers.ready(store, 2)
    with queue.opened():
        queue.enqueue(tenant, "referral:block1")
        wait_until(lambda: len(runs(store)) == 1)
        for _ in range(3):  # the change lands during the run; queued once however often
            queue.enqueue(tenant, "referral:block1")
        (tmp_path / "block1").touch()
        wait_until(lambda: finished(store, "referral:block1") == 2)
    wait_until(lambda: finished(store, "referral:block1") == 2)
    first, second = runs(store)
    assert first.finished <= second.started
    time.sleep(0.5)  # nothing more was queued: still two runs
    assert len(runs(store)) == 2


def test_a_linked_pair_is_locked_on_its_referral(store: Store) -> None:
    tenant = store.ensure_tenant("acme")
    queue = DistributedQueue(store)
    with store.engine.begin() as conn:
        conn.execute(
            sa.text(
                "INSERT INTO links (tenant_id, referral_id, opportunity_id, base, state, "
                "created_at, updated_at) VALUES (:t, 'R1', 'O1', '{}', 'linked', now(), now())"
            ),
            {"t": int(tenant)},
        )
    with queue.opened():
        queue.enqueue(tenant, "opportunity:O1")
        queue.enqueue(tenant, "referral:R1")
        queue.enqueue(tenant, "opportunity:O9")
    with store.engine.connect() as conn:
        rows = conn.execute(
            sa.text("SELECT queueing_lock, lock FROM procrastinate_jobs ORDER BY id")
        ).all()
    assert [tuple(r) for r in rows] == [
        (f"{tenant}:opportunity:O1", f"{tenant}:referral:R1"),
        (f"{tenant}:referral:R1", f"{tenant}:referral:R1"),
        (f"{tenant}:opportunity:O9", f"{tenant}:opportunity:O9"),
    ]


def test_a_sigkilled_workers_reconcile_is_finished_by_another(
    store: Store, workers: Workers, tmp_path: Path
) -> None:
    tenant = store.ensure_tenant("acme")
    queue = DistributedQueue(store)
    doomed = workers.start()
    with queue.opened():
        queue.enqueue(tenant, "referral:block2")
    wait_until(lambda: len(runs(store)) == 1)
    doomed.send_signal(signal.SIGKILL)
    doomed.wait()
    (tmp_path / "block2").touch()
    workers.start()
    wait_until(lambda: finished(store, "referral:block2") == 1, timeout=60)
    pids = {r.pid for r in runs(store)}
    assert doomed.pid in pids
    assert len(pids) == 2


def test_a_periodic_task_runs_once_per_period_with_three_workers(
    store: Store, workers: Workers
) -> None:
    for _ in range(3):
        workers.start("* * * * * *")

    def ticks() -> list[Any]:
        with store.engine.connect() as conn:
            return list(conn.execute(sa.text("SELECT tenant, period, pid FROM test_ticks")))

    wait_until(lambda: len({t.period for t in ticks()}) >= 4)
    seen = ticks()
    per = [(t.tenant, t.period) for t in seen]
    assert len(per) == len(set(per)), "a period ran twice"
    assert {t.tenant for t in seen} == {1, 2}


def test_a_wake_runs_the_periodic_work_now_and_once(store: Store) -> None:
    """A webhook's sweep hint, a parked pair's alert: the periodic task deferred now."""
    tenant = store.ensure_tenant("acme")
    seen: list[tuple[TenantId, int]] = []
    queue = DistributedQueue(store)
    queue.add_periodic("sweep", "0 0 1 1 *", lambda t, period: seen.append((t, period)), [tenant])
    with queue.opened():
        queue.wake_periodic("sweep", tenant)
        queue.wake_periodic("sweep", tenant)  # while the first waits: the same wake
    queue.serve(lambda job: None, concurrency=1, install_signal_handlers=False, wait=False)
    assert seen == [(tenant, WAKE)]


# --- retry classification: one worker in this process, until nothing is due ----------------


def run_here(store: Store, handler: Callable[[Job], None], **kw: Any) -> list[Job]:
    halted: list[Job] = []
    queue = DistributedQueue(store, retry=RetryPolicy(base=0.0, cap=0.0), **kw)
    tenant = store.ensure_tenant("acme")
    with queue.opened():
        queue.enqueue(tenant, "referral:x")

    def on_halt(job: Job, error: CosellError) -> None:
        halted.append(job)

    queue.serve(handler, concurrency=1, on_halt=on_halt, install_signal_handlers=False, wait=False)
    return halted


def test_a_stale_write_is_read_again_at_once(store: Store) -> None:
    calls: list[int] = []

    def handler(job: Job) -> None:
        calls.append(job.attempts)
        if len(calls) == 1:
            raise StaleWrite("eTag moved")

    run_here(store, handler)
    assert calls == [1, 1]  # the same attempt, re-read
    assert store.dead_letters(store.ensure_tenant("acme")) == []


def test_throttling_retries_then_dead_letters_in_the_store_with_the_reason(store: Store) -> None:
    attempts: list[int] = []

    def handler(job: Job) -> None:
        attempts.append(job.attempts)
        raise Throttled("slow down", retry_after=0)

    run_here(store, handler, max_attempts=3)
    assert attempts == [1, 2, 3]
    (letter,) = store.dead_letters(store.ensure_tenant("acme"))
    assert letter.key == "referral:x"
    assert letter.attempts == 3
    assert "gave up after 3 attempts" in letter.reason
    assert "slow down" in letter.reason


def test_retry_after_sets_the_next_attempts_time(store: Store) -> None:
    def handler(job: Job) -> None:
        raise Throttled("slow down", retry_after=120)

    run_here(store, handler)
    with store.engine.connect() as conn:
        (status, args, at) = conn.execute(
            sa.text(
                "SELECT status, args, scheduled_at FROM procrastinate_jobs "
                "WHERE task_name = 'cosell.reconcile'"
            )
        ).one()
        now: datetime = conn.execute(sa.text("SELECT now()")).scalar_one()
    assert status == "todo"
    assert args["attempt"] == 2  # the next attempt is a job of its own
    assert at is not None
    assert (at - now).total_seconds() > 100


def test_a_retry_of_a_key_signalled_again_as_it_ran_is_the_job_queued_meanwhile(
    store: Store,
) -> None:
    """procrastinate's own retry put the job back in the queue, which the waiting job's
    queueing lock refused: the job stayed "doing" with the pair's lock for as long as its
    worker lived, and the key never ran again (seen in the scale-out soak)."""
    tenant = store.ensure_tenant("acme")
    queue = DistributedQueue(store, retry=RetryPolicy(base=0.0, cap=0.0))
    runs: list[int] = []

    def handler(job: Job) -> None:
        runs.append(job.attempts)
        if len(runs) == 1:
            queue.enqueue(tenant, job.key)  # a webhook for the key while it runs
            raise Throttled("slow down", retry_after=0)

    with queue.opened():
        queue.enqueue(tenant, "referral:x")
        queue.serve(handler, concurrency=1, install_signal_handlers=False, wait=False)
    assert runs == [1, 2]  # the queued job ran the key as its next attempt
    with store.engine.connect() as conn:
        left = conn.execute(sa.text("SELECT status FROM procrastinate_jobs")).scalars().all()
    assert "doing" not in left
    assert store.dead_letters(tenant) == []


def test_a_stalled_job_whose_key_was_queued_again_is_let_go(store: Store) -> None:
    """The stalled recovery's retry met the same refusal: it stopped there, and the stalled
    job kept the pair's lock."""
    tenant = store.ensure_tenant("acme")
    queue = DistributedQueue(store)
    with store.engine.begin() as conn:
        worker = conn.execute(
            sa.text(
                "INSERT INTO procrastinate_workers (last_heartbeat) "
                "VALUES (now() - interval '1 hour') RETURNING id"
            )
        ).scalar_one()
    with queue.opened():
        queue.enqueue(tenant, "referral:stuck")
    with store.engine.begin() as conn:  # a worker took it, then died
        conn.execute(
            sa.text("UPDATE procrastinate_jobs SET status = 'doing', worker_id = :w"),
            {"w": worker},
        )
    with queue.opened():
        queue.enqueue(tenant, "referral:stuck")  # signalled again: waiting behind the lock

    async def recover() -> None:
        async with queue.app.open_async():
            context = SimpleNamespace(app=queue.app)
            await queue._recover_stalled(context, 0)  # type: ignore[arg-type]

    asyncio.run(recover())  # the periodic recovery's run (the old code raised here)
    seen: list[str] = []
    queue.serve(
        lambda job: seen.append(job.key), concurrency=1, install_signal_handlers=False, wait=False
    )
    assert seen == ["referral:stuck"]
    with store.engine.connect() as conn:
        left = conn.execute(sa.text("SELECT count(*) FROM procrastinate_jobs")).scalar_one()
    assert left == 0


def test_an_auth_failure_dead_letters_and_halts_the_tenant(store: Store) -> None:
    def handler(job: Job) -> None:
        raise AuthError("token revoked")

    halted = run_here(store, handler)
    assert [j.key for j in halted] == ["referral:x"]
    (letter,) = store.dead_letters(store.ensure_tenant("acme"))
    assert letter.reason.startswith("halted:")


def test_a_success_clears_the_keys_dead_letter(store: Store) -> None:
    tenant = store.ensure_tenant("acme")
    run_here(store, lambda job: (_ for _ in ()).throw(AuthError("revoked")))
    assert len(store.dead_letters(tenant)) == 1
    run_here(store, lambda job: None)
    assert store.dead_letters(tenant) == []


def test_stop_lets_an_in_flight_reconcile_finish(store: Store) -> None:
    tenant = store.ensure_tenant("acme")
    release = threading.Event()
    started: list[str] = []
    done: list[str] = []

    def handler(job: Job) -> None:
        started.append(job.key)
        release.wait(10)
        done.append(job.key)

    queue = DistributedQueue(store, handler=handler, workers=2)
    queue.start()
    queue.enqueue(tenant, "referral:inflight")
    wait_until(lambda: started == ["referral:inflight"])
    stopping: list[bool] = []
    worker = queue._worker
    assert worker is not None
    stopper = threading.Thread(target=lambda: stopping.append(queue.stop(timeout=20)))
    stopper.start()
    wait_until(worker._stop_event.is_set, what="the stop request taken")
    assert done == []  # the reconcile is still running
    release.set()
    stopper.join(30)
    assert stopping == [True]
    assert done == ["referral:inflight"]
    assert procrastinate_rows(store) == (0, 0)  # it finished, and a finished job is deleted


def procrastinate_rows(store: Store) -> tuple[int, int]:
    """Reconcile jobs and their events left in procrastinate's tables (a periodic tick the
    worker deferred as it stopped waits for the next worker, with its event)."""
    with store.engine.connect() as conn:
        jobs = conn.execute(
            sa.text("SELECT count(*) FROM procrastinate_jobs WHERE task_name = 'cosell.reconcile'")
        ).scalar_one()
        events = conn.execute(
            sa.text(
                "SELECT count(*) FROM procrastinate_events e LEFT JOIN procrastinate_jobs j "
                "ON j.id = e.job_id WHERE j.id IS NULL OR j.task_name = 'cosell.reconcile'"
            )
        ).scalar_one()
    return int(jobs), int(events)


def test_finished_jobs_leave_no_rows_behind(store: Store) -> None:
    """procrastinate keeps every job by default: each reconcile and each periodic tick (the
    CRM poll's, every 2 s) left a row and its events for good."""
    outcomes = iter([None, StaleWrite("eTag moved"), None])

    def handler(job: Job) -> None:
        error = next(outcomes, None)
        if error is not None:
            raise error

    run_here(store, handler)
    run_here(store, lambda job: (_ for _ in ()).throw(AuthError("revoked")))  # a dead letter
    assert len(store.dead_letters(store.ensure_tenant("acme"))) == 1
    assert procrastinate_rows(store) == (0, 0)


def test_the_hourly_prune_deletes_succeeded_jobs_an_earlier_version_kept(store: Store) -> None:
    queue = DistributedQueue(store)
    with store.engine.begin() as conn:
        for status, hours in (("succeeded", 3), ("succeeded", 0), ("failed", 3), ("todo", 3)):
            job = conn.execute(
                sa.text(
                    "INSERT INTO procrastinate_jobs (queue_name, task_name, status) VALUES "
                    "('cosell', 'cosell.reconcile', CAST(:status AS procrastinate_job_status)) "
                    "RETURNING id"
                ),
                {"status": status},
            ).scalar_one()
            conn.execute(
                sa.text(
                    "INSERT INTO procrastinate_events (job_id, type, at) "
                    "VALUES (:job, 'deferred', now() - make_interval(hours => :hours))"
                ),
                {"job": job, "hours": hours},
            )

    async def prune() -> None:
        async with queue.app.open_async():
            await _prune_finished(SimpleNamespace(app=queue.app), 0)  # type: ignore[arg-type]

    asyncio.run(prune())
    with store.engine.connect() as conn:
        left = conn.execute(sa.text("SELECT status FROM procrastinate_jobs ORDER BY id")).all()
    assert [row.status for row in left] == ["succeeded", "failed", "todo"]


def test_a_worker_keeps_few_connections_open_at_rest(store: Store) -> None:
    """procrastinate's pools keep four connections each open by default, nine a process with its
    LISTEN, and psycopg_pool keeps a burst's for ten minutes: many processes on one server would
    hold many idle connections. At rest a worker keeps its pool's one and its LISTEN, and the
    deferring pool one."""
    tenant = store.ensure_tenant("acme")
    database = store.engine.url.database

    def connections() -> dict[str, int]:
        with store.engine.connect() as conn:
            sql = sa.text(
                "SELECT application_name, count(*) FROM pg_stat_activity WHERE datname = :d "
                "AND application_name IN (:worker, :deferrer) GROUP BY application_name"
            )
            rows = conn.execute(
                sql, {"d": database, "worker": WORKER_NAME, "deferrer": DEFERRER_NAME}
            )
            return {row[0]: int(row[1]) for row in rows}

    release = threading.Event()
    running: list[str] = []
    lock = threading.Lock()

    def handler(job: Job) -> None:
        with lock:
            running.append(job.key)
        release.wait(20)

    queue = DistributedQueue(store, handler=handler, workers=4, idle_close=0.2)
    queue.start()
    try:
        keys = [f"referral:{n}" for n in range(8)]
        threads = [threading.Thread(target=queue.enqueue, args=(tenant, k)) for k in keys]
        for thread in threads:
            thread.start()
        for thread in threads:
            thread.join()
        wait_until(lambda: len(running) == 4, what="four reconciles at once")
        busy = connections()
        release.set()
        wait_until(lambda: len(running) == len(keys), what="every reconcile run")
        # The burst grew the worker's pool; idle, it shrinks back to one beside the LISTEN.
        assert busy[WORKER_NAME] > 2
        assert sum(busy.values()) <= connections_at_most(
            4, runs_jobs=True
        )  # what deployments add up
        wait_until(
            lambda: connections() == {WORKER_NAME: 2, DEFERRER_NAME: 1},
            what="the pools back at rest",
        )
    finally:
        release.set()
        assert queue.stop(timeout=20)


def test_cosell_retry_through_the_stores_queue_reaches_the_workers(store: Store) -> None:
    tenant = store.ensure_tenant("acme")
    run_here(store, lambda job: (_ for _ in ()).throw(AuthError("revoked")))
    assert store.retry_dead_letter(tenant, "referral:x")  # what `cosell retry` does
    seen: list[str] = []
    queue = DistributedQueue(
        store, handler=lambda job: seen.append(job.key), workers=1, stalled_cron="* * * * * *"
    )
    queue.start()
    try:
        wait_until(lambda: seen == ["referral:x"])
    finally:
        assert queue.stop(timeout=20)
    with store.engine.connect() as conn:
        assert conn.execute(sa.text("SELECT count(*) FROM queue")).scalar_one() == 0
    assert store.dead_letters(tenant) == []


def test_one_tenant_holds_at_most_its_share_of_a_workers_reconciles(store: Store) -> None:
    alpha, beta = store.ensure_tenant("alpha"), store.ensure_tenant("beta")
    release = threading.Event()
    started: list[tuple[int, str]] = []
    done: list[str] = []

    def handler(job: Job) -> None:
        started.append((job.tenant_id, job.key))
        if job.tenant_id == alpha:
            release.wait(20)  # alpha's every call is slow
        done.append(job.key)

    queue = DistributedQueue(store, handler=handler, workers=2, tenant_slots=1)
    for key in ("referral:a1", "referral:a2", "referral:a3"):
        queue.enqueue(alpha, key)
    queue.enqueue(beta, "referral:b1")
    queue.start()
    try:
        wait_until(lambda: "referral:b1" in done)
        # beta was served while alpha held its one slot; alpha never held the second worker
        assert [key for tenant, key in started if tenant == alpha] == ["referral:a1"]
        release.set()
        wait_until(lambda: {"referral:a1", "referral:a2", "referral:a3"} <= set(done), timeout=30)
    finally:
        release.set()
        queue.stop(timeout=20)
    assert sorted(done) == ["referral:a1", "referral:a2", "referral:a3", "referral:b1"]


def test_a_signal_of_one_side_reaches_the_handler_and_each_scope_waits_on_its_own(
    store: Store,
) -> None:
    seen: list[tuple[str, str]] = []
    queue = DistributedQueue(store, retry=RetryPolicy(base=0.0, cap=0.0))
    tenant = store.ensure_tenant("acme")
    with queue.opened():
        queue.enqueue(tenant, "referral:w", scope="partner_center")
        queue.enqueue(tenant, "referral:w", scope="partner_center")  # waiting already
        queue.enqueue(tenant, "opportunity:o", scope="crm")
        queue.enqueue(tenant, "opportunity:o")  # both sides: a job of its own
    queue.serve(
        lambda job: seen.append((job.key, job.scope)),
        concurrency=1,
        install_signal_handlers=False,
        wait=False,
    )
    assert sorted(seen) == [
        ("opportunity:o", "both"),
        ("opportunity:o", "crm"),
        ("referral:w", "partner_center"),
    ]
