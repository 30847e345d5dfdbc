"""Keeping leases alive: a long reconcile must not lose its key to another worker midway."""

from __future__ import annotations

import logging
import threading
from collections.abc import Iterator
from contextlib import contextmanager

from cosell.store.records import Job
from cosell.store.sql import Store

log = logging.getLogger(__name__)


class LeaseKeeper:
    """Extends the lease of every running job every ``interval`` seconds (a third of a lease)."""

    def __init__(self, store: Store, lease_seconds: float, interval: float | None = None) -> None:
        self._store = store
        self._lease_seconds = lease_seconds
        self._interval = interval if interval is not None else lease_seconds / 3
        self._running: dict[int, Job] = {}
        self._lock = threading.Lock()
        self._stopped = threading.Event()
        self._thread: threading.Thread | None = None

    @contextmanager
    def holding(self, job: Job) -> Iterator[None]:
        """Keep ``job``'s lease alive for the duration of the block."""
        with self._lock:
            self._running[job.id] = job
        try:
            yield
        finally:
            with self._lock:
                self._running.pop(job.id, None)

    def beat(self) -> int:
        """Extend every running job's lease once; returns how many were still held."""
        with self._lock:
            running = list(self._running.values())
        held = 0
        for job in running:
            try:
                held += self._store.extend_lease(job, self._lease_seconds)
            except Exception:
                log.exception("queue: cannot extend the lease of %s", job.key)
        return held

    def start(self) -> None:
        if self._thread is not None:
            return
        self._stopped.clear()
        self._thread = threading.Thread(target=self._run, name="cosell-leases", daemon=True)
        self._thread.start()

    def stop(self) -> None:
        self._stopped.set()
        if self._thread is not None:
            self._thread.join(self._interval + 5)
            self._thread = None

    def _run(self) -> None:
        while not self._stopped.wait(self._interval):
            self.beat()
