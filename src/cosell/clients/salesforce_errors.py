"""From a failed Salesforce response to one of cosell's errors.

Salesforce answers errors with a JSON array of ``{message, errorCode, fields}``; edge servers
sometimes answer with HTML. ``CODE_ERRORS`` is the one table from ``errorCode`` to a class; the
HTTP status decides only when the code is unknown (``cosell.errors.error_for_status``).
"""

from __future__ import annotations

import json
from dataclasses import dataclass
from typing import Any

import httpx

from cosell.clients.retry import parse_retry_after
from cosell.errors import (
    APIError,
    AuthError,
    Conflict,
    NotFound,
    RejectedError,
    ServerError,
    Throttled,
    error_for_status,
)

# The daily allowance is a rolling 24-hour window: waiting seconds would only spin.
DAILY_LIMIT_RETRY_AFTER = 3600.0


class RecordRejected(RejectedError):
    """Salesforce refused a record's data; ``fields`` names the fields it blamed (may be empty)."""

    def __init__(self, message: str, *, fields: tuple[str, ...] = (), **kw: Any) -> None:
        self.fields = fields
        super().__init__(message, **kw)


@dataclass(frozen=True)
class RecordError:
    """One entry of Salesforce's error array."""

    code: str
    message: str
    fields: tuple[str, ...] = ()

    @classmethod
    def parse(cls, item: dict[str, Any]) -> RecordError:
        code = str(item.get("errorCode") or item.get("statusCode") or "UNKNOWN")
        return cls(code, str(item.get("message", "")), tuple(item.get("fields") or ()))


CODE_ERRORS: dict[str, type[APIError]] = {
    "UNABLE_TO_LOCK_ROW": ServerError,
    "SERVER_UNAVAILABLE": ServerError,
    "UNKNOWN_EXCEPTION": ServerError,
    "REQUEST_LIMIT_EXCEEDED": Throttled,
    "INVALID_SESSION_ID": AuthError,
    "NOT_FOUND": NotFound,
    "ENTITY_IS_DELETED": NotFound,
    "DUPLICATE_VALUE": Conflict,
    "REQUIRED_FIELD_MISSING": RecordRejected,
    "STRING_TOO_LONG": RecordRejected,
    "INVALID_OR_NULL_FOR_RESTRICTED_PICKLIST": RecordRejected,
    "FIELD_CUSTOM_VALIDATION_EXCEPTION": RecordRejected,
    "FIELD_INTEGRITY_EXCEPTION": RecordRejected,
    "INVALID_FIELD": RecordRejected,
    "INVALID_TYPE": RecordRejected,
    "MALFORMED_ID": RecordRejected,
    "MALFORMED_QUERY": RecordRejected,
    "DUPLICATES_DETECTED": RecordRejected,
    "CANNOT_INSERT_UPDATE_ACTIVATE_ENTITY": RecordRejected,
    "INVALID_CROSS_REFERENCE_KEY": RecordRejected,
    # A sharing or permission problem on one record is that record's problem, not the tenant's.
    "INSUFFICIENT_ACCESS_OR_READONLY": RecordRejected,
    "INSUFFICIENT_ACCESS_ON_CROSS_REFERENCE_ENTITY": RecordRejected,
    "ENTITY_IS_LOCKED": RecordRejected,
}


def record_errors(body: Any) -> list[RecordError]:
    """The error array of a response body, or ``[]`` when it is not one."""
    if isinstance(body, dict):
        body = [body]
    if not isinstance(body, list):
        return []
    return [RecordError.parse(item) for item in body if isinstance(item, dict)]


def _json_or_none(response: httpx.Response) -> Any:
    try:
        return response.json()
    except (json.JSONDecodeError, UnicodeDecodeError):
        return None


def _class_for(status: int, first: RecordError | None) -> type[APIError]:
    if first is None:
        return ServerError if status >= 500 else error_for_status(status)
    return CODE_ERRORS.get(first.code, error_for_status(status))


def _retry_after(response: httpx.Response, first: RecordError | None) -> float | None:
    if first and first.code == "REQUEST_LIMIT_EXCEEDED" and "TotalRequests" in first.message:
        return DAILY_LIMIT_RETRY_AFTER
    return parse_retry_after(response)


def error_from_response(response: httpx.Response) -> APIError:
    """The cosell error for a non-success Salesforce response (body kept, secrets redacted)."""
    errors = record_errors(_json_or_none(response))
    first = errors[0] if errors else None
    cls = _class_for(response.status_code, first)
    message = "; ".join(f"{e.code}: {e.message}" for e in errors) or _text_summary(response)
    kw: dict[str, Any] = {
        "method": response.request.method,
        "url": str(response.request.url),
        "status": response.status_code,
        "code": first.code if first else None,
        "body": response.text,
        "request_id": response.headers.get("Sforce-Request-Id"),
    }
    if issubclass(cls, ServerError | Throttled):
        kw["retry_after"] = _retry_after(response, first)
    if cls is RecordRejected:
        kw["fields"] = tuple(f for e in errors for f in e.fields)
    return cls(message, **kw)


def _text_summary(response: httpx.Response) -> str:
    body = _json_or_none(response)
    if response.status_code == 300 and isinstance(body, list):
        return f"external id matches {len(body)} records: " + ", ".join(map(str, body[:10]))
    kind = response.headers.get("content-type", "").split(";")[0] or "no content type"
    return f"HTTP {response.status_code} ({kind}) without a Salesforce error array"
