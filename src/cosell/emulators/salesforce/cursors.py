"""Query cursors: the rows of a query held for paging through ``nextRecordsUrl``.

A cursor keeps the rows as they were when the query ran (Salesforce pages a snapshot) and expires
after the configured lifetime (two days since API v56.0), after which its locator answers
``INVALID_QUERY_LOCATOR``.
"""

from __future__ import annotations

import threading
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any

from cosell.clock import Clock
from cosell.emulators.salesforce.ids import IdFactory
from cosell.emulators.salesforce.wire import SalesforceError

QUERY_LOCATOR_PREFIX = "01g"


@dataclass
class Cursor:
    """The rows of one query, held for its later pages."""

    rows: list[dict[str, Any]]
    total_size: int
    batch: int
    version: str
    opened: datetime


class CursorBook:
    """Open cursors by locator id."""

    def __init__(self, clock: Clock, ttl_seconds: int) -> None:
        self._clock = clock
        self._ttl = timedelta(seconds=ttl_seconds)
        self._cursors: dict[str, Cursor] = {}
        self._ids = IdFactory(pod="Qy")
        self._lock = threading.Lock()

    def first_page(
        self, rows: list[dict[str, Any]], total_size: int, batch: int, version: str
    ) -> dict[str, Any]:
        cursor = Cursor(rows, total_size, batch, version, self._clock.now())
        locator = self._ids.new(QUERY_LOCATOR_PREFIX)
        if len(rows) > batch:
            with self._lock:
                self._cursors[locator] = cursor
        return self._page(locator, cursor, 0)

    def next_page(self, token: str) -> dict[str, Any]:
        locator, _, offset_text = token.rpartition("-")
        with self._lock:
            cursor = self._cursors.get(locator)
        expired = cursor is None or self._clock.now() - cursor.opened > self._ttl
        if cursor is None or expired or not offset_text.isdigit():
            raise SalesforceError(400, "INVALID_QUERY_LOCATOR", "invalid query locator", None)
        return self._page(locator, cursor, int(offset_text))

    def _page(self, locator: str, cursor: Cursor, offset: int) -> dict[str, Any]:
        end = offset + cursor.batch
        body: dict[str, Any] = {"totalSize": cursor.total_size, "done": end >= len(cursor.rows)}
        if not body["done"]:
            body["nextRecordsUrl"] = f"/services/data/v{cursor.version}/query/{locator}-{end}"
        else:
            with self._lock:
                self._cursors.pop(locator, None)
        body["records"] = cursor.rows[offset:end]
        return body
