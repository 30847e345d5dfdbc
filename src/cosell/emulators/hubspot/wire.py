"""HubSpot wire formats: ISO-8601 millisecond stamps, epoch milliseconds and the error body."""

from __future__ import annotations

import json
import uuid
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import Any

from starlette.responses import JSONResponse, Response


def format_time(moment: datetime) -> str:
    """``2024-08-15T17:09:13.648Z``: UTC with milliseconds, as every HubSpot response has it."""
    utc = moment.astimezone(UTC)
    return utc.strftime("%Y-%m-%dT%H:%M:%S.") + f"{utc.microsecond // 1000:03d}Z"


def epoch_ms(moment: datetime) -> int:
    return int(moment.timestamp() * 1000)


def from_epoch_ms(value: int | float) -> datetime:
    return datetime.fromtimestamp(value / 1000, tz=UTC)


def parse_instant(text: str) -> datetime:
    """An ISO-8601 stamp (naive means UTC), a bare date, or epoch milliseconds; ValueError else."""
    value = text.strip()
    if value.lstrip("-").isdigit():
        return from_epoch_ms(int(value))
    if value.endswith("Z"):
        value = value[:-1] + "+00:00"
    parsed = datetime.fromisoformat(value)
    return parsed.replace(tzinfo=UTC) if parsed.tzinfo is None else parsed.astimezone(UTC)


def correlation_id() -> str:
    return str(uuid.uuid4())


@dataclass
class HubSpotError(Exception):
    """An error answered in HubSpot's documented body: status, message, correlationId, category."""

    status: int
    category: str
    message: str
    sub_category: str | None = None
    errors: list[dict[str, Any]] = field(default_factory=list)
    context: dict[str, Any] | None = None
    headers: dict[str, str] = field(default_factory=dict)
    extra: dict[str, Any] = field(default_factory=dict)

    def body(self, correlation: str | None = None) -> dict[str, Any]:
        body: dict[str, Any] = {
            "status": "error",
            "message": self.message,
            "correlationId": correlation or correlation_id(),
            "category": self.category,
        }
        if self.sub_category:
            body["subCategory"] = self.sub_category
        if self.errors:
            body["errors"] = self.errors
        if self.context is not None:
            body["context"] = self.context
        body.update(self.extra)
        return body

    def item(self) -> dict[str, Any]:
        """The ``StandardError`` form used inside a batch response's ``errors``."""
        item: dict[str, Any] = {
            "status": "error",
            "category": self.category,
            "message": self.message,
            "context": self.context or {},
            "errors": self.errors,
            "links": {},
        }
        if self.sub_category:
            item["subCategory"] = self.sub_category
        return item

    def response(self) -> Response:
        correlation = correlation_id()
        headers = {"X-HubSpot-Correlation-Id": correlation, **self.headers}
        return JSONResponse(self.body(correlation), status_code=self.status, headers=headers)


def validation(message: str, **kwargs: Any) -> HubSpotError:
    return HubSpotError(400, "VALIDATION_ERROR", message, **kwargs)


def not_found(object_id: str) -> HubSpotError:
    return HubSpotError(
        404,
        "OBJECT_NOT_FOUND",
        "Object not found.  objectId are usually numeric.",
        context={"id": [object_id]},
    )


@dataclass(frozen=True)
class PropertyProblem:
    """One inner entry of a "Property values were not valid" message."""

    name: str
    error: str
    message: str

    def as_dict(self) -> dict[str, Any]:
        return {"isValid": False, "message": self.message, "error": self.error, "name": self.name}


def invalid_properties(problems: list[PropertyProblem]) -> HubSpotError:
    """HubSpot's 400 for bad property values: a JSON list embedded in the message text."""
    listed = json.dumps([p.as_dict() for p in problems], separators=(",", ":"))
    errors = [
        {"message": p.message, "code": p.error, "context": {"propertyName": [p.name]}}
        for p in problems
    ]
    return validation(f"Property values were not valid: {listed}", errors=errors)
