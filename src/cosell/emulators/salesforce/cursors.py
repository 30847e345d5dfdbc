"""Query cursors: the rows of a query held for paging through ``nextRecordsUrl``.

A cursor keeps the rows as they were when the query ran (Salesforce pages a snapshot) and expires
after the configured lifetime (two days since API v56.0), after which its locator answers
``INVALID_QUERY_LOCATOR``.

A subquery's child records page on their own: a nested result longer than the child batch
shows its first records, ``done: false`` and a ``nextRecordsUrl`` of its own cursor. Those child
cursors belong to the page that showed them; fetching the parent's next page closes them, as a
``queryMore`` on the parent does on Salesforce.
"""

from __future__ import annotations

import threading
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from typing import Any

from cosell.clock import Clock
from cosell.emulators.salesforce.ids import IdFactory
from cosell.emulators.salesforce.wire import SalesforceError

QUERY_LOCATOR_PREFIX = "01g"


@dataclass
class Cursor:
    """The rows of one query (or one parent's child records), held for its later pages."""

    rows: list[dict[str, Any]]
    total_size: int
    batch: int
    version: str
    opened: datetime
    child_batch: int | None = None
    children: list[str] = field(default_factory=list)
    """Locators of the child cursors the latest page opened."""


class CursorBook:
    """Open cursors by locator id."""

    def __init__(self, clock: Clock, ttl_seconds: int) -> None:
        self._clock = clock
        self._ttl = timedelta(seconds=ttl_seconds)
        self._cursors: dict[str, Cursor] = {}
        self._ids = IdFactory(pod="Qy")
        self._lock = threading.Lock()

    def first_page(
        self,
        rows: list[dict[str, Any]],
        total_size: int,
        batch: int,
        version: str,
        child_batch: int | None = None,
    ) -> dict[str, Any]:
        """The first page; ``child_batch`` cuts nested child results longer than it."""
        cursor = Cursor(rows, total_size, batch, version, self._clock.now(), child_batch)
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
        self._close(cursor.children)
        cursor.children = []
        end = offset + cursor.batch
        body: dict[str, Any] = {"totalSize": cursor.total_size, "done": end >= len(cursor.rows)}
        if not body["done"]:
            body["nextRecordsUrl"] = f"/services/data/v{cursor.version}/query/{locator}-{end}"
        else:
            with self._lock:
                self._cursors.pop(locator, None)
        body["records"] = [self._cut(row, cursor) for row in cursor.rows[offset:end]]
        return body

    def _cut(self, row: dict[str, Any], owner: Cursor) -> dict[str, Any]:
        """`row` with each child result longer than the child batch cut to its first page."""
        limit = owner.child_batch
        if limit is None or not any(_is_child_result(v) for v in row.values()):
            return row
        cut = dict(row)
        for key, value in row.items():
            if _is_child_result(value):
                cut[key] = self._child_page(value, limit, owner)
        return cut

    def _child_page(self, nested: dict[str, Any], limit: int, owner: Cursor) -> dict[str, Any]:
        records: list[dict[str, Any]] = nested["records"]
        if len(records) <= limit:
            return {**nested, "records": [self._cut(r, owner) for r in records]}
        child = Cursor(records, nested["totalSize"], limit, owner.version, self._clock.now(), limit)
        locator = self._ids.new(QUERY_LOCATOR_PREFIX)
        with self._lock:
            self._cursors[locator] = child
        owner.children.append(locator)
        page = self._page(locator, child, 0)
        return {k: page[k] for k in ("totalSize", "done", "nextRecordsUrl", "records")}

    def _close(self, locators: list[str]) -> None:
        for locator in locators:
            with self._lock:
                cursor = self._cursors.pop(locator, None)
            if cursor is not None:
                self._close(cursor.children)


def _is_child_result(value: Any) -> bool:
    return isinstance(value, dict) and "records" in value and "done" in value
