"""Salesforce wire formats: datetimes, dates and the JSON-array error body."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, field
from datetime import UTC, date, datetime
from email.utils import format_datetime as _http_date
from email.utils import parsedate_to_datetime
from typing import Any

DATETIME_FORMAT = "%Y-%m-%dT%H:%M:%S.000+0000"


def format_datetime(moment: datetime) -> str:
    """``2026-01-31T10:00:00.000+0000``: UTC, milliseconds always zero."""
    return moment.astimezone(UTC).strftime(DATETIME_FORMAT)


def parse_datetime(text: str) -> datetime:
    """Parse an ISO-8601 datetime as Salesforce accepts it; naive values are taken as UTC."""
    value = text.strip()
    if value.endswith("Z"):
        value = value[:-1] + "+00:00"
    parsed = datetime.fromisoformat(value)
    return parsed.replace(tzinfo=UTC) if parsed.tzinfo is None else parsed.astimezone(UTC)


def truncate_seconds(moment: datetime) -> datetime:
    return moment.replace(microsecond=0)


def parse_date(text: str) -> date:
    return date.fromisoformat(text)


def http_date(moment: datetime) -> str:
    return _http_date(moment.astimezone(UTC), usegmt=True)


def parse_http_date(text: str) -> datetime | None:
    """An RFC 7231 date (``EEE, dd MMM yyyy HH:mm:ss z``) or None when malformed."""
    try:
        parsed = parsedate_to_datetime(text)
    except (TypeError, ValueError, IndexError):
        return None
    return parsed.replace(tzinfo=UTC) if parsed.tzinfo is None else parsed


@dataclass(frozen=True)
class ErrorItem:
    """One entry of Salesforce's error array."""

    code: str
    message: str
    fields: Sequence[str] | None = field(default_factory=list)

    def as_rest(self) -> dict[str, Any]:
        body: dict[str, Any] = {"message": self.message, "errorCode": self.code}
        if self.fields is not None:
            body["fields"] = list(self.fields)
        return body

    def as_save_result(self) -> dict[str, Any]:
        """The shape inside collection and composite save results (``statusCode``)."""
        return {"statusCode": self.code, "message": self.message, "fields": list(self.fields or [])}


class SalesforceError(Exception):
    """An API failure the emulator answers with an error array and an HTTP status."""

    def __init__(self, status: int, code: str, message: str, fields: Sequence[str] | None = ()):
        super().__init__(f"{code}: {message}")
        self.status = status
        self.items: list[ErrorItem] = [
            ErrorItem(code, message, None if fields is None else list(fields))
        ]

    @classmethod
    def of(cls, status: int, items: list[ErrorItem]) -> SalesforceError:
        error = cls(status, items[0].code, items[0].message, items[0].fields)
        error.items = items
        return error

    def body(self) -> list[dict[str, Any]]:
        return [item.as_rest() for item in self.items]


def not_found() -> SalesforceError:
    return SalesforceError(404, "NOT_FOUND", "The requested resource does not exist", None)
