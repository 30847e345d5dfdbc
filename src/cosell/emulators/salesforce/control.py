"""The ``/_emulator/`` control surface: faults, clock, calls, reset, rules, touches, tokens."""

from __future__ import annotations

from dataclasses import asdict
from typing import TYPE_CHECKING, Any

from starlette.requests import Request
from starlette.responses import JSONResponse, Response
from starlette.routing import Route

from cosell.emulators.faults import FaultSpecError
from cosell.emulators.salesforce.objects import Stage
from cosell.emulators.salesforce.validation import OPERATORS, FieldTrigger, ValidationRule
from cosell.emulators.salesforce.wire import SalesforceError, format_datetime

if TYPE_CHECKING:
    from cosell.emulators.salesforce.emulator import SalesforceEmulator

PREFIX = "/_emulator"


def _emulator(request: Request) -> SalesforceEmulator:
    emulator: SalesforceEmulator = request.app.state.emulator
    return emulator


async def _json(request: Request) -> Any:
    raw = await request.body()
    return {} if not raw else await request.json()


async def faults(request: Request) -> Response:
    book = _emulator(request).faults
    if request.method == "POST":
        try:
            rule = book.add(await _json(request))
        except FaultSpecError as error:
            return JSONResponse({"error": str(error)}, status_code=400)
        return JSONResponse(rule.as_dict(), status_code=201)
    if request.method == "DELETE":
        return JSONResponse({"cleared": book.clear(request.query_params.get("kind"))})
    return JSONResponse({"faults": book.rules()})


async def clock(request: Request) -> Response:
    emulator = _emulator(request)
    if request.method == "POST":
        body = await _json(request)
        advance = getattr(emulator.clock, "advance", None)
        if advance is None:
            return JSONResponse({"error": "this clock cannot be advanced"}, status_code=400)
        advance(float(body.get("advance_seconds", 0)))
    return JSONResponse({"now": format_datetime(emulator.clock.now())})


async def calls(request: Request) -> Response:
    log = _emulator(request).calls
    if request.method == "DELETE":
        log.reset()
    return JSONResponse(log.snapshot())


async def created(request: Request) -> Response:
    """When the record was created, on the host's monotonic clock (for benchmarks)."""
    record_id = request.path_params["record_id"]
    moment = _emulator(request).org.created.of(record_id)
    if moment is None:
        return JSONResponse({"error": f"no record {record_id} was created"}, status_code=404)
    return JSONResponse({"id": record_id, "monotonic": moment})


async def call_options(request: Request) -> Response:
    emulator = _emulator(request)
    if request.method == "DELETE":
        emulator.call_options.clear()
    return JSONResponse({"calls": list(emulator.call_options)})


async def reset(request: Request) -> Response:
    _emulator(request).reset()
    return JSONResponse({"reset": True})


async def validation_rules(request: Request) -> Response:
    org = _emulator(request).org
    if request.method == "POST":
        try:
            body = await _json(request)
            rule = _rule(org.object_def(str(body.get("sobject"))).name, body)
        except (SalesforceError, ValueError, KeyError) as error:
            return JSONResponse({"error": str(error)}, status_code=400)
        org.rules.append(rule)
        return JSONResponse(_rule_dict(rule), status_code=201)
    if request.method == "DELETE":
        org.rules.clear()
    return JSONResponse({"rules": [_rule_dict(r) for r in org.rules]})


async def triggers(request: Request) -> Response:
    """Before-update field triggers: ``{"sobject", "field", "increment"}`` (POST adds one,
    DELETE removes them all)."""
    org = _emulator(request).org
    if request.method == "POST":
        try:
            body = await _json(request)
            obj = org.object_def(str(body.get("sobject")))
            name = org.field(obj, str(body.get("field"))).name
            trigger = FieldTrigger(obj.name, name, float(body.get("increment", 1)))
        except (SalesforceError, ValueError, TypeError) as error:
            return JSONResponse({"error": str(error)}, status_code=400)
        org.triggers.append(trigger)
        return JSONResponse(asdict(trigger), status_code=201)
    if request.method == "DELETE":
        org.triggers.clear()
    return JSONResponse({"triggers": [asdict(t) for t in org.triggers]})


def _rule(sobject: str, body: dict[str, Any]) -> ValidationRule:
    operator = body.get("operator", "equals")
    if operator not in OPERATORS:
        raise ValueError(f"operator: must be one of {sorted(OPERATORS)}")
    if not body.get("message") or not body.get("field"):
        raise ValueError("field and message are required")
    return ValidationRule(
        sobject,
        str(body["field"]),
        operator,
        str(body["message"]),
        body.get("value"),
        body.get("error_field"),
    )


def _rule_dict(rule: ValidationRule) -> dict[str, Any]:
    return {
        "sobject": rule.sobject,
        "field": rule.field,
        "operator": rule.operator,
        "value": rule.value,
        "message": rule.message,
        "error_field": rule.error_field,
    }


async def stages(request: Request) -> Response:
    """Add or redefine an Opportunity stage: ``{"name", "probability", "closed", "won"}``."""
    emulator = _emulator(request)
    if request.method == "POST":
        body = await _json(request)
        if not isinstance(body.get("name"), str) or not body["name"]:
            return JSONResponse({"error": "name: a stage name is required"}, status_code=400)
        stage = Stage(
            body["name"],
            int(body.get("probability", 0)),
            bool(body.get("closed", False)),
            bool(body.get("won", False)),
        )
        with emulator.lock:
            emulator.org.add_stage(stage)
    return JSONResponse({"stages": [_stage_dict(s) for s in emulator.org.stages.values()]})


def _stage_dict(stage: Stage) -> dict[str, Any]:
    return {k: v for k, v in asdict(stage).items() if k != "forecast_category"}


async def touch(request: Request) -> Response:
    emulator = _emulator(request)
    try:
        with emulator.lock:
            record = emulator.org.touch(request.path_params["record_id"])
    except SalesforceError as error:
        return JSONResponse(error.body(), status_code=error.status)
    return JSONResponse({"Id": record["Id"], "SystemModstamp": record["SystemModstamp"]})


async def empty_recycle_bin(request: Request) -> Response:
    emulator = _emulator(request)
    with emulator.lock:
        return JSONResponse({"purged": emulator.org.empty_recycle_bin()})


async def revoke_sessions(request: Request) -> Response:
    return JSONResponse({"revoked": _emulator(request).sessions.revoke_all()})


async def refresh_tokens(request: Request) -> Response:
    """A refresh token for the integration user, standing in for an interactive web flow."""
    emulator = _emulator(request)
    token = emulator.sessions.issue_refresh(emulator.org.integration_user_id)
    return JSONResponse({"refresh_token": token}, status_code=201)


async def access(request: Request) -> Response:
    """``{"fls_strict": true}`` hides custom objects and fields until a permission set grants
    them to the integration user; ``false`` shows everything (the default)."""
    emulator = _emulator(request)
    if request.method == "PUT":
        body = await _json(request)
        if not isinstance(body, dict) or not isinstance(body.get("fls_strict"), bool):
            return JSONResponse({"error": "fls_strict: true or false"}, status_code=400)
        with emulator.lock:
            emulator.config.fls_strict = body["fls_strict"]
    return JSONResponse({"fls_strict": emulator.config.fls_strict})


def routes() -> list[Route]:
    return [
        Route(f"{PREFIX}/faults", faults, methods=["GET", "POST", "DELETE"]),
        Route(f"{PREFIX}/clock", clock, methods=["GET", "POST"]),
        Route(f"{PREFIX}/calls", calls, methods=["GET", "DELETE"]),
        Route(f"{PREFIX}/created/{{record_id}}", created, methods=["GET"]),
        Route(f"{PREFIX}/call-options", call_options, methods=["GET", "DELETE"]),
        Route(f"{PREFIX}/reset", reset, methods=["POST"]),
        Route(f"{PREFIX}/validation-rules", validation_rules, methods=["GET", "POST", "DELETE"]),
        Route(f"{PREFIX}/triggers", triggers, methods=["GET", "POST", "DELETE"]),
        Route(f"{PREFIX}/stages", stages, methods=["GET", "POST"]),
        Route(f"{PREFIX}/touch/{{record_id}}", touch, methods=["POST"]),
        Route(f"{PREFIX}/recycle-bin/empty", empty_recycle_bin, methods=["POST"]),
        Route(f"{PREFIX}/sessions/revoke", revoke_sessions, methods=["POST"]),
        Route(f"{PREFIX}/refresh-tokens", refresh_tokens, methods=["POST"]),
        Route(f"{PREFIX}/access", access, methods=["GET", "PUT"]),
    ]
