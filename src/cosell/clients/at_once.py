"""How many calls of one kind run at once, set by how long the other side takes to answer.

A remote call spends its time in two ways: the connector's own CPU (building the request,
sending it, reading and parsing the answer) and waiting for the other side. Calls side by side
overlap the waiting; once it is covered, more calls at once only queue for the interpreter and
the connection pool, and handing the turn around among them costs CPU of its own. Where that
point lies depends on the other side: Partner Center across the internet answers in tenths of a
second (dozens at once keep the connector busy), an emulator on loopback in about a millisecond
(a backfill's 3,000 write-backs took 3.5-3.7 s with 4 threads at once, 4.1-4.8 s with 16, and a
third more CPU).

The wait for the other side cannot be read off calls that queue for one another: with the
connector busy, every call waits for the others' CPU too. So :class:`CallsAtOnce` measures it
the way a congestion control measures a path's round trip (BBR's "probe RTT"): now and then a
window of calls runs only ``least`` at once, and the least wall time less CPU among them is the
other side's wait. Covering that wait takes ``(cpu + wait) / cpu`` calls at once (Little's law);
the limit until the next probe is twice that, within ``least`` and ``most``, so a slower answer
than the probe's fastest still finds the connector busy. Calls that began before a window are
not counted in it. While even the fastest answer among the calls at the limit wants twice
``most`` (the other side is far, and the calls queue for nothing but it), no probe is made.

:meth:`CallsAtOnce.each` runs the calls on as many threads as the limit, each thread taking the
next call when it is done with one: parking the threads over the limit and waking one per
finished call cost as much as the threads it saved. No library on PyPI that adapts a thread
pool's concurrency is more than a few months old, so this is written here.
"""

from __future__ import annotations

import math
import threading
import time
from collections.abc import Callable, Iterator, Sequence
from concurrent.futures import Executor, Future
from typing import Generic, TypeVar

T = TypeVar("T")
R = TypeVar("R")

PROBE = 8
"""Calls in a probe window (``least`` at once)."""
PROBE_EVERY = 40
"""Probe windows' worth of calls made at the limit between two probes."""
SLACK = 2
"""The limit over the calls that just cover the other side's wait."""
FAR = 2
"""No probe while the calls at the limit want this many times ``most`` (the other side is far:
across the internet, 8 calls two at a time would take a second and more)."""


class CallsAtOnce:
    """How many calls of one kind to make at once: ``limit``, set between ``least`` and
    ``most`` from what the calls measure (see the module); it starts with a probe."""

    def __init__(
        self,
        most: int,
        least: int = 2,
        *,
        wall: Callable[[], float] = time.perf_counter,
        cpu: Callable[[], float] = time.thread_time,
    ) -> None:
        if not 1 <= least <= most:
            raise ValueError(f"calls at once need 1 <= least <= most, not {least} and {most}")
        self.most, self.least = most, least
        self.limit = least
        self.probing = True
        self.other_side_wait: float | None = None
        """Seconds the other side took to answer at the last probe (None before one)."""
        self._wall, self._cpu = wall, cpu
        self._lock = threading.Lock()
        self._window = 0
        self._least_wait = math.inf
        self._cpu_spent = 0.0
        self._calls = 0

    def each(self, call: Callable[[T], R], items: Sequence[T], pool: Executor) -> list[Future[R]]:
        """``call`` for every item, on ``limit`` of ``pool``'s threads at a time (the pool has
        ``most`` threads or more); each future holds its item's result or exception."""
        run = _Run(self, call, items, pool)
        run.more()
        return run.futures

    def measured(self, call: Callable[[T], R], item: T) -> R:
        """``call(item)``, its wall time and CPU learnt from (a call that raised counts as an
        answer like any other)."""
        with self._lock:
            window = self._window
        began, spent = self._wall(), self._cpu()
        try:
            return call(item)
        finally:
            took, used = self._wall() - began, self._cpu() - spent
            with self._lock:
                if window == self._window:
                    self._learn(took, used)

    def _learn(self, took: float, used: float) -> None:
        self._least_wait = min(self._least_wait, max(took - used, 0.0))
        self._cpu_spent += used
        self._calls += 1
        if self._calls < (PROBE if self.probing else PROBE * PROBE_EVERY):
            return
        wanted = self._wanted(self._cpu_spent / self._calls, self._least_wait)
        if self.probing:
            self.other_side_wait = self._least_wait
            self.limit = min(self.most, max(self.least, wanted))
            self.probing = False
        elif wanted < FAR * self.most:
            self.limit, self.probing = self.least, True
        else:  # even the fastest answer at the limit wants more than twice ``most``: the
            self.limit = self.most  # other side is far, a probe would only slow the calls
        self._window += 1
        self._least_wait, self._cpu_spent, self._calls = math.inf, 0.0, 0

    def _wanted(self, per_call: float, wait: float) -> int:
        """Twice the calls at once that cover ``wait`` with calls of ``per_call`` CPU (every
        call when no CPU was measured: a coarse clock)."""
        if per_call <= 0:
            return self.most
        # a millionth of a call less: the clocks' rounding must not add a whole call
        return SLACK * math.ceil((per_call + wait) / per_call - 1e-6)


class _Run(Generic[T, R]):
    """One :meth:`CallsAtOnce.each`: its threads take the next item until none is left.

    An object, not closures: two closures that refer to each other (the thread's loop starting
    more threads, which run the loop) make a reference cycle that holds the items and futures
    until the garbage collector finds it, and with them every object of a backfill batch's
    records (their reconciles, plans and reads: ~120 objects a record freed by the collector
    instead of by their reference counts)."""

    def __init__(
        self, calls: CallsAtOnce, call: Callable[[T], R], items: Sequence[T], pool: Executor
    ) -> None:
        self.calls, self.call, self.items, self.pool = calls, call, items, pool
        self.futures: list[Future[R]] = [Future() for _ in items]
        self.order: Iterator[int] = iter(range(len(items)))
        self.threads = 0

    def next_index(self) -> int | None:
        with self.calls._lock:
            index = next(self.order, None) if self.threads <= self.calls.limit else None
            if index is None:
                self.threads -= 1
            return index

    def more(self) -> None:
        with self.calls._lock:
            wanted = min(self.calls.limit, len(self.items)) - self.threads
            self.threads += max(wanted, 0)
        for _ in range(wanted):
            self.pool.submit(self.work)

    def work(self) -> None:
        while (index := self.next_index()) is not None:
            future = self.futures[index]
            if not future.set_running_or_notify_cancel():
                continue
            try:
                future.set_result(self.calls.measured(self.call, self.items[index]))
            except BaseException as exc:  # the future carries it to the caller
                future.set_exception(exc)
            self.more()
