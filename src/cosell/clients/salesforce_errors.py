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
    # Alone (no other error in its graph or composite: it is the root cause only then), the
    # work was not run because other work of the request failed: "The graph was not processed
    # because 14 graphs of this request failed." Nothing is wrong with it; it may run later.
    "PROCESSING_HALTED": ServerError,
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


def error_from_response(response: httpx.Response) -> APIError:
    """The cosell error for a non-success Salesforce response (body kept, secrets redacted)."""
    return error_from_body(
        response.status_code,
        _json_or_none(response),
        method=response.request.method,
        url=str(response.request.url),
        text=response.text,
        request_id=response.headers.get("Sforce-Request-Id"),
        retry_after=parse_retry_after(response),
        summary=_text_summary(response),
    )


def error_from_body(
    status: int,
    body: Any,
    *,
    method: str | None = None,
    url: str | None = None,
    text: str | None = None,
    request_id: str | None = None,
    retry_after: float | None = None,
    summary: str | None = None,
) -> APIError:
    """The cosell error for a status and an error array: a response's, or one composite
    subrequest's or graph node's (``body`` is then that node's ``body``)."""
    errors = record_errors(body)
    first = errors[0] if errors else None
    cls = _class_for(status, first)
    message = "; ".join(f"{e.code}: {e.message}" for e in errors)
    kw: dict[str, Any] = {
        "method": method,
        "url": url,
        "status": status,
        "code": first.code if first else None,
        "body": text if text is not None else json.dumps(body),
        "request_id": request_id,
    }
    if issubclass(cls, ServerError | Throttled):
        kw["retry_after"] = DAILY_LIMIT_RETRY_AFTER if _daily_limit(first) else retry_after
    if cls is RecordRejected:
        kw["fields"] = tuple(f for e in errors for f in e.fields)
    return cls(message or summary or f"HTTP {status} without a Salesforce error array", **kw)


def _daily_limit(first: RecordError | None) -> bool:
    if first is None or first.code != "REQUEST_LIMIT_EXCEEDED":
        return False
    return "TotalRequests" in first.message


def _text_summary(response: httpx.Response) -> str:
    body = _json_or_none(response)
    if response.status_code == 300 and isinstance(body, list):
        return f"external id matches {len(body)} records: " + ", ".join(map(str, body[:10]))
    kind = response.headers.get("content-type", "").split(";")[0] or "no content type"
    return f"HTTP {response.status_code} ({kind}) without a Salesforce error array"
