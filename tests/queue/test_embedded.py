from __future__ import annotations

import logging
import random
import threading
from collections import Counter
from collections.abc import Callable, Iterator
from datetime import timedelta

import pytest
from sqlalchemy import event

from cosell.clients.retry import RetryPolicy
from cosell.clock import ManualClock
from cosell.errors import (
    AuthError,
    CosellError,
    LimitReserveReached,
    RejectedError,
    RetryableError,
    StaleWrite,
    Throttled,
)
from cosell.handback import HandedBack
from cosell.queue.embedded import EmbeddedQueue, QueueStats
from cosell.store import Job, Store

WAIT = 20.0


class Recorder:
    """A handler that records runs and lets a test wait for them (no sleeps)."""

    def __init__(self, action: Callable[[Job], None] | None = None) -> None:
        self.cond = threading.Condition()
        self.runs: list[str] = []
        self.active: Counter[str] = Counter()
        self.overlaps = 0
        self.action = action

    def __call__(self, job: Job) -> None:
        with self.cond:
            if self.active[job.key]:
                self.overlaps += 1
            self.active[job.key] += 1
        try:
            if self.action is not None:
                self.action(job)
        finally:
            with self.cond:
                self.active[job.key] -= 1
                self.runs.append(job.key)
                self.cond.notify_all()

    def wait_for(self, predicate: Callable[[list[str]], bool]) -> None:
        with self.cond:
            assert self.cond.wait_for(lambda: predicate(self.runs), WAIT), self.runs


def _policy() -> RetryPolicy:
    return RetryPolicy(base=1.0, cap=8.0, rng=random.Random(7))


@pytest.fixture
def started() -> Iterator[list[EmbeddedQueue]]:
    queues: list[EmbeddedQueue] = []
    yield queues
    for queue in queues:
        queue.stop(drain=False, timeout=WAIT)


def test_run_until_idle_processes_everything_due(store: Store) -> None:
    tenant = store.ensure_tenant("acme")
    handler = Recorder()
    queue = EmbeddedQueue(store, handler, workers=3)
    for n in range(10):
        queue.enqueue(tenant, f"referral:R{n}")
    stats = queue.run_until_idle(WAIT)
    assert sorted(handler.runs) == sorted(f"referral:R{n}" for n in range(10))
    assert stats == QueueStats(claimed=10, completed=10)
    assert store.stats(tenant).queue_depth == 0


def test_once_one_worker_finds_nothing_due_the_others_stop_without_asking(
    store: Store, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Each worker asked the store once more before it stopped: at the end of a backfill's
    batch, hundreds of looks that could only find nothing."""
    tenant = store.ensure_tenant("acme")
    all_running, first_empty = threading.Barrier(4), threading.Event()
    empty = Counter[str]()
    claim = store.claim

    def counted(*args: object, **kwargs: object) -> list[Job]:
        claimed = claim(*args, **kwargs)  # type: ignore[arg-type]
        if not claimed:
            empty["looks"] += 1
            first_empty.set()
        return claimed

    def hold(job: Job) -> None:
        all_running.wait(WAIT)
        if job.key != "referral:R0":  # the others finish once R0's worker found nothing
            assert first_empty.wait(WAIT)

    monkeypatch.setattr(store, "claim", counted)
    queue = EmbeddedQueue(store, Recorder(hold), workers=4)
    for n in range(4):
        queue.enqueue(tenant, f"referral:R{n}")
    assert queue.run_until_idle(WAIT).completed == 4
    assert empty["looks"] == 1


def test_a_worker_takes_its_next_job_in_one_round_trip_on_a_server(store: Store) -> None:
    """On PostgreSQL each job's claim is one statement, and so is the last look that finds
    nothing; no read goes before them (on SQLite one does, sparing a writer's turn)."""
    tenant = store.ensure_tenant("acme")
    queue = EmbeddedQueue(store, Recorder(), workers=1)
    for n in range(3):
        queue.enqueue(tenant, f"referral:R{n}")
    statements: Counter[str] = Counter()
    event.listen(
        store.engine,
        "before_cursor_execute",
        lambda *a: statements.update([" ".join(a[2].split()[:2]).upper()]),
    )
    assert queue.run_until_idle(WAIT).completed == 3
    looks = statements["SELECT QUEUE.ID"]
    assert statements["WITH PICKED"] == (4 if store.engine.dialect.name == "postgresql" else 3)
    assert looks == (0 if store.engine.dialect.name == "postgresql" else 4)


def test_two_workers_never_process_one_key_concurrently(
    store: Store, started: list[EmbeddedQueue]
) -> None:
    tenant = store.ensure_tenant("acme")
    gate = threading.Event()
    handler = Recorder(lambda job: gate.wait(0.002))
    queue = EmbeddedQueue(store, handler, workers=4)
    started.append(queue)
    queue.start()
    keys = [f"referral:R{n % 3}" for n in range(60)]
    for key in keys:
        queue.enqueue(tenant, key)
    assert queue.stop(drain=True, timeout=WAIT)
    assert handler.overlaps == 0
    assert set(handler.runs) == set(keys)
    assert store.stats(tenant).queue_depth == 0


def test_a_key_enqueued_during_its_run_runs_once_more(
    store: Store, started: list[EmbeddedQueue]
) -> None:
    tenant = store.ensure_tenant("acme")
    in_run, release = threading.Event(), threading.Event()

    def first_run_blocks(job: Job) -> None:
        if not in_run.is_set():
            in_run.set()
            assert release.wait(WAIT)

    handler = Recorder(first_run_blocks)
    queue = EmbeddedQueue(store, handler, workers=2)
    started.append(queue)
    queue.start()
    queue.enqueue(tenant, "referral:R1")
    assert in_run.wait(WAIT)
    for _ in range(5):
        queue.enqueue(tenant, "referral:R1")
    release.set()
    handler.wait_for(lambda runs: len(runs) >= 2)
    assert queue.stop(drain=True, timeout=WAIT)
    assert handler.runs == ["referral:R1", "referral:R1"]
    assert handler.overlaps == 0


def test_enqueue_wakes_an_idle_worker_at_once(store: Store, started: list[EmbeddedQueue]) -> None:
    tenant = store.ensure_tenant("acme")
    handler = Recorder()
    queue = EmbeddedQueue(store, handler, workers=1, idle_wait=3600)
    started.append(queue)
    queue.start()
    queue.enqueue(tenant, "referral:R1")
    handler.wait_for(lambda runs: runs == ["referral:R1"])


@pytest.mark.parametrize("error_type", [Throttled, LimitReserveReached])
def test_retry_honours_retry_after(
    store: Store, clock: ManualClock, error_type: type[RetryableError]
) -> None:
    tenant = store.ensure_tenant("acme")
    failures = iter([error_type("slow down", retry_after=120)])

    def throttled_once(job: Job) -> None:
        if error := next(failures, None):
            raise error

    handler = Recorder(throttled_once)
    queue = EmbeddedQueue(store, handler, workers=1, clock=clock, retry=_policy())
    queue.enqueue(tenant, "referral:R1")
    assert queue.run_until_idle(WAIT) == QueueStats(claimed=1, retried=1)
    clock.advance(119)
    assert queue.run_until_idle(WAIT) == QueueStats()
    clock.advance(1)
    assert queue.run_until_idle(WAIT) == QueueStats(claimed=1, completed=1)
    assert handler.runs == ["referral:R1", "referral:R1"]


def test_backoff_grows_and_dead_letters_after_max_attempts(
    store: Store, clock: ManualClock
) -> None:
    tenant = store.ensure_tenant("acme")

    def always_fails(job: Job) -> None:
        raise Throttled("busy")

    queue = EmbeddedQueue(
        store, Recorder(always_fails), workers=1, clock=clock, retry=_policy(), max_attempts=4
    )
    queue.enqueue(tenant, "referral:R1")
    waits: list[float] = []
    for _ in range(3):
        assert queue.run_until_idle(WAIT).retried == 1
        due = store.next_due()
        assert due is not None
        waits.append((due - clock.now()).total_seconds())
        clock.advance(waits[-1])
    assert queue.run_until_idle(WAIT).dead_lettered == 1
    assert all(0 <= wait <= 8.0 for wait in waits)
    [letter] = store.dead_letters(tenant)
    assert letter.attempts == 4
    assert letter.reason == "gave up after 4 attempts: Throttled: busy"
    assert store.retry_dead_letter(tenant, "referral:R1")
    assert queue.run_until_idle(WAIT).claimed == 1


def test_rejected_is_dead_lettered_at_once_with_the_reason(
    store: Store, caplog: pytest.LogCaptureFixture
) -> None:
    tenant = store.ensure_tenant("acme")

    error = RejectedError("customer country must be ISO-2", status=400)

    def rejected(job: Job) -> None:
        raise error

    queue = EmbeddedQueue(store, Recorder(rejected), workers=1)
    queue.enqueue(tenant, "opportunity:006A")
    with caplog.at_level(logging.WARNING, logger="cosell.queue.embedded"):
        assert queue.run_until_idle(WAIT) == QueueStats(claimed=1, dead_lettered=1)
    [letter] = store.dead_letters(tenant)
    assert letter.reason == f"RejectedError: {error}"
    assert "customer country must be ISO-2" in letter.reason
    [line] = [r for r in caplog.records if "dead letter" in r.getMessage()]
    assert line.levelname == "WARNING"
    assert "key=opportunity:006A" in line.getMessage()
    assert "customer country must be ISO-2" in line.getMessage()


def test_halt_is_dead_lettered_and_reported(store: Store) -> None:
    tenant = store.ensure_tenant("acme")
    halted: list[tuple[str, CosellError]] = []

    def auth_fails(job: Job) -> None:
        raise AuthError("token refresh failed")

    queue = EmbeddedQueue(
        store, Recorder(auth_fails), workers=1, on_halt=lambda j, e: halted.append((j.key, e))
    )
    queue.enqueue(tenant, "referral:R1")
    assert queue.run_until_idle(WAIT).halted == 1
    assert [(key, type(error)) for key, error in halted] == [("referral:R1", AuthError)]
    assert store.dead_letters(tenant)[0].reason.startswith("halted: AuthError")


def test_stale_write_rereads_at_once_but_boundedly(store: Store) -> None:
    tenant = store.ensure_tenant("acme")
    stale = iter([StaleWrite("412"), StaleWrite("412")])

    def races_twice(job: Job) -> None:
        if error := next(stale, None):
            raise error

    handler = Recorder(races_twice)
    queue = EmbeddedQueue(store, handler, workers=1, reread_limit=3)
    queue.enqueue(tenant, "referral:R1")
    assert queue.run_until_idle(WAIT) == QueueStats(claimed=1, completed=1, rereads=2)
    assert len(handler.runs) == 3

    def always_stale(job: Job) -> None:
        raise StaleWrite("412")

    endless = Recorder(always_stale)
    queue = EmbeddedQueue(store, endless, workers=1, reread_limit=2)
    queue.enqueue(tenant, "referral:R2")
    assert queue.run_until_idle(WAIT) == QueueStats(claimed=1, retried=1, rereads=2)
    assert len(endless.runs) == 3


def test_unexpected_errors_are_retried_then_dead_lettered_redacted(
    store: Store, clock: ManualClock
) -> None:
    tenant = store.ensure_tenant("acme")

    def bug(job: Job) -> None:
        raise KeyError("Authorization: Bearer sekrit-token-value")

    queue = EmbeddedQueue(
        store, Recorder(bug), workers=1, clock=clock, retry=_policy(), max_attempts=2
    )
    queue.enqueue(tenant, "referral:R1")
    assert queue.run_until_idle(WAIT).retried == 1
    clock.advance(60)
    assert queue.run_until_idle(WAIT).dead_lettered == 1
    [letter] = store.dead_letters(tenant)
    assert letter.reason.startswith("gave up after 2 attempts: KeyError(")
    assert "sekrit" not in letter.reason


def test_graceful_stop_lets_the_in_flight_job_finish(
    store: Store, started: list[EmbeddedQueue]
) -> None:
    tenant = store.ensure_tenant("acme")
    in_run, release = threading.Event(), threading.Event()

    def slow(job: Job) -> None:
        in_run.set()
        assert release.wait(WAIT)

    handler = Recorder(slow)
    queue = EmbeddedQueue(store, handler, workers=1)
    started.append(queue)
    queue.start()
    queue.enqueue(tenant, "referral:R1")
    assert in_run.wait(WAIT)
    stopper = threading.Thread(target=queue.stop, kwargs={"drain": False, "timeout": WAIT})
    stopper.start()
    queue.enqueue(tenant, "referral:R2")
    release.set()
    stopper.join(WAIT)
    assert not stopper.is_alive()
    assert handler.runs == ["referral:R1"]
    stats = store.stats(tenant)
    assert (stats.queue_depth, stats.leased) == (1, 0)


def test_a_run_still_going_after_the_drain_time_is_handed_back_untouched(
    store: Store, started: list[EmbeddedQueue]
) -> None:
    tenant = store.ensure_tenant("acme")
    in_run, release = threading.Event(), threading.Event()
    late: list[BaseException] = []

    def stuck(job: Job) -> None:
        in_run.set()
        assert release.wait(WAIT)
        try:  # what the run does once it is let go: commit its work
            store.set_cursor(tenant, "late-commit", job.key)
        except BaseException as exc:
            late.append(exc)
            raise

    handler = Recorder(stuck)
    queue = EmbeddedQueue(store, handler, workers=1, lease_seconds=300)
    started.append(queue)
    queue.start()
    queue.enqueue(tenant, "referral:R1")
    assert in_run.wait(WAIT)

    assert queue.stop(drain=True, timeout=0.2) is False
    [entry] = queue.queued(tenant)
    assert (entry.key, entry.lease_owner, entry.lease_until) == ("referral:R1", None, None)

    # The next start picks it up at once: no lease to wait out, and the claim was not counted.
    again = Recorder()
    assert EmbeddedQueue(store, again, workers=1).run_until_idle(WAIT).completed == 1
    assert again.runs == ["referral:R1"]

    release.set()
    handler.wait_for(lambda runs: runs == ["referral:R1"])
    [error] = late
    assert isinstance(error, HandedBack)
    assert store.get_cursor(tenant, "late-commit") is None
    assert queue.stats == QueueStats(claimed=1)
    assert store.stats(tenant).queue_depth == 0
    assert store.dead_letters(tenant) == []


def test_a_handed_back_claim_is_not_counted_as_an_attempt(
    store: Store, started: list[EmbeddedQueue]
) -> None:
    tenant = store.ensure_tenant("acme")
    in_run, release = threading.Event(), threading.Event()
    queue = EmbeddedQueue(
        store, Recorder(lambda _job: (in_run.set(), release.wait(WAIT))), workers=1
    )
    started.append(queue)
    store.enqueue(tenant, "referral:R1")
    queue.start()
    assert in_run.wait(WAIT)
    assert not queue.stop(drain=True, timeout=0.2)
    [job] = store.claim("next-start", store.clock.now(), 60)
    assert job.attempts == 1
    release.set()


def test_drain_stop_runs_what_is_due_first(store: Store, started: list[EmbeddedQueue]) -> None:
    tenant = store.ensure_tenant("acme")
    handler = Recorder()
    queue = EmbeddedQueue(store, handler, workers=2, idle_wait=3600)
    for n in range(5):
        store.enqueue(tenant, f"referral:R{n}")
    started.append(queue)
    queue.start()
    assert queue.stop(drain=True, timeout=WAIT)
    assert len(handler.runs) == 5


def test_run_until_idle_raises_when_the_store_fails(store: Store) -> None:
    tenant = store.ensure_tenant("acme")
    queue = EmbeddedQueue(store, Recorder(), workers=2)
    queue.enqueue(tenant, "referral:R1")

    def refuse(*args: object) -> None:
        raise ConnectionError("database is gone")

    event.listen(store.engine, "before_cursor_execute", refuse)
    with pytest.raises(ConnectionError, match="database is gone"):
        queue.run_until_idle(WAIT)


def test_queued_lists_waiting_and_leased_keys_and_holds_tells_whose_lease(
    store: Store, clock: ManualClock
) -> None:
    tenant = store.ensure_tenant("acme")
    other_tenant = store.ensure_tenant("other")
    store.enqueue(other_tenant, "referral:theirs", clock.now() + timedelta(hours=1))
    store.enqueue(tenant, "referral:elsewhere")
    [foreign] = store.claim("host:1:cafe:0", clock.now(), 300)
    store.enqueue(tenant, "referral:later", clock.now() + timedelta(minutes=5))
    store.enqueue(tenant, "referral:now")
    seen: dict[str, list[tuple[str, bool]]] = {}

    def look(job: Job) -> None:
        seen[job.key] = [(e.key, queue.holds(e)) for e in queue.queued(tenant)]

    queue = EmbeddedQueue(store, look, workers=1, clock=clock)
    queue.run_until_idle(WAIT)
    assert seen == {
        "referral:now": [
            ("referral:elsewhere", False),
            ("referral:later", False),
            ("referral:now", True),
        ]
    }
    left = queue.queued(tenant)
    assert [(e.key, e.lease_owner, e.lease_until) for e in left] == [
        ("referral:elsewhere", foreign.lease_owner, foreign.lease_until),
        ("referral:later", None, None),
    ]
    assert left[1].due_at == clock.now() + timedelta(minutes=5)
