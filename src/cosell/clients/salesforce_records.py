"""Values the Salesforce client returns: write results, replication results, batching.

Collections calls answer 200 even when some records failed; each ``SaveResult`` keeps its own
errors so one bad record never hides the others' outcome.
"""

from __future__ import annotations

from collections.abc import Iterator, Mapping, Sequence
from dataclasses import dataclass
from datetime import datetime
from typing import Any, TypeVar

from cosell.clients.salesforce_errors import RecordError, error_from_body, record_errors
from cosell.errors import APIError

COLLECTION_LIMIT = 200
T = TypeVar("T")


@dataclass(frozen=True)
class UpsertResult:
    """Upsert by external id: the record's id (None on a pre-v46 204) and whether it was new."""

    id: str | None
    created: bool


@dataclass(frozen=True)
class SaveResult:
    """One record's outcome in a collections call, in request order."""

    id: str | None
    success: bool
    errors: tuple[RecordError, ...] = ()
    created: bool | None = None

    def error(self) -> APIError | None:
        """The record's failure as the ``cosell.errors`` class a single write raises."""
        if self.success:
            return None
        body = [
            {"errorCode": e.code, "message": e.message, "fields": list(e.fields)}
            for e in self.errors
        ]
        return error_from_body(400, body, method="PATCH", url=f"record {self.id or '(new)'}")

    @classmethod
    def parse(cls, item: Mapping[str, Any]) -> SaveResult:
        created = item.get("created")
        return cls(
            id=item.get("id"),
            success=bool(item.get("success")),
            errors=tuple(record_errors(item.get("errors") or [])),
            created=bool(created) if created is not None else None,
        )


@dataclass(frozen=True)
class UpdatedResult:
    """Ids changed in a window, and how far the window is known to be complete."""

    ids: tuple[str, ...]
    latest_date_covered: datetime | None


@dataclass(frozen=True)
class DeletedRecord:
    """One deleted record and when it was deleted."""

    id: str
    deleted_date: datetime | None


@dataclass(frozen=True)
class DeletedResult:
    """Records deleted in a window; ``earliest_date_available`` bounds what Salesforce still
    remembers."""

    records: tuple[DeletedRecord, ...]
    earliest_date_available: datetime | None
    latest_date_covered: datetime | None


def parse_datetime(value: Any) -> datetime | None:
    """A Salesforce datetime (``2026-01-31T10:00:00.000+0000``) as an aware datetime."""
    return datetime.fromisoformat(value) if isinstance(value, str) and value else None


def format_datetime(value: datetime) -> str:
    """An aware datetime as Salesforce expects it in query parameters and SOQL."""
    return value.isoformat(timespec="seconds")


def batches(items: Sequence[T], size: int = COLLECTION_LIMIT) -> Iterator[Sequence[T]]:
    """Consecutive slices of at most ``size`` items."""
    for start in range(0, len(items), size):
        yield items[start : start + size]


def updated_result(body: Mapping[str, Any]) -> UpdatedResult:
    ids = tuple(str(i) for i in body.get("ids") or ())
    return UpdatedResult(ids, parse_datetime(body.get("latestDateCovered")))


def deleted_result(body: Mapping[str, Any]) -> DeletedResult:
    records = tuple(
        DeletedRecord(str(r["id"]), parse_datetime(r.get("deletedDate")))
        for r in body.get("deletedRecords") or ()
    )
    return DeletedResult(
        records,
        parse_datetime(body.get("earliestDateAvailable")),
        parse_datetime(body.get("latestDateCovered")),
    )
