"""Retrying a remote call: jittered exponential backoff, capped, honouring ``Retry-After``."""

from __future__ import annotations

import random
from collections.abc import Callable
from dataclasses import dataclass, field
from email.utils import parsedate_to_datetime
from typing import TypeVar

import httpx

from cosell.clock import Clock, SystemClock
from cosell.errors import RetryableError

T = TypeVar("T")


@dataclass
class RetryPolicy:
    """How often and how long to wait between attempts.

    ``delay(n)`` for attempt ``n`` (1-based) is "full jitter": uniform in
    ``[0, min(cap, base * 2**(n-1))]``; a server's ``Retry-After`` wins when larger, up to
    ``max_retry_after``.
    """

    attempts: int = 5
    base: float = 0.5
    cap: float = 30.0
    max_retry_after: float = 300.0
    clock: Clock = field(default_factory=SystemClock)
    rng: random.Random = field(default_factory=random.Random)

    def delay(self, attempt: int, retry_after: float | None = None) -> float:
        ceiling = min(self.cap, self.base * 2 ** (attempt - 1))
        wait = self.rng.uniform(0, ceiling)
        if retry_after is not None:
            wait = max(wait, min(retry_after, self.max_retry_after))
        return wait

    def call(self, fn: Callable[[], T]) -> T:
        """Run ``fn``; on ``RetryableError`` wait and try again, up to ``attempts`` in all. A
        server asking to wait longer than ``max_retry_after`` gets the error back at once: the
        caller (the work queue) reschedules instead of holding its thread that long."""
        attempt = 1
        while True:
            try:
                return fn()
            except RetryableError as exc:
                if attempt >= self.attempts:
                    raise
                if exc.retry_after is not None and exc.retry_after > self.max_retry_after:
                    raise
                self.clock.sleep(self.delay(attempt, exc.retry_after))
                attempt += 1


def parse_retry_after(response: httpx.Response, clock: Clock | None = None) -> float | None:
    """Seconds from a ``Retry-After`` header (delta-seconds or an HTTP date), if present."""
    value = response.headers.get("Retry-After")
    if not value:
        return None
    value = value.strip()
    try:
        return max(float(value), 0.0)
    except ValueError:
        pass
    try:
        when = parsedate_to_datetime(value)
    except (TypeError, ValueError):
        return None
    now = (clock or SystemClock()).now()
    return max((when - now).total_seconds(), 0.0)
