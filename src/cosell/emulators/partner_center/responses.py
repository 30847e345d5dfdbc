"""Wire shapes shared by the emulator's routes: the Partner Center error envelope and timestamps."""

from __future__ import annotations

import secrets
import uuid
from datetime import UTC, datetime
from typing import Any

from starlette.responses import Response

from cosell import json_codec

TIME_FORMAT = "%Y-%m-%dT%H:%M:%S.%f"


class ApiError(Exception):
    """An error answered in the Partner Center envelope; raised by domain code, rendered once."""

    def __init__(
        self,
        status: int,
        code: str,
        message: str,
        target: str | None = None,
        inner_code: str | None = None,
        headers: dict[str, str] | None = None,
        inner_message: str | None = None,
    ) -> None:
        super().__init__(message)
        self.status = status
        self.code = code
        self.message = message
        self.target = target
        self.inner_code = inner_code
        self.headers = headers or {}
        self.inner_message = inner_message or message

    def body(self) -> dict[str, Any]:
        inner = {
            "code": self.inner_code or self.code,
            "message": self.inner_message,
            "details": None,
        }
        return {
            "error": {
                "code": self.code,
                "message": self.message,
                "target": self.target,
                "innerError": inner,
            }
        }

    def response(self) -> Response:
        return json_response(self.body(), self.status, self.headers)


class ThrottledError(ApiError):
    """A 429 in the general Partner Center throttling shape (``statusCode`` and ``message``)."""

    def __init__(self, seconds: int) -> None:
        message = f"Rate limit is exceeded. Try again in {seconds} seconds."
        super().__init__(429, "throttled", message, headers={"Retry-After": str(seconds)})

    def body(self) -> dict[str, Any]:
        return {"statusCode": self.status, "message": self.message}


def invalid(message: str, target: str | None = None) -> ApiError:
    return ApiError(400, "invalidRequest", message, target)


def precondition_failed() -> ApiError:
    """The exact 412 body Partner Center answers for an If-Match mismatch."""
    return ApiError(
        412,
        "preconditionFailed",
        "A precondition provided in the request (such as an if-match header) does not match "
        "the resource's current state.",
        "ETag",
        "99918",
        inner_message="One of the specified pre-condition is not met. Etag value did not Match",
    )


def json_response(body: Any, status: int = 200, headers: dict[str, str] | None = None) -> Response:
    content = json_codec.dumps(body)
    return Response(content, status, headers=headers, media_type="application/json")


def format_time(moment: datetime) -> str:
    """``2026-01-01T00:00:00.0000000Z``: seven fractional digits, as the service writes them."""
    return moment.astimezone(UTC).strftime(TIME_FORMAT) + "0Z"


def format_offset_time(moment: datetime) -> str:
    """``2026-01-01T00:00:00.0000000+00:00``: the webhook payload's ResourceChangeUtcDate."""
    return moment.astimezone(UTC).strftime(TIME_FORMAT) + "0+00:00"


def parse_time(text: str) -> datetime:
    """Parse an ISO-8601 timestamp (Z or offset, up to 7 fractional digits) as aware UTC."""
    value = text.strip().replace("Z", "+00:00").replace("z", "+00:00")
    head, sep, frac = value.partition(".")
    if sep:
        digits = "".join(c for c in frac if c.isdigit())
        value = f"{head}.{digits[:6].ljust(6, '0')}{frac[len(digits) :]}"
    moment = datetime.fromisoformat(value)
    return moment.replace(tzinfo=UTC) if moment.tzinfo is None else moment.astimezone(UTC)


def new_etag(moment: datetime) -> str:
    """A Cosmos-like quoted eTag, unique per write."""
    stamp = format(int(moment.timestamp()), "08x")[-8:]
    return f'"{secrets.token_hex(4)}-0000-0000-0000-{stamp}0000"'


def new_id() -> str:
    return str(uuid.uuid4())
