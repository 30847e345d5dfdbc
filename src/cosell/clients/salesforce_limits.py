"""Salesforce's daily API allowance as cosell sees it, and the reserve kept for urgent work.

Every REST response carries ``Sforce-Limit-Info: api-usage=used/max`` (a rolling 24-hour
window). ``ApiBudget`` keeps the latest figures; before a call marked ``background`` it refuses to
spend the last part of the allowance (the *reserve*), so a backfill or sweep can never starve
the writes users are waiting for.
"""

from __future__ import annotations

import re
import threading
from collections.abc import Iterator
from contextlib import contextmanager
from contextvars import ContextVar
from dataclasses import dataclass
from datetime import datetime
from typing import Literal

from cosell.clock import Clock, SystemClock
from cosell.errors import LimitReserveReached

Priority = Literal["urgent", "background"]

LIMIT_HEADER = "Sforce-Limit-Info"
_USAGE = re.compile(r"(?:^|[\s,;])api-usage=(\d+)/(\d+)")
_priority: ContextVar[Priority] = ContextVar("cosell_salesforce_priority", default="urgent")


@contextmanager
def priority(level: Priority) -> Iterator[None]:
    """Mark every Salesforce call made inside the block (in this thread) as ``level``."""
    token = _priority.set(level)
    try:
        yield
    finally:
        _priority.reset(token)


def current_priority() -> Priority:
    """The priority set by the innermost ``priority(...)`` block; ``urgent`` outside any."""
    return _priority.get()


@dataclass(frozen=True)
class Reserve:
    """How much of the allowance background work must leave: a fraction, a call count, or both
    (the larger wins)."""

    fraction: float = 0.10
    calls: int = 0

    def of(self, maximum: int) -> int:
        return max(int(maximum * self.fraction), self.calls)

    def describe(self) -> str:
        parts = [f"{self.fraction:.0%}"] if self.fraction else []
        parts += [f"{self.calls:,} calls"] if self.calls else []
        return " or ".join(parts) or "none"


@dataclass(frozen=True)
class Usage:
    """One reading of the allowance."""

    used: int
    max: int
    updated_at: datetime

    @property
    def remaining(self) -> int:
        return max(self.max - self.used, 0)


def parse_limit_info(value: str) -> tuple[int, int] | None:
    """``(used, max)`` from a ``Sforce-Limit-Info`` header value, or None when absent."""
    match = _USAGE.search(value)
    return (int(match.group(1)), int(match.group(2))) if match else None


class ApiBudget:
    """Thread-safe latest reading of ``api-usage`` plus the reserve kept for urgent calls."""

    def __init__(self, reserve: Reserve | None = None, *, clock: Clock | None = None) -> None:
        self.reserve = reserve or Reserve()
        self._clock = clock or SystemClock()
        self._lock = threading.Lock()
        self._usage: Usage | None = None

    @property
    def usage(self) -> Usage | None:
        with self._lock:
            return self._usage

    def recent(self, within: float) -> Usage | None:
        """The latest reading when a response brought it in the last ``within`` seconds."""
        usage = self.usage
        if usage is None or (self._clock.now() - usage.updated_at).total_seconds() > within:
            return None
        return usage

    def observe(self, header_value: str | None) -> None:
        """Record a response's ``Sforce-Limit-Info`` header (ignored when absent or unparsable)."""
        parsed = parse_limit_info(header_value or "")
        if parsed is None:
            return
        with self._lock:
            self._usage = Usage(parsed[0], parsed[1], self._clock.now())

    def check(self, level: Priority | None = None) -> None:
        """Raise ``LimitReserveReached`` if a ``background`` call would eat into the reserve."""
        if (level or current_priority()) != "background":
            return
        usage = self.usage
        if usage is None or usage.remaining > self.reserve.of(usage.max):
            return
        raise LimitReserveReached(
            f"Salesforce API budget reserve reached: {usage.used:,} of {usage.max:,} used; "
            f"reserve {self.reserve.describe()}; background work paused",
            retry_after=3600.0,
        )
