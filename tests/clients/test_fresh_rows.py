"""Rows a poll read, kept for the next read of the same record."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

from cosell.clients.fresh_rows import MAX_AGE, FreshRow, FreshRows

READ = datetime(2026, 3, 2, 9, 0, tzinfo=UTC)


class Ticks:
    def __init__(self) -> None:
        self.now = 100.0

    def __call__(self) -> float:
        return self.now


def row(record_id: str) -> FreshRow:
    return FreshRow({"Id": record_id}, READ, READ)


def test_a_row_is_taken_once_by_a_read_that_accepts_rows_read_after_a_time() -> None:
    fresh = FreshRows(Ticks())
    fresh.offer("006A", row("006A"))
    assert fresh.take("006A", READ) is None  # read at that very time: not after it
    fresh.offer("006A", row("006A"))
    taken = fresh.take("006A", READ - timedelta(seconds=1))
    assert taken is not None
    assert taken.row == {"Id": "006A"}
    assert fresh.take("006A", READ - timedelta(seconds=1)) is None  # once
    assert fresh.take("006B", READ - timedelta(seconds=1)) is None


def test_rows_older_than_the_age_limit_serve_no_read_and_are_dropped() -> None:
    ticks = Ticks()
    fresh = FreshRows(ticks)
    fresh.offer("006A", row("006A"))
    ticks.now += MAX_AGE + 1
    assert fresh.take("006A", READ - timedelta(seconds=1)) is None
    fresh.offer("006B", row("006B"))
    ticks.now += MAX_AGE + 1
    fresh.offer("006C", row("006C"))  # an offer drops what has aged out
    assert len(fresh) == 1


def test_a_row_asked_for_before_a_related_change_serves_no_read() -> None:
    """A related row of the record changed, as seen at a time: a row asked for before that is
    dropped, now or when it is offered (a slow poll's); one asked for after it still serves."""
    before = READ - timedelta(seconds=1)
    fresh = FreshRows(Ticks())
    fresh.offer("006A", row("006A"))
    fresh.stale("006A", READ + timedelta(seconds=1))
    assert fresh.take("006A", before) is None
    fresh.offer("006A", row("006A"))  # asked for before the change: not kept
    assert len(fresh) == 0
    later = FreshRow({"Id": "006A"}, READ + timedelta(seconds=2), None)
    fresh.offer("006A", later)
    assert fresh.take("006A", before) == later
    fresh.offer("006B", row("006B"))
    fresh.stale("006A", READ + timedelta(seconds=5))
    assert fresh.take("006B", before) is not None  # another record's row is untouched
