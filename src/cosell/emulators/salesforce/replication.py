"""``sobjects/{T}/updated`` and ``/deleted``: ids changed or deleted in a window.

Bounds are truncated to the minute (Salesforce drops the seconds) and inclusive; ``start`` must
precede ``end`` and lie within 30 days (updated) or 15 days (deleted).
"""

from __future__ import annotations

from datetime import datetime, timedelta
from typing import Any

from cosell.emulators.salesforce.gateway import ApiRoute, Call, Reply
from cosell.emulators.salesforce.org import RECYCLE_BIN_DAYS
from cosell.emulators.salesforce.wire import SalesforceError, format_datetime, parse_datetime

V = "/services/data/v{version}"
UPDATED_DAYS = 30
MAX_IDS = 600_000


def _minute(moment: datetime) -> datetime:
    return moment.replace(second=0, microsecond=0)


def _window(call: Call, days: int) -> tuple[datetime, datetime]:
    try:
        start = _minute(parse_datetime(call.query["start"]))
        end = _minute(parse_datetime(call.query["end"]))
    except (KeyError, ValueError):
        raise SalesforceError(
            400, "INVALID_REPLICATION_DATE", "start and end must be valid dateTime values", None
        ) from None
    now = call.emulator.org.now()
    if start >= end:
        raise SalesforceError(
            400, "INVALID_REPLICATION_DATE", "startDate must before endDate.", None
        )
    if start < _minute(now) - timedelta(days=days):
        raise SalesforceError(
            400,
            "INVALID_REPLICATION_DATE",
            f"startDate cannot be more than {days} days ago",
            None,
        )
    return start, min(end, _minute(now))


def updated(call: Call) -> Reply:
    org = call.emulator.org
    obj = org.object(call.params["sobject"])
    start, end = _window(call, UPDATED_DAYS)
    changed = [
        r["Id"]
        for r in org.live(obj)
        if start <= _minute(parse_datetime(r["SystemModstamp"])) <= end
    ]
    if len(changed) > MAX_IDS:
        raise SalesforceError(400, "EXCEEDED_ID_LIMIT", "too many ids", None)
    return Reply(200, {"ids": changed, "latestDateCovered": format_datetime(end)})


def deleted(call: Call) -> Reply:
    org = call.emulator.org
    obj = org.object(call.params["sobject"])
    start, end = _window(call, RECYCLE_BIN_DAYS)
    earliest = max(_minute(org.started), _minute(org.now()) - timedelta(days=RECYCLE_BIN_DAYS))
    if org.bin_emptied_at is not None:
        earliest = max(earliest, _minute(org.bin_emptied_at))
        if start < earliest:
            raise SalesforceError(
                400,
                "INVALID_REPLICATION_DATE",
                f"startDate is before the earliest date available: {format_datetime(earliest)}",
                None,
            )
    rows: list[dict[str, Any]] = [
        {"id": r["Id"], "deletedDate": format_datetime(org.deleted[r["Id"]])}
        for r in org.every(obj)
        if r["IsDeleted"] and start <= _minute(org.deleted[r["Id"]]) <= end
    ]
    return Reply(
        200,
        {
            "deletedRecords": rows,
            "earliestDateAvailable": format_datetime(earliest),
            "latestDateCovered": format_datetime(end),
        },
    )


def routes() -> list[ApiRoute]:
    s = f"{V}/sobjects/{{sobject}}"
    return [
        ApiRoute(f"{s}/updated", ("GET",), updated),
        ApiRoute(f"{s}/updated/", ("GET",), updated),
        ApiRoute(f"{s}/deleted", ("GET",), deleted),
        ApiRoute(f"{s}/deleted/", ("GET",), deleted),
    ]
