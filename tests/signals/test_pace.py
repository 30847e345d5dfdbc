"""A signal's pace shared by worker processes through the store (``cosell worker``): the looks
keep the cadence a single ``cosell run`` keeps, whichever worker ticks."""

from __future__ import annotations

from collections.abc import Callable

import pytest

from cosell.clock import ManualClock
from cosell.errors import Throttled
from cosell.signals.cadence import Cadence
from cosell.signals.loop import SignalLoop
from cosell.signals.pace import Pace, SharedPace
from cosell.store import Store

POLL = Cadence(2.0, 60.0)


class Feed:
    """One worker's feed; every worker's looks land in the shared ``looks`` (clock times)."""

    def __init__(
        self,
        clock: ManualClock,
        looks: list[float],
        results: Callable[[], int] = lambda: 0,
        due: float | None = None,
    ) -> None:
        self.clock, self.looks, self.results, self.due = clock, looks, results, due

    def look(self) -> int:
        self.looks.append(self.clock.monotonic())
        return self.results()

    def due_in(self) -> float | None:
        return self.due


def workers(
    store: Store, clock: ManualClock, feeds: list[Feed], cadence: Cadence = POLL
) -> list[SharedPace]:
    tenant = store.ensure_tenant("acme")
    return [SharedPace(store, tenant, SignalLoop("poll", f, cadence, clock), clock) for f in feeds]


def tick_for(paces: list[SharedPace], clock: ManualClock, seconds: float) -> None:
    """The periodic task every ``tick_every`` seconds, on the workers in turn."""
    start = clock.monotonic()
    n = 0
    while clock.monotonic() - start < seconds:
        paces[n % len(paces)].tick()
        clock.advance(paces[0].tick_every)
        n += 1


def single_loop_looks(cadence: Cadence, seconds: float) -> list[float]:
    """When one ``cosell run`` loop of an idle feed looks (its waits, from the cadence)."""
    at, previous, looks = 0.0, None, []
    while at < seconds:
        looks.append(at)
        previous = cadence.next_interval(previous, 0)
        at += previous
    return looks


def test_idle_looks_back_off_as_in_one_process_whichever_worker_ticks(
    store: Store, clock: ManualClock
) -> None:
    looks: list[float] = []
    start = clock.monotonic()
    paces = workers(store, clock, [Feed(clock, looks) for _ in range(3)])
    tick_for(paces, clock, 600)
    assert [t - start for t in looks] == single_loop_looks(POLL, 600)
    assert len(looks) == 14  # 300 ticks: the old periodic task looked at each one


def test_a_look_that_found_changes_looks_again_at_the_shortest_wait(
    store: Store, clock: ManualClock
) -> None:
    looks: list[float] = []
    found = iter([0, 0, 0, 0, 5])
    paces = workers(store, clock, [Feed(clock, looks, lambda: next(found, 0)) for _ in range(2)])
    start = clock.monotonic()
    tick_for(paces, clock, 40)
    assert [t - start for t in looks] == [0, 2, 6, 14, 30, 32, 36]


def test_a_throttled_look_waits_out_retry_after_on_every_worker(
    store: Store, clock: ManualClock
) -> None:
    looks: list[float] = []

    def throttled_once() -> int:
        if len(looks) == 1:
            raise Throttled("slow down", retry_after=120.0)
        return 0

    paces = workers(store, clock, [Feed(clock, looks, throttled_once) for _ in range(2)])
    start = clock.monotonic()
    tick_for(paces, clock, 130)
    assert [t - start for t in looks] == [0, 120]


def test_a_feeds_due_hint_brings_the_next_look_forward(store: Store, clock: ManualClock) -> None:
    looks: list[float] = []
    feeds = [Feed(clock, looks) for _ in range(2)]
    paces = workers(store, clock, feeds, Cadence(2.0, 300.0))
    tick_for(paces, clock, 300)  # idle: the waits have grown to 256 s
    assert len(looks) == 8
    last = looks[-1]
    for feed in feeds:  # a version left waiting settles in 10 s (the related-record poll)
        feed.due = 10.0
    tick_for(paces, clock, 270 - (clock.monotonic() - last))
    assert looks[8] - last == 256  # the wait chosen before the hint
    assert looks[9] - looks[8] == 10


def test_of_two_ticks_at_once_one_looks(store: Store, clock: ManualClock) -> None:
    looks: list[float] = []
    during: list[object] = []
    feeds = [Feed(clock, looks) for _ in range(2)]
    first, second = workers(store, clock, feeds)

    def slow_look() -> int:  # the next period's tick, on another worker, comes mid-look
        during.append(second.tick())
        return 0

    feeds[0].results = slow_look
    assert first.tick() is not None
    assert during == [None]
    assert len(looks) == 1


def test_a_look_cut_short_by_a_killed_worker_is_taken_again_after_the_hold(
    store: Store, clock: ManualClock
) -> None:
    looks: list[float] = []

    def killed() -> int:
        raise SystemExit(137)  # what run_once does not catch: the process ends mid-look

    doomed, other = workers(store, clock, [Feed(clock, looks, killed), Feed(clock, looks)])
    start = clock.monotonic()
    with pytest.raises(SystemExit):
        doomed.tick()
    tick_for([other], clock, 61)
    assert [t - start for t in looks] == [0, POLL.max_interval]


def test_a_pace_this_code_cannot_read_looks_at_once(store: Store, clock: ManualClock) -> None:
    looks: list[float] = []
    (pace,) = workers(store, clock, [Feed(clock, looks)])
    store.set_cursor(pace.tenant, pace.cursor, "not json")
    assert pace.tick() is not None
    written = Pace.loads(store.get_cursor(pace.tenant, pace.cursor))
    assert written is not None
    assert written.wait == POLL.min_interval


def test_a_woken_tick_looks_at_once_unless_a_look_holds_the_pace(
    store: Store, clock: ManualClock
) -> None:
    looks: list[float] = []
    woken_during: list[object] = []
    feeds = [Feed(clock, looks) for _ in range(2)]
    first, second = workers(store, clock, feeds, Cadence(300.0, 300.0))  # the sweep's
    start = clock.monotonic()
    assert first.tick() is not None
    clock.advance(30)
    assert second.tick() is None  # its wait: 300 s
    assert second.tick(woken=True) is not None  # a webhook's hint

    def hinted_mid_look() -> int:
        woken_during.append(second.tick(woken=True))
        return 0

    feeds[0].results = hinted_mid_look
    clock.advance(300)
    assert first.tick() is not None
    assert woken_during == [None]  # the look under way is the one the hint asked for
    assert [t - start for t in looks] == [0, 30, 330]
