"""Deals changed since a cursor, from the search API on ``hs_lastmodifieddate``.

Search is eventually consistent: a write can show up a few moments after later ones. Each poll
therefore asks from the cursor minus an overlap window and returns every deal modified since
(duplicates across polls are expected; the engine's compare-before-write makes them no-ops).
Results come oldest first, 200 per page; at HubSpot's 10,000-result cap the next query starts
again from the newest stamp seen, so a burst of any size is walked through.

The overlap adapts like the Salesforce poll's: it grows (doubling, up to ``max_overlap``) when a
poll finds a change stamped before the previous poll that the previous poll did not return —
proof the index lagged — and shrinks back slowly while polls find none.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import datetime, timedelta

from cosell.clients.hubspot import SEARCH_CAP, HubSpotClient
from cosell.clock import SystemClock

STAMP = "hs_lastmodifieddate"


@dataclass
class ChangeFeed:
    """Polls one object type's changes; ``cursor`` is the newest stamp seen so far."""

    client: HubSpotClient
    now: Callable[[], datetime] = field(default_factory=lambda: SystemClock().now)
    object_type: str = "deals"
    overlap: timedelta = timedelta(seconds=30)
    min_overlap: timedelta = timedelta(seconds=30)
    max_overlap: timedelta = timedelta(minutes=10)
    cursor: datetime | None = None
    polled_at: datetime | None = None
    seen: dict[tuple[str, datetime], None] = field(default_factory=dict)
    """(id, stamp) pairs already returned, kept for ``max_overlap``: a pair stamped before the
    previous poll that is not here arrived late."""

    def poll(self) -> list[str]:
        """Ids of records modified since ``cursor - overlap`` (all of them), oldest first."""
        start = None if self.cursor is None else self.cursor - self.overlap
        previous, newest, late = self.polled_at, self.cursor, False
        self.polled_at = self.now()
        ids: dict[str, None] = {}
        while True:
            page = self._since(start)
            for row in page:
                ids[str(row["id"])] = None
                stamp = _stamp(row)
                if stamp is None:
                    continue
                key = (str(row["id"]), stamp)
                late |= previous is not None and stamp < previous and key not in self.seen
                self.seen[key] = None
                newest = stamp if newest is None or stamp > newest else newest
            if len(page) < SEARCH_CAP or newest == start:
                break
            start = newest  # past the cap: walk on from the newest stamp seen
        self._adapt(previous, late=late)
        self.cursor = newest
        self._forget()
        return list(ids)

    def _forget(self) -> None:
        if self.cursor is None:
            return
        horizon = self.cursor - self.max_overlap
        self.seen = {k: None for k in self.seen if k[1] >= horizon}

    def _since(self, start: datetime | None) -> list[dict[str, object]]:
        filters = []
        if start is not None:
            millis = str(int(start.timestamp() * 1000))
            filters = [{"filters": [{"propertyName": STAMP, "operator": "GTE", "value": millis}]}]
        sorts = [{"propertyName": STAMP, "direction": "ASCENDING"}]
        return list(
            self.client.search_all(self.object_type, filters, properties=[STAMP], sorts=sorts)
        )

    def _adapt(self, previous: datetime | None, *, late: bool) -> None:
        if previous is None:
            return
        if late:
            self.overlap = min(self.overlap * 2, self.max_overlap)
        else:
            self.overlap = max(self.overlap * 0.9, self.min_overlap)


def _stamp(row: dict[str, object]) -> datetime | None:
    props = row.get("properties")
    text = props.get(STAMP) if isinstance(props, dict) else None
    if not isinstance(text, str) or not text:
        return None
    return datetime.fromisoformat(text.replace("Z", "+00:00"))
