"""The clock the sandbox's commands follow (an emulator's, read over HTTP now and then)."""

from __future__ import annotations

import threading
from datetime import UTC, datetime, timedelta

from cosell.clock import FollowingClock, ManualClock

START = datetime(2026, 12, 6, 9, 0, tzinfo=UTC)
AHEAD = timedelta(days=3)


def test_a_slow_read_holds_up_only_the_caller_making_it() -> None:
    """The read was made under the clock's lock: while the emulator was slow to answer, every
    thread asking the time waited for it."""
    base = ManualClock(START)
    answer, reading = threading.Event(), threading.Event()
    offsets = [AHEAD, AHEAD + timedelta(hours=1)]

    def read() -> datetime:
        if len(offsets) == 1:  # the second read: answered when the test says so
            reading.set()
            answer.wait(30)
        return base.now() + offsets.pop(0)

    clock = FollowingClock(base, read, every=5.0)
    assert clock.now() == START + AHEAD  # the first read is waited for
    base.advance(6.0)
    slow = threading.Thread(target=clock.now)
    slow.start()
    assert reading.wait(30)
    assert clock.now() == base.now() + AHEAD  # not held up: the last offset
    answer.set()
    slow.join(30)
    assert clock.now() == base.now() + AHEAD + timedelta(hours=1)


def test_a_failed_read_keeps_the_last_offset_and_is_tried_again_later() -> None:
    base = ManualClock(START)
    answers: list[datetime | None] = [START + AHEAD, None, START + 2 * AHEAD]
    clock = FollowingClock(base, lambda: answers.pop(0), every=5.0)
    assert clock.now() == START + AHEAD
    base.advance(5.0)
    assert clock.now() == base.now() + AHEAD
    assert clock.now() == base.now() + AHEAD  # not read again before its time
    base.advance(5.0)
    assert clock.now() == START + 2 * AHEAD
