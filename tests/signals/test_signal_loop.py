import threading
import time

import pytest

from cosell.clock import ManualClock
from cosell.errors import LimitReserveReached, Throttled
from cosell.signals.cadence import Cadence
from cosell.signals.loop import LookReport, SignalLoop


class CountingFeed:
    def __init__(self, results: list[int | Exception] | None = None) -> None:
        self.results = results or []
        self.calls = 0
        self.called = threading.Condition()

    def look(self) -> int:
        with self.called:
            self.calls += 1
            self.called.notify_all()
        result = self.results.pop(0) if self.results else 0
        if isinstance(result, Exception):
            raise result
        return result

    def wait_for(self, calls: int, deadline: float = 5.0) -> bool:
        with self.called:
            return self.called.wait_for(lambda: self.calls >= calls, deadline)


def test_stop_is_prompt_even_in_a_long_wait() -> None:
    feed = CountingFeed()
    loop = SignalLoop("poll", feed, Cadence(300.0, 600.0), ManualClock())
    loop.start()
    assert feed.wait_for(1)
    started = time.monotonic()
    loop.stop(timeout=5.0)
    assert time.monotonic() - started < 2.0
    assert loop._thread is not None
    assert not loop._thread.is_alive()
    assert feed.calls == 1


def test_wake_looks_again_at_once() -> None:
    feed = CountingFeed()
    loop = SignalLoop("sweep", feed, Cadence(300.0, 300.0), ManualClock())
    loop.start()
    try:
        assert feed.wait_for(1)
        loop.wake()
        assert feed.wait_for(2)
    finally:
        loop.stop()


def test_reports_carry_time_outcome_and_the_next_wait() -> None:
    clock = ManualClock()
    reports: list[LookReport] = []
    feed = CountingFeed([3, 0, Throttled("slow down", retry_after=120.0), ValueError("bad row")])
    loop = SignalLoop("poll", feed, Cadence(2.0, 60.0), clock, reports.append)
    previous = None
    for _ in range(4):
        previous = loop.run_once(previous).next_in
        clock.advance(previous)
    assert [(r.outcome, r.enqueued, r.next_in) for r in reports] == [
        ("ok", 3, 2.0),
        ("ok", 0, 4.0),
        ("deferred", 0, 120.0),
        ("failed", 0, 60.0),
    ]
    assert (reports[1].at - reports[0].at).total_seconds() == 2.0
    assert reports[3].error == "ValueError: bad row"
    assert loop.last == reports[3]


@pytest.mark.parametrize("error", [LimitReserveReached("reserve reached"), Throttled("429")])
def test_budget_refusals_wait_the_idle_ceiling(error: Exception) -> None:
    loop = SignalLoop("poll", CountingFeed([error]), Cadence(2.0, 60.0), ManualClock())
    report = loop.run_once(2.0)
    assert report.outcome == "deferred"
    assert report.next_in == 60.0


def test_a_failing_look_does_not_kill_the_thread() -> None:
    feed = CountingFeed([RuntimeError("boom")])
    loop = SignalLoop("poll", feed, Cadence(0.01, 0.01), ManualClock())
    loop.start()
    try:
        assert feed.wait_for(3)
    finally:
        loop.stop()


class WaitingFeed(CountingFeed):
    """A feed that waits for something due in ``due`` seconds (``None``: nothing)."""

    def __init__(self, due: list[float | None]) -> None:
        super().__init__()
        self.due = due

    def due_in(self) -> float | None:
        return self.due.pop(0)


def test_a_feed_waiting_for_something_is_looked_at_when_it_is_due() -> None:
    feed = WaitingFeed([7.5, 0.1, None])
    loop = SignalLoop("related", feed, Cadence(2.0, 300.0), ManualClock())
    waits = [loop.run_once(300.0).next_in for _ in range(3)]
    # At its idle ceiling the loop would wait 300 s; it looks when the feed's wait is over
    # (never sooner than its shortest interval), and at its own pace when nothing waits.
    assert waits == [7.5, 2.0, 300.0]
