"""Time as an injected dependency, so expiry, backoff and ordering are tested without waiting."""

from __future__ import annotations

import threading
import time
from collections.abc import Callable
from datetime import UTC, datetime, timedelta
from typing import Protocol


class Clock(Protocol):
    """Wall-clock time (aware UTC) and a monotonic counter, plus a way to wait."""

    def now(self) -> datetime: ...

    def monotonic(self) -> float: ...

    def sleep(self, seconds: float) -> None: ...


class SystemClock:
    """The real clock."""

    def now(self) -> datetime:
        return datetime.now(UTC)

    def monotonic(self) -> float:
        return time.monotonic()

    def sleep(self, seconds: float) -> None:
        if seconds > 0:
            time.sleep(seconds)


class ManualClock:
    """A clock that moves only when told to; ``sleep`` advances it instead of blocking."""

    def __init__(self, start: datetime | None = None) -> None:
        self._now = start or datetime(2026, 1, 1, tzinfo=UTC)
        self._mono = 0.0
        self._lock = threading.Lock()
        self.slept: list[float] = []

    def now(self) -> datetime:
        with self._lock:
            return self._now

    def monotonic(self) -> float:
        with self._lock:
            return self._mono

    def advance(self, seconds: float) -> None:
        with self._lock:
            self._now += timedelta(seconds=seconds)
            self._mono += seconds

    def sleep(self, seconds: float) -> None:
        self.slept.append(seconds)
        self.advance(max(seconds, 0.0))


class OffsetClock:
    """The system clock shifted by an offset that can grow: an emulator's "advance time" control."""

    def __init__(self, base: Clock | None = None) -> None:
        self._base = base or SystemClock()
        self._offset = timedelta()
        self._lock = threading.Lock()

    @property
    def offset(self) -> timedelta:
        with self._lock:
            return self._offset

    def advance(self, seconds: float) -> None:
        with self._lock:
            self._offset += timedelta(seconds=seconds)

    def reset(self) -> None:
        with self._lock:
            self._offset = timedelta()

    def now(self) -> datetime:
        return self._base.now() + self.offset

    def monotonic(self) -> float:
        return self._base.monotonic() + self.offset.total_seconds()

    def sleep(self, seconds: float) -> None:
        self._base.sleep(seconds)


class FollowingClock:
    """``base`` shifted to follow another clock read through ``read`` (e.g. an emulator's, over
    HTTP), re-read at most every ``every`` seconds; a failed read (``None``) keeps the last
    offset. The sandbox's commands use it so expiry countdowns are in emulated time.

    The first read is waited for by every caller (before it, the offset is unknown); a later one
    is made by the caller whose turn it is, while the others go on with the last offset, so a
    slow answer holds up one thread, not all of them."""

    def __init__(
        self, base: Clock, read: Callable[[], datetime | None], every: float = 5.0
    ) -> None:
        self._base = base
        self._read = read
        self._every = every
        self._offset = timedelta()
        self._read_at: float | None = None
        self._first = threading.Lock()
        self._lock = threading.Lock()

    def now(self) -> datetime:
        if self._read_at is None:
            with self._first:
                if self._read_at is None:
                    self._follow(self._base.monotonic())
        mono = self._base.monotonic()
        with self._lock:
            due = self._read_at is not None and mono - self._read_at >= self._every
            if due:
                self._read_at = mono  # this caller reads; the others keep the last offset
            offset = self._offset
        if due:
            offset = self._follow(mono)
        return self._base.now() + offset

    def _follow(self, mono: float) -> timedelta:
        followed = self._read()
        with self._lock:
            if followed is not None:
                self._offset = followed - self._base.now()
            self._read_at = mono
            return self._offset

    def monotonic(self) -> float:
        return self._base.monotonic()

    def sleep(self, seconds: float) -> None:
        self._base.sleep(seconds)
