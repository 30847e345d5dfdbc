"""Deals changed since a stamp, from the search API on ``hs_lastmodifieddate``.

Results come oldest first, 200 per page. Search stops at 10,000 results per query, so past the
cap the next query starts again from the newest stamp seen (rows of that stamp come again;
callers dedupe). Search is eventually consistent: a write can show up after later ones, so the
signal feed asks from its watermark minus an overlap window (see
:mod:`cosell.signals.hubspot`).
"""

from __future__ import annotations

from collections.abc import Iterator, Mapping, Sequence
from datetime import datetime
from typing import Any

from cosell.clients.hubspot import SEARCH_CAP, HubSpotClient
from cosell.sync.sides.hubspot.versions import STAMP


def changed_since(
    client: HubSpotClient, since: datetime | None, object_type: str = "deals"
) -> Iterator[tuple[str, datetime]]:
    """``(id, stamp)`` of every record modified at or after ``since``, in stamp order."""
    for record_id, stamp, _properties in changed_rows(client, since, object_type):
        yield record_id, stamp


def changed_rows(
    client: HubSpotClient,
    since: datetime | None,
    object_type: str = "deals",
    properties: Sequence[str] = (),
) -> Iterator[tuple[str, datetime, Mapping[str, Any]]]:
    """``(id, stamp, properties)`` of every record modified at or after ``since``, in stamp
    order, with the values of ``properties`` besides the stamp (one search asks for all)."""
    start = since
    wanted = list(dict.fromkeys([STAMP, *properties]))
    while True:
        count, newest = 0, start
        found = client.search_all(object_type, _filters(start), properties=wanted, sorts=_SORTS)
        for row in found:
            count += 1
            stamp = _stamp(row)
            if stamp is None:
                continue
            newest = stamp if newest is None or stamp > newest else newest
            props = row.get("properties")
            yield str(row["id"]), stamp, props if isinstance(props, dict) else {}
        if count < SEARCH_CAP or newest == start:
            return
        start = newest


_SORTS = [{"propertyName": STAMP, "direction": "ASCENDING"}]


def _filters(start: datetime | None) -> list[dict[str, object]]:
    if start is None:
        return []
    millis = str(int(start.timestamp() * 1000))
    return [{"filters": [{"propertyName": STAMP, "operator": "GTE", "value": millis}]}]


def _stamp(row: dict[str, object]) -> datetime | None:
    props = row.get("properties")
    text = props.get(STAMP) if isinstance(props, dict) else None
    if not isinstance(text, str) or not text:
        return None
    return datetime.fromisoformat(text.replace("Z", "+00:00"))
