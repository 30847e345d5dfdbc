"""Rows a poll read in full, kept for the next read of the same record in this process.

The opportunity poll finds a changed opportunity and, in the same call, reads the ones changed
since its last look as the engine reads them (see :mod:`cosell.signals.poller`). The reconcile
that follows takes that row instead of asking for it again. A row is taken once, only by a
read that names the time after which a row may serve (the last commit of the record's link:
anything cosell committed since makes a poll's row stale, since cosell may have written the
record in between), and only within :data:`MAX_AGE` of being read. Whatever changed after the
poll read it has a newer stamp and values, which the poll finds in turn; a write planned on the
row is guarded by its ``LastModifiedDate`` as after any read.
"""

from __future__ import annotations

import threading
import time
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from datetime import datetime
from typing import Any

MAX_AGE = 30.0
"""Seconds a row is kept for a read (monotonic)."""


@dataclass(frozen=True)
class FreshRow:
    """One record as a poll read it: the row, when it was asked for and Salesforce's time on
    the response (see ``SalesforceClient.served_at``)."""

    row: Mapping[str, Any]
    asked: datetime
    served: datetime | None


class FreshRows:
    """Poll rows by record id, each taken at most once (thread-safe)."""

    def __init__(self, monotonic: Callable[[], float] = time.monotonic) -> None:
        self._rows: dict[str, tuple[FreshRow, float]] = {}
        self._lock = threading.Lock()
        self._monotonic = monotonic

    def offer(self, record_id: str, fresh: FreshRow) -> None:
        now = self._monotonic()
        with self._lock:
            self._rows = {k: v for k, v in self._rows.items() if now - v[1] <= MAX_AGE}
            self._rows[record_id] = (fresh, now)

    def take(self, record_id: str, read_after: datetime) -> FreshRow | None:
        """The row read for ``record_id`` when it was asked for after ``read_after`` and within
        :data:`MAX_AGE`; it is not kept either way."""
        with self._lock:
            kept = self._rows.pop(record_id, None)
        if kept is None:
            return None
        fresh, at = kept
        if self._monotonic() - at > MAX_AGE or fresh.asked <= read_after:
            return None
        return fresh

    def __len__(self) -> int:
        with self._lock:
            return len(self._rows)
