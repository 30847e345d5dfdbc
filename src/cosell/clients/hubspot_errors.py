"""From a failed HubSpot response to one of cosell's errors.

HubSpot answers errors with ``{status, message, correlationId, category, subCategory?, errors?,
context?}``; edge servers sometimes answer with HTML, even for a 404. ``CATEGORY_ERRORS`` is the
one table from ``category`` to a class; the HTTP status decides when the category is unknown.

A 429 names its window in ``policyName``; HubSpot documents no ``Retry-After`` for it, so the
wait comes from the window: the rest of the ten seconds for the burst, one second for search,
the time to midnight UTC for the daily allowance (long enough that callers reschedule rather
than spin).
"""

from __future__ import annotations

import json
import re
from datetime import datetime, timedelta
from typing import Any

import httpx

from cosell.clients.retry import parse_retry_after
from cosell.clock import Clock, SystemClock
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

BURST_WAIT = 10.0
SEARCH_WAIT = 1.0
LOCKED_WAIT = 2.0


class PropertiesRejected(RejectedError):
    """HubSpot refused property values; ``problems`` maps each named property to its code."""

    def __init__(self, message: str, *, problems: dict[str, str] | None = None, **kw: Any) -> None:
        self.problems = problems or {}
        super().__init__(message, **kw)


CATEGORY_ERRORS: dict[str, type[APIError]] = {
    "VALIDATION_ERROR": PropertiesRejected,
    "OBJECT_NOT_FOUND": NotFound,
    "CONFLICT": Conflict,
    "OBJECT_ALREADY_EXISTS": Conflict,
    "INVALID_AUTHENTICATION": AuthError,
    "EXPIRED_AUTHENTICATION": AuthError,
    "MISSING_SCOPES": AuthError,
    "RATE_LIMITS": Throttled,
    "LOCKED": ServerError,
    "MIGRATION_IN_PROGRESS": ServerError,
}
_STATUS_ERRORS: dict[int, type[APIError]] = {423: ServerError, 477: ServerError, 429: Throttled}


def body_of(response: httpx.Response) -> dict[str, Any] | None:
    try:
        body = response.json()
    except (json.JSONDecodeError, UnicodeDecodeError):
        return None
    return body if isinstance(body, dict) else None


def error_from_response(response: httpx.Response, clock: Clock | None = None) -> APIError:
    """The cosell error for a non-success HubSpot response (body kept, secrets redacted)."""
    status, body = response.status_code, body_of(response)
    category = str(body.get("category") or body.get("errorType") or "") if body else ""
    cls = _class_for(status, category)
    message = str(body.get("message", "")) if body else _summary(response)
    kw: dict[str, Any] = {
        "method": response.request.method,
        "url": str(response.request.url),
        "status": status,
        "code": category or None,
        "body": response.text,
        "request_id": response.headers.get("X-HubSpot-Correlation-Id"),
    }
    if issubclass(cls, Throttled | ServerError):
        wait = parse_retry_after(response) or _wait_for(status, body, clock or SystemClock())
        return cls(message, retry_after=wait, **kw)
    if cls is PropertiesRejected:
        return PropertiesRejected(message, problems=problems(body or {}), **kw)
    return cls(message, **kw)


_HOLDER = (
    re.compile(r"Contact already exists\. Existing ID: (\d+)"),
    re.compile(r" on \S+\. (\d+) already has that value"),
)


def holder_of(error: APIError) -> str | None:
    """The id of the record already holding a unique value (a contact's email) that the failed
    request set: ``Contact already exists. Existing ID: 512`` (409, a new contact) or ``… on
    552148386511. 552239500007 already has that value.`` (400, an update). None for any other
    error. Search results lag behind writes, so "search, then write" can meet a holder the
    search did not show yet; HubSpot names it."""
    if not isinstance(error, Conflict | PropertiesRejected):
        return None
    for pattern in _HOLDER:
        if found := pattern.search(error.message):
            return found.group(1)
    return None


def _class_for(status: int, category: str) -> type[APIError]:
    if status >= 500 and category not in CATEGORY_ERRORS:
        return ServerError
    return CATEGORY_ERRORS.get(category) or _STATUS_ERRORS.get(status) or error_for_status(status)


def _wait_for(status: int, body: dict[str, Any] | None, clock: Clock) -> float | None:
    if status == 423:
        return LOCKED_WAIT
    if status != 429:
        return None
    policy = str((body or {}).get("policyName", ""))
    if policy == "DAILY":
        return seconds_to_midnight(clock.now())
    if policy == "SECONDLY" or "secondly limit" in str((body or {}).get("message", "")):
        return SEARCH_WAIT
    return BURST_WAIT


def seconds_to_midnight(now: datetime) -> float:
    tomorrow = (now + timedelta(days=1)).replace(hour=0, minute=0, second=0, microsecond=0)
    return (tomorrow - now).total_seconds()


_PROBLEM = re.compile(r"Property values were not valid: (\[.*\])", re.DOTALL)


def problems(body: dict[str, Any]) -> dict[str, str]:
    """Property name → error code from a validation error's ``errors`` or its message."""
    found: dict[str, str] = {}
    for item in body.get("errors") or []:
        names = (item.get("context") or {}).get("propertyName") or []
        for name in names:
            found[str(name)] = str(item.get("code") or "")
    match = _PROBLEM.search(str(body.get("message", "")))
    if match:
        try:
            listed = json.loads(match.group(1))
        except ValueError:
            listed = []
        for item in listed if isinstance(listed, list) else []:
            if isinstance(item, dict) and item.get("name"):
                found.setdefault(str(item["name"]), str(item.get("error", "")))
    return found


def _summary(response: httpx.Response) -> str:
    kind = response.headers.get("content-type", "unknown").split(";")[0]
    return f"HTTP {response.status_code} with a {kind} body"
