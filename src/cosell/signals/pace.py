"""A signal's pace kept in the store, for worker processes that take turns at its looks.

In one process a :class:`~cosell.signals.loop.SignalLoop` waits between looks as its cadence
says: the idle back-off (2 s doubling to 60 s for the CRM poll), a refusal's ``Retry-After``
or the API reserve (at least the idle ceiling), a feed's ``due_in`` hint. ``cosell worker``
processes run each look as a procrastinate periodic task instead, one worker or another each
period; a wait kept in one worker's memory would be unknown to the next. So the wait is kept
here, in a store cursor per tenant and signal (``pace.<signal>``): the periodic task ticks at
the cadence's shortest interval, and a tick looks only once the last look's wait has passed.

Two ticks may run at once (a slow look, the next period's tick on another worker). A tick
takes its look by swapping the cursor it read for a *hold* (the cadence's longest wait), so of
two ticks that read the same pace only one looks. A worker killed during a look leaves the
hold; the look is taken again when it runs out, no later than an idle wait would have.

A *woken* tick (a webhook's sweep hint, deferred as a one-off task) looks whatever the wait,
as :meth:`~cosell.signals.loop.SignalLoop.wake` does in one process, unless a look holds it.
"""

from __future__ import annotations

import json
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Protocol

from cosell.clock import Clock
from cosell.signals.loop import LookReport, SignalLoop
from cosell.store.records import TenantId

PREFIX = "pace."


class PaceStore(Protocol):
    """What a shared pace needs of the store (:class:`~cosell.store.sql.Store` has it)."""

    def get_cursor(self, tenant: TenantId, name: str) -> str | None: ...

    def set_cursor(self, tenant: TenantId, name: str, value: str) -> None: ...

    def swap_cursor(
        self, tenant: TenantId, name: str, expected: str | None, value: str
    ) -> bool: ...


@dataclass(frozen=True)
class Pace:
    """When the signal may look next, and the wait before it (the cadence's ``previous``)."""

    due_at: datetime
    wait: float | None
    held: bool = False
    """A look under way holds the pace until ``due_at`` (or until it writes its wait)."""

    def dumps(self) -> str:
        data = {"due_at": self.due_at.isoformat(), "wait": self.wait, "held": self.held}
        return json.dumps(data)

    @classmethod
    def loads(cls, text: str | None) -> Pace | None:
        """The pace a cursor holds; ``None`` for none, or for one this code cannot read (the
        signal then looks at once and writes its own)."""
        if not text:
            return None
        try:
            data = json.loads(text)
            wait = data.get("wait")
            return cls(
                datetime.fromisoformat(data["due_at"]),
                float(wait) if wait is not None else None,
                bool(data.get("held", False)),
            )
        except (ValueError, TypeError, KeyError, AttributeError):
            return None


class SharedPace:
    """One tenant's signal looked at from any worker process at the pace its loop keeps."""

    def __init__(self, store: PaceStore, tenant: TenantId, loop: SignalLoop, clock: Clock) -> None:
        self.store = store
        self.tenant = tenant
        self.loop = loop
        self.clock = clock
        self.cursor = f"{PREFIX}{loop.name}"

    @property
    def tick_every(self) -> float:
        """How often the periodic task should tick: the cadence's shortest wait."""
        return self.loop.cadence.min_interval

    def tick(self, *, woken: bool = False) -> LookReport | None:
        """Look if the last look's wait has passed (or the tick is ``woken``) and no other
        tick holds the look; the report, or ``None`` when it was not this tick's turn."""
        seen = self.store.get_cursor(self.tenant, self.cursor)
        pace = Pace.loads(seen)
        now = self.clock.now()
        if pace is not None and now < pace.due_at and (pace.held or not woken):
            return None
        previous = pace.wait if pace is not None else None
        until = now + timedelta(seconds=self.loop.cadence.max_interval)
        hold = Pace(until, previous, held=True)
        if not self.store.swap_cursor(self.tenant, self.cursor, seen, hold.dumps()):
            return None  # another worker's tick took this look
        report = self.loop.run_once(previous)
        after = Pace(report.at + timedelta(seconds=report.next_in), report.next_in)
        self.store.set_cursor(self.tenant, self.cursor, after.dumps())
        return report
