"""Turns at a SQLite store for one process' threads, claims of work first.

SQLite lets one connection write at a time. Threads that collide on ``BEGIN IMMEDIATE`` poll in
SQLite's busy handler (sleeps of up to 100 ms) and collide again; taking turns here hands the
lock to the next writer, first come first served, as soon as the last one commits. A worker
claiming its next job goes before the others waiting: every other worker of a backfill batch
waits for the last one to claim (their shared requests go when all have come), so a claim
that waited behind a hundred commits stalled the whole batch.

Reads take turns too (:meth:`cosell.store.sql.Store.reading`). Under the interpreter lock
concurrent reads gain nothing, and many threads reading at once queue on the connection pool's
condition instead, each hand-over a wake-up of a thread: measured on this 2-core machine, a link
read cost 83 µs of CPU from one thread and 330 µs each from ten to 450 threads, 150 µs taking
turns; a backfill of 3,000 referrals (450 worker threads) took 12% less CPU. Other processes
still read while this one writes (WAL). Written here because
``threading`` has no lock with priorities or a fair order; it is a lock and two queues.
"""

from __future__ import annotations

import threading
from collections import deque
from collections.abc import Iterator
from contextlib import contextmanager


class WriterTurns:
    """A reentrant turn for writers, handed over in order of arrival, ``urgent`` ones first."""

    def __init__(self) -> None:
        self._lock = threading.Lock()
        self._holder: int | None = None
        self._depth = 0
        self._urgent: deque[tuple[int, threading.Event]] = deque()
        self._others: deque[tuple[int, threading.Event]] = deque()

    @property
    def waiting(self) -> int:
        """Threads waiting for a turn now."""
        with self._lock:
            return len(self._urgent) + len(self._others)

    @contextmanager
    def turn(self, *, urgent: bool = False) -> Iterator[None]:
        me = threading.get_ident()
        given: threading.Event | None = None
        with self._lock:
            if self._holder == me:
                self._depth += 1
            elif self._holder is None:
                self._holder, self._depth = me, 1
            else:
                given = threading.Event()
                (self._urgent if urgent else self._others).append((me, given))
        if given is not None:
            given.wait()  # the releasing writer made this thread the holder
        try:
            yield
        finally:
            self._release()

    def _release(self) -> None:
        with self._lock:
            self._depth -= 1
            if self._depth:
                return
            queue = self._urgent or self._others
            if not queue:
                self._holder = None
                return
            self._holder, given = queue.popleft()
            self._depth = 1
        given.set()
