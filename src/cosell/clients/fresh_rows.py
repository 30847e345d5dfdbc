"""Rows a poll read in full, kept for the next read of the same record in this process.

The opportunity poll finds a changed opportunity and, in the same call, reads the ones changed
since its last look as the engine reads them (see :mod:`cosell.signals.poller`). The reconcile
that follows takes that row instead of asking for it again. A row is taken once, only by a
read that names the time after which a row may serve (the last commit of the record's link:
anything cosell committed since makes a poll's row stale, since cosell may have written the
record in between), and only within :data:`MAX_AGE` of being read. Whatever changed in the
opportunity's own fields after the poll read it has a newer stamp and values, which the poll
finds in turn; a write planned on the row is guarded by its ``LastModifiedDate`` as after any
read.

A related row (an account, a contact, a solution row) that changes after the poll's read does
not move the opportunity's stamp: the related-row poll finds it, and marks the same key. Its
reconcile must not plan on the older row: the related poll tells :meth:`FreshRows.stale` the
record, and a row asked for before then is neither kept nor taken. (Before, the reconcile took
it, planned on the old contact, and the related poll had already counted the new version as
handled: a contact's new email never reached Partner Center.)
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
        self._stale: dict[str, tuple[datetime, float]] = {}
        """Record id -> rows asked for before this time may miss a related change."""
        self._lock = threading.Lock()
        self._monotonic = monotonic

    def offer(self, record_id: str, fresh: FreshRow) -> None:
        now = self._monotonic()
        with self._lock:
            self._rows = {k: v for k, v in self._rows.items() if now - v[1] <= MAX_AGE}
            self._stale = {k: v for k, v in self._stale.items() if now - v[1] <= MAX_AGE}
            barrier = self._stale.get(record_id)
            if barrier is not None and fresh.asked < barrier[0]:
                return
            self._rows[record_id] = (fresh, now)

    def stale(self, record_id: str, before: datetime) -> None:
        """A row related to ``record_id`` changed, as seen by ``before``: a row of it asked for
        earlier may not show that change, and is dropped now or when offered."""
        with self._lock:
            kept = self._rows.get(record_id)
            if kept is not None and kept[0].asked < before:
                del self._rows[record_id]
            self._stale[record_id] = (before, self._monotonic())

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
