"""What every API call goes through: call log, faults, version, session, usage, errors.

Handlers are plain functions of a ``Call`` returning a ``Reply``; the same handlers serve
top-level requests and ``composite`` subrequests, which skip the gateway (one call counted).
"""

from __future__ import annotations

import asyncio
import functools
import re
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field
from email.utils import format_datetime
from typing import TYPE_CHECKING, Any

from starlette.convertors import Convertor
from starlette.requests import Request
from starlette.responses import HTMLResponse, JSONResponse, Response
from starlette.routing import Route, compile_path
from starlette.types import Receive, Scope, Send

from cosell import json_codec
from cosell.emulators.salesforce.limits import exceeded
from cosell.emulators.salesforce.wire import SalesforceError

if TYPE_CHECKING:
    from cosell.emulators.salesforce.emulator import SalesforceEmulator

WRITE_METHODS = frozenset({"POST", "PATCH", "PUT", "DELETE"})
_HTML = "<html><head><title>{title}</title></head><body><h1>{title}</h1></body></html>"


@dataclass
class Call:
    """One API request as handlers see it."""

    emulator: SalesforceEmulator
    method: str
    path: str
    params: dict[str, str]
    query: Mapping[str, str]
    headers: Mapping[str, str]
    body: Any
    user_id: str = ""
    routes: Sequence[ApiRoute] = ()  # the REST route table, for composite subrequests

    @property
    def version(self) -> str:
        return self.params.get("version", "")

    def base(self) -> str:
        return f"/services/data/v{self.version}"


@dataclass
class Reply:
    """A handler's answer; ``body`` None means no body."""

    status: int
    body: Any = None
    headers: dict[str, str] = field(default_factory=dict)

    def response(self) -> Response:
        if self.body is None:
            return Response(status_code=self.status, headers=self.headers)
        content = json_codec.dumps(self.body)
        return Response(content, self.status, self.headers, media_type="application/json")


Handler = Callable[[Call], Reply]


@functools.cache
def _compiled(template: str) -> tuple[re.Pattern[str], dict[str, Convertor[Any]]]:
    """A route template's regex and convertors, worked out once: a composite call matches
    each of its subrequests against the routes."""
    regex, _, convertors = compile_path(template)
    return regex, convertors


@dataclass(frozen=True)
class ApiRoute:
    """A REST route: a Starlette path template, its methods and handler."""

    path: str
    methods: tuple[str, ...]
    handler: Handler
    authenticated: bool = True
    counted: bool = True

    def match(self, method: str, path: str) -> dict[str, str] | None:
        if method not in self.methods:
            return None
        regex, convertors = _compiled(self.path)
        found = regex.match(path)
        if found is None:
            return None
        return {k: convertors[k].convert(v) for k, v in found.groupdict().items()}

    def starlette(self) -> Route:
        return Route(self.path, self._endpoint, methods=list(self.methods))

    async def _endpoint(self, request: Request) -> Response:
        emulator: SalesforceEmulator = request.app.state.emulator
        emulator.calls.record(request.method, self.path)
        faulted = await apply_faults(emulator, request)
        if faulted is not None:
            return faulted
        try:
            body = await _json_body(request)
            call = Call(
                emulator,
                request.method,
                request.url.path,
                dict(request.path_params),
                request.query_params,
                request.headers,
                body,
                routes=request.app.state.routes,
            )
            reply = self._admit_and_run(call)
        except SalesforceError as error:
            reply = Reply(error.status, error.body())
        if self.counted:
            reply.headers["Sforce-Limit-Info"] = emulator.usage.header()
        # The org's time, to the second, as Salesforce sends it (RFC 7231 ``Date``).
        reply.headers["Date"] = format_datetime(emulator.clock.now(), usegmt=True)
        return reply.response()

    def _admit_and_run(self, call: Call) -> Reply:
        emulator = call.emulator
        if "version" in call.params and call.version not in emulator.config.api_versions:
            raise SalesforceError(404, "NOT_FOUND", "The requested resource does not exist", None)
        if self.authenticated:
            call.user_id = _authenticate(emulator, call.headers)
        if self.counted:
            emulator.usage.spend()
        if call.method in WRITE_METHODS:
            _record_call_options(emulator, call)
        with emulator.lock:
            before = emulator.org.changes
            try:
                return self.handler(call)
            finally:
                if emulator.org.changes != before:
                    emulator.calls.wrote(call.method, self.path)


def _authenticate(emulator: SalesforceEmulator, headers: Mapping[str, str]) -> str:
    scheme, _, token = headers.get("authorization", "").partition(" ")
    user_id = emulator.sessions.use(token) if scheme.lower() in ("bearer", "oauth") else None
    if user_id is None:
        raise SalesforceError(401, "INVALID_SESSION_ID", "Session expired or invalid", None)
    return user_id


def _record_call_options(emulator: SalesforceEmulator, call: Call) -> None:
    raw = call.headers.get("sforce-call-options")
    options = dict(
        part.strip().partition("=")[::2] for part in (raw or "").split(",") if "=" in part
    )
    emulator.call_options.append(
        {"method": call.method, "path": call.path, "client": options.get("client"), "raw": raw}
    )


async def _json_body(request: Request) -> Any:
    raw = await request.body()
    if not raw or request.method in ("GET", "DELETE", "HEAD"):
        return None
    if "form-urlencoded" in request.headers.get("content-type", ""):
        return None
    try:
        return json_codec.loads(raw)
    except ValueError as error:
        raise SalesforceError(
            400, "JSON_PARSER_ERROR", f"Unexpected character: {error}", None
        ) from None


async def apply_faults(emulator: SalesforceEmulator, request: Request) -> Response | None:
    """Apply the fault rules matching this request: a reply to send instead, or None."""
    method, path = request.method, request.url.path
    latency = emulator.faults.take(method, path, frozenset({"latency"}))
    if latency is not None:
        await asyncio.sleep(float(latency.params.get("seconds", 1.0)))
    kinds = emulator.faults.kinds - {"latency"}
    if method not in WRITE_METHODS:
        kinds -= {"unable_to_lock_row"}
    rule = emulator.faults.take(method, path, kinds)
    if rule is None:
        return None
    return _fault_response(emulator, rule.kind, rule.params)


def _fault_response(
    emulator: SalesforceEmulator, kind: str, params: dict[str, Any]
) -> Response | None:
    if kind == "server_error":
        status = int(params.get("status", 500))
        return HTMLResponse(_HTML.format(title=f"{status} Server Error"), status_code=status)
    if kind == "rate_limited":
        return HTMLResponse(_HTML.format(title="420 Enhance Your Calm"), status_code=420)
    if kind == "drop_connection":
        return DroppedConnection()
    if kind == "revoke_tokens":
        emulator.sessions.revoke_all()
        return None
    if kind == "limit_exhausted":
        return JSONResponse(exceeded().body(), status_code=403)
    message = "unable to obtain exclusive access to this record or 1 records"
    return JSONResponse(
        [{"message": message, "errorCode": "UNABLE_TO_LOCK_ROW", "fields": []}], status_code=400
    )


class DroppedConnection(Response):
    """Starts a response and then fails, so the server closes the connection mid-reply."""

    def __init__(self) -> None:
        super().__init__(status_code=200)

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        await send(
            {
                "type": "http.response.start",
                "status": 200,
                "headers": [(b"content-length", b"1024"), (b"content-type", b"application/json")],
            }
        )
        await send({"type": "http.response.body", "body": b"[{", "more_body": True})
        raise ConnectionAbortedError("emulated dropped connection")
