"""A change signal's thread: look, wait (adaptively), look again, until told to stop.

Waiting is on an ``Event`` with a timeout, so ``stop()`` and ``wake()`` take effect at once.
A failed look never kills the thread: throttling and the API budget reserve wait at least the
idle ceiling (or the server's ``Retry-After``); any other error is logged and retried after the
idle ceiling.
"""

from __future__ import annotations

import threading
from collections.abc import Callable
from dataclasses import dataclass
from datetime import datetime
from typing import Literal, Protocol

import structlog

from cosell.clock import Clock
from cosell.errors import RetryableError
from cosell.signals.cadence import Cadence

log = structlog.get_logger(__name__)

LookOutcome = Literal["ok", "deferred", "failed"]


class Look(Protocol):
    """One round of a signal; returns how many keys it enqueued. A feed may also have
    ``due_in()``: seconds until something it waits for is due (``None``: nothing), which
    shortens the wait before the next look (never below the cadence's ``min_interval``)."""

    def look(self) -> int: ...


@dataclass(frozen=True)
class LookReport:
    """What one round did, for the status page and metrics."""

    signal: str
    at: datetime
    outcome: LookOutcome
    enqueued: int
    next_in: float
    error: str | None = None


class SignalLoop:
    """Runs ``feed.look()`` in its own daemon thread at the ``cadence``'s pace."""

    def __init__(
        self,
        name: str,
        feed: Look,
        cadence: Cadence,
        clock: Clock,
        on_report: Callable[[LookReport], None] | None = None,
    ) -> None:
        self.name = name
        self._feed = feed
        self._cadence = cadence
        self._clock = clock
        self._on_report = on_report
        self._nudge = threading.Event()
        self._stopping = False
        self._thread: threading.Thread | None = None
        self.last: LookReport | None = None

    @property
    def cadence(self) -> Cadence:
        return self._cadence

    def start(self) -> None:
        self._thread = threading.Thread(target=self._run, name=f"signal-{self.name}", daemon=True)
        self._thread.start()

    def wake(self) -> None:
        """Look again now instead of at the end of the current wait."""
        self._nudge.set()

    def stop(self, timeout: float = 30.0) -> None:
        """Stop looking; returns once the current look (if any) has finished."""
        self._stopping = True
        self._nudge.set()
        if self._thread is not None:
            self._thread.join(timeout)

    def run_once(self, previous: float | None = None) -> LookReport:
        """One look and its report (also what the thread does each round)."""
        report = self._look(previous)
        self.last = report
        if self._on_report is not None:
            self._on_report(report)
        return report

    def _run(self) -> None:
        previous: float | None = None
        while not self._stopping:
            previous = self.run_once(previous).next_in
            self._nudge.wait(previous)
            self._nudge.clear()

    def _look(self, previous: float | None) -> LookReport:
        try:
            enqueued = self._feed.look()
        except RetryableError as exc:
            wait = self._cadence.after_refusal(exc.retry_after)
            log.warning("signal.deferred", signal=self.name, error=str(exc), retry_in=wait)
            return self._report("deferred", 0, wait, str(exc))
        except Exception as exc:
            wait = self._cadence.max_interval
            log.exception("signal.failed", signal=self.name, retry_in=wait)
            return self._report("failed", 0, wait, f"{type(exc).__name__}: {exc}")
        wait = self._cadence.next_interval(previous, enqueued)
        due = getattr(self._feed, "due_in", None)
        hint = due() if callable(due) else None
        if isinstance(hint, int | float):  # the feed waits for something due sooner
            wait = min(wait, max(hint, self._cadence.min_interval))
        log.debug("signal.looked", signal=self.name, enqueued=enqueued, next_in=wait)
        return self._report("ok", enqueued, wait)

    def _report(
        self, outcome: LookOutcome, enqueued: int, wait: float, error: str | None = None
    ) -> LookReport:
        return LookReport(self.name, self._clock.now(), outcome, enqueued, wait, error)
