"""When each record was created, on the host's monotonic clock, for benchmarks that time a
change from one system to the other.

A benchmark that polls for the record it waits on adds up to one poll interval to every
latency it measures; the emulators know the moment a record came to exist. ``time.monotonic``
is the host's ``CLOCK_MONOTONIC``, the same in every process of the machine, so a benchmark
process can subtract its own readings from these. Not part of any emulated API: the control
surface (``GET /_emulator/created/{id}``) answers it. The most recent :data:`KEPT` creates are
kept.
"""

from __future__ import annotations

import threading
import time
from collections import OrderedDict

KEPT = 10_000


class CreatedMoments:
    """Record id -> the monotonic time it was created (the latest :data:`KEPT`)."""

    def __init__(self, kept: int = KEPT) -> None:
        self._kept = kept
        self._moments: OrderedDict[str, float] = OrderedDict()
        self._lock = threading.Lock()

    def stamp(self, record_id: str) -> None:
        with self._lock:
            self._moments[record_id] = time.monotonic()
            while len(self._moments) > self._kept:
                self._moments.popitem(last=False)

    def of(self, record_id: str) -> float | None:
        with self._lock:
            return self._moments.get(record_id)

    def clear(self) -> None:
        with self._lock:
            self._moments.clear()
