"""The OpenAPI 3.1 document of ``/api/v1``: paths written here, schemas generated from the
Pydantic models in :mod:`cosell.web.api_models`."""

from __future__ import annotations

from functools import cache
from typing import Any

from pydantic import BaseModel
from pydantic.json_schema import JsonSchemaMode, models_json_schema

from cosell import __version__
from cosell.operations.records_view import SORTS, STATES
from cosell.web.api_models import ANSWERS, BODIES

PREFIX = "/api/v1"
_REF = "#/components/schemas/{model}"


def _ref(name: str) -> dict[str, str]:
    return {"$ref": _REF.format(model=name)}


def _answer(description: str, schema: dict[str, Any]) -> dict[str, Any]:
    return {"description": description, "content": {"application/json": {"schema": schema}}}


def _errors(*statuses: int) -> dict[str, Any]:
    words = {
        400: "The request does not fit (the error says why)",
        401: "Sign in or send an API token",
        403: "Your role may not do this, or the CSRF token is missing",
        404: "No such record or conflict",
        422: "The body is not valid (the error names the field)",
    }
    return {str(s): _answer(words[s], _ref("ErrorOut")) for s in (401, *statuses)}


def _operation(summary: str, answer: dict[str, Any], *errors: int, **extra: Any) -> dict[str, Any]:
    return {"summary": summary, "responses": {"200": answer, **_errors(*errors)}, **extra}


def _query(name: str, schema: dict[str, Any], description: str) -> dict[str, Any]:
    return {
        "name": name,
        "in": "query",
        "required": False,
        "schema": schema,
        "description": description,
    }


def _path_param(name: str, schema: dict[str, Any]) -> dict[str, Any]:
    return {"name": name, "in": "path", "required": True, "schema": schema}


def _body(name: str) -> dict[str, Any]:
    return {"required": True, "content": {"application/json": {"schema": _ref(name)}}}


RECORD_ID = _path_param("record_id", {"type": "string", "minLength": 1})
CONFLICT_ID = _path_param("conflict_id", {"type": "integer", "minimum": 0})
RECORD_QUERY = [
    _query("q", {"type": "string"}, "Search deal name, customer, owner and ids"),
    _query("state", {"type": "string", "enum": list(STATES)}, "Only records in this state"),
    _query(
        "direction", {"type": "string", "enum": ["incoming", "outgoing", "unknown"]}, "Direction"
    ),
    _query("stage", {"type": "string"}, "Only records with this status"),
    _query("sort", {"type": "string", "enum": list(SORTS)}, "Sort key"),
    _query("order", {"type": "string", "enum": ["asc", "desc"]}, "Sort order"),
    _query("page", {"type": "integer", "minimum": 1}, "Page (25 records each)"),
]


def _paths() -> dict[str, Any]:
    listed = {"type": "array"}
    return {
        f"{PREFIX}/overview": {
            "get": _operation(
                "Counts: records by state, queue, dead letters, conflicts",
                _answer("The overview", _ref("Overview")),
            )
        },
        f"{PREFIX}/records": {
            "get": _operation(
                "Records, searched, filtered, sorted and paged",
                _answer("A page of records", _ref("RecordList")),
                400,
                parameters=RECORD_QUERY,
            )
        },
        f"{PREFIX}/records/{{record_id}}": {
            "get": _operation(
                "One record: both sides, differences, conflicts, timeline",
                _answer("The record", _ref("RecordDetail")),
                404,
                parameters=[RECORD_ID],
            )
        },
        f"{PREFIX}/records/{{record_id}}/sync": {
            "post": _operation(
                "Queue the record to sync now (operator)",
                _answer("The queued keys", _ref("Queued")),
                403,
                404,
                parameters=[RECORD_ID],
            )
        },
        f"{PREFIX}/records/{{record_id}}/decide": {
            "post": _operation(
                "Accept or decline an incoming referral on hold (operator)",
                _answer("The CRM stage written", _ref("Decided")),
                400,
                403,
                404,
                422,
                parameters=[RECORD_ID],
                requestBody=_body("DecideIn"),
            )
        },
        f"{PREFIX}/conflicts": {
            "get": _operation(
                "Open conflicts", _answer("Open conflicts", listed | {"items": _ref("ConflictOut")})
            )
        },
        f"{PREFIX}/conflicts/{{conflict_id}}/resolve": {
            "post": _operation(
                "Settle a conflict (operator)",
                _answer("What was taken", _ref("Resolved")),
                400,
                403,
                404,
                422,
                parameters=[CONFLICT_ID],
                requestBody=_body("ResolveIn"),
            )
        },
        f"{PREFIX}/dead-letters": {
            "get": _operation(
                "Dead letters with their reasons in plain words",
                _answer("Dead letters", listed | {"items": _ref("DeadLetterOut")}),
            )
        },
        f"{PREFIX}/alerts": {
            "get": _operation(
                "The newest alerts (50) with their delivery to each target",
                _answer("Alerts, newest first", listed | {"items": _ref("AlertOut")}),
            )
        },
        f"{PREFIX}/dead-letters/retry": {
            "post": _operation(
                "Put dead letters back on the queue (operator)",
                _answer("The requeued keys", _ref("Queued")),
                403,
                422,
                requestBody=_body("RetryIn"),
            )
        },
    }


@cache
def openapi_document(root: str = "") -> dict[str, Any]:
    """The document served at ``/api/v1/openapi.json`` (``root``: where the console is served,
    ``/t/<tenant>`` in a deployment of several: the document's server)."""
    models: list[tuple[type[BaseModel], JsonSchemaMode]] = [(m, "serialization") for m in ANSWERS]
    models += [(m, "validation") for m in BODIES]
    _, schemas = models_json_schema(models, ref_template=_REF)
    return {
        "openapi": "3.1.0",
        "info": {"title": "cosell console API", "version": __version__},
        **({"servers": [{"url": root}]} if root else {}),
        "paths": _paths(),
        "components": {
            "schemas": schemas.get("$defs", {}),
            "securitySchemes": {"token": {"type": "http", "scheme": "bearer"}},
        },
        "security": [{"token": []}],
    }
