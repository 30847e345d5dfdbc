"""``create_app``: the Partner Center emulator as a Starlette application."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager

import httpx
from starlette.applications import Starlette
from starlette.datastructures import MutableHeaders
from starlette.middleware import Middleware
from starlette.requests import Request
from starlette.responses import Response
from starlette.routing import Match, Route
from starlette.types import ASGIApp, Message, Receive, Scope, Send

from cosell.clock import Clock
from cosell.emulators.partner_center import control, portal, referrals, webhooks
from cosell.emulators.partner_center.config import PartnerCenterEmulatorConfig
from cosell.emulators.partner_center.emulator import HTTP_FAULTS, Emulator
from cosell.emulators.partner_center.responses import ApiError, ThrottledError, new_id
from cosell.emulators.partner_center.token_endpoints import device_code_endpoint, token_endpoint

CONTROL_PREFIX = "/_emulator"
PORTAL_PREFIX = "/dashboard/"  # the portal's pages: neither API calls nor subject to faults


def create_app(
    config: PartnerCenterEmulatorConfig | None = None,
    *,
    clock: Clock | None = None,
    delivery_client: httpx.Client | None = None,
) -> Starlette:
    """A fresh emulator; ``app.state.emulator`` exposes its state, clock, faults and deliveries."""
    emulator = Emulator(config or PartnerCenterEmulatorConfig(), clock, delivery_client)

    @asynccontextmanager
    async def lifespan(_app: Starlette) -> AsyncIterator[None]:
        yield
        emulator.close()

    app = Starlette(
        routes=_routes(),
        middleware=[Middleware(_Gateway)],
        exception_handlers={ApiError: _render},
        lifespan=lifespan,
    )
    app.state.emulator = emulator
    return app


def _routes() -> list[Route]:
    tokens = [
        Route("/{tenant}/oauth2/token", token_endpoint, methods=["POST"]),
        Route("/{tenant}/oauth2/v2.0/token", token_endpoint, methods=["POST"]),
        Route("/{tenant}/oauth2/v2.0/devicecode", device_code_endpoint, methods=["POST"]),
    ]
    return [*tokens, *referrals.routes, *webhooks.routes, *control.routes, *portal.routes]


async def _render(_request: Request, exc: Exception) -> Response:
    assert isinstance(exc, ApiError)
    return exc.response()


class _Gateway:
    """Counts the call, applies HTTP fault rules, and adds the service's tracing headers.

    Plain ASGI rather than Starlette's ``BaseHTTPMiddleware``, which runs each request's
    response through a task and a memory stream of its own: a tenth of both emulators' time
    in a backfill, whose Partner Center calls are write-backs of a few hundred bytes."""

    def __init__(self, app: ASGIApp) -> None:
        self.app = app

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        request = Request(scope)
        correlation = request.headers.get("ms-correlationid")
        client_request = request.headers.get("client-request-id") or new_id()

        async def traced(message: Message) -> None:
            if message["type"] == "http.response.start":
                headers = MutableHeaders(scope=message)
                headers["request-id"] = new_id()
                headers["client-request-id"] = client_request
                if correlation is not None:
                    headers["MS-CorrelationId"] = correlation
            await send(message)

        if not scope["path"].startswith((CONTROL_PREFIX, PORTAL_PREFIX)):
            emulator: Emulator = request.app.state.emulator
            emulator.calls.record(request.method, _template(request))
            fault = await _fault(emulator, request)
            if fault is not None:
                await fault.response()(scope, receive, traced)
                return
        await self.app(scope, receive, traced)


def _template(request: Request) -> str:
    for route in request.app.routes:
        match, _ = route.matches(request.scope)
        if match is Match.FULL and isinstance(route, Route):
            return route.path
    return request.url.path


async def _fault(emulator: Emulator, request: Request) -> ApiError | None:
    rule = emulator.faults.take(request.method, request.url.path, HTTP_FAULTS)
    if rule is None:
        return None
    if rule.kind == "latency":
        await asyncio.sleep(float(rule.params.get("seconds", 1.0)))
        return None
    if rule.kind == "throttle":
        return ThrottledError(int(rule.params.get("retry_after", 1)))
    status = int(rule.params.get("status", 503))
    code = "serviceNotAvailable" if status == 503 else "generalException"
    error = ApiError(status, code, "The service is temporarily unavailable (injected fault).")
    if "retry_after" in rule.params:
        error.headers["Retry-After"] = str(rule.params["retry_after"])
    return error
