"""What every API call goes through: faults, authentication, the call log, rate limits, the
JSON body, one lock around the handler, webhook events, and HubSpot's response headers.

Handlers are plain functions of a ``Call`` returning a ``Reply`` (or raising ``HubSpotError``).
Calls made with a UI user token (``/_emulator/users``) stand for clicks in HubSpot: they are
neither counted nor rate limited.
"""

from __future__ import annotations

import asyncio
import json
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

from starlette.datastructures import QueryParams
from starlette.requests import Request
from starlette.responses import HTMLResponse, JSONResponse, Response
from starlette.routing import Route

from cosell.emulators.hubspot.auth import Caller
from cosell.emulators.hubspot.emulator import FAULT_KINDS, HubSpotEmulator
from cosell.emulators.hubspot.records import Source
from cosell.emulators.hubspot.webhooks import flush
from cosell.emulators.hubspot.wire import HubSpotError, correlation_id, validation

_HTML = "<html><head><title>{status}</title></head><body><h1>{status}</h1></body></html>"


@dataclass
class Call:
    """One API request as handlers see it."""

    emulator: HubSpotEmulator
    method: str
    params: dict[str, str]
    query: QueryParams
    body: Any
    caller: Caller

    @property
    def source(self) -> Source:
        return self.caller.source

    def listed(self, name: str) -> list[str] | None:
        """A list parameter given comma-separated, repeated, or both; None when absent."""
        raw = self.query.getlist(name)
        if not raw:
            return None
        return [part for item in raw for part in item.split(",") if part]

    def flag(self, name: str) -> bool:
        return self.query.get(name, "false").lower() == "true"


@dataclass
class Reply:
    status: int
    body: Any = None
    headers: dict[str, str] = field(default_factory=dict)

    def response(self) -> Response:
        if self.body is None:
            return Response(status_code=self.status, headers=self.headers)
        return JSONResponse(self.body, status_code=self.status, headers=self.headers)


Handler = Callable[[Call], Reply]


def api(path: str, methods: list[str], handler: Handler, *, search: bool = False) -> Route:
    """A Starlette route running ``handler`` behind the gateway."""

    async def endpoint(request: Request) -> Response:
        return await _serve(request, path, handler, search)

    return Route(path, endpoint, methods=methods)


async def _serve(request: Request, template: str, handler: Handler, search: bool) -> Response:
    emulator: HubSpotEmulator = request.app.state.emulator
    correlation = correlation_id()
    headers: dict[str, str] = {}
    try:
        faulted = await _fault(emulator, request)
        if faulted is not None:
            return faulted
        with emulator.lock:
            caller = emulator.tokens.caller(request.headers.get("authorization", ""))
        if caller.bucket:
            emulator.calls.record(request.method, template)
        with emulator.lock:
            headers = emulator.limits.admit(caller, search)
        body = await _json_body(request)
        call = Call(
            emulator, request.method, dict(request.path_params), request.query_params, body, caller
        )
        with emulator.lock:
            try:
                reply = handler(call)
            finally:
                flush(emulator)
    except HubSpotError as error:
        reply = Reply(error.status, error.body(correlation), {**headers, **error.headers})
    reply.headers.update(headers)
    reply.headers["X-HubSpot-Correlation-Id"] = correlation
    return reply.response()


async def _json_body(request: Request) -> Any:
    raw = await request.body()
    if not raw or request.method in ("GET", "DELETE"):
        return None
    try:
        return json.loads(raw)
    except ValueError as error:
        raise validation(f"Invalid input JSON: {error}") from None


async def _fault(emulator: HubSpotEmulator, request: Request) -> Response | None:
    method, path = request.method, request.url.path
    latency = emulator.faults.take(method, path, frozenset({"latency"}))
    if latency is not None:
        await asyncio.sleep(float(latency.params.get("seconds", 1.0)))
    rule = emulator.faults.take(method, path, FAULT_KINDS - {"latency"})
    if rule is None:
        return None
    if rule.kind == "expire_tokens":
        with emulator.lock:
            emulator.tokens.expire_all()
        return None
    return _fault_response(rule.kind, rule.params)


def _fault_response(kind: str, params: dict[str, Any]) -> Response:
    if kind in ("server_error", "not_found_html"):
        status = 404 if kind == "not_found_html" else int(params.get("status", 502))
        return HTMLResponse(_HTML.format(status=status), status_code=status)
    if kind in ("rate_limited", "daily_limit"):
        policy = "DAILY" if kind == "daily_limit" else "TEN_SECONDLY_ROLLING"
        message = f"You have reached your {policy.lower()} limit."
        error = HubSpotError(
            429, "RATE_LIMITS", message, extra={"errorType": "RATE_LIMIT", "policyName": policy}
        )
    elif kind == "locked":
        error = HubSpotError(423, "LOCKED", "The record is locked; retry after 2 seconds.")
    else:
        error = HubSpotError(477, "MIGRATION_IN_PROGRESS", "The portal is being migrated.")
        error.headers["Retry-After"] = str(params.get("retry_after", 1))
    if "retry_after" in params:
        error.headers["Retry-After"] = str(params["retry_after"])
    return error.response()
