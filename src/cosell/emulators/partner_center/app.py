"""``create_app``: the Partner Center emulator as a Starlette application."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator, Awaitable, Callable
from contextlib import asynccontextmanager

import httpx
from starlette.applications import Starlette
from starlette.middleware import Middleware
from starlette.middleware.base import BaseHTTPMiddleware
from starlette.requests import Request
from starlette.responses import Response
from starlette.routing import Match, Route

from cosell.clock import Clock
from cosell.emulators.partner_center import control, portal, referrals, webhooks
from cosell.emulators.partner_center.config import PartnerCenterEmulatorConfig
from cosell.emulators.partner_center.emulator import HTTP_FAULTS, Emulator
from cosell.emulators.partner_center.responses import ApiError, ThrottledError, new_id
from cosell.emulators.partner_center.token_endpoints import device_code_endpoint, token_endpoint

CONTROL_PREFIX = "/_emulator"
PORTAL_PREFIX = "/dashboard/"  # the portal's pages: neither API calls nor subject to faults
Handler = Callable[[Request], Awaitable[Response]]


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
        middleware=[Middleware(BaseHTTPMiddleware, dispatch=_dispatch)],
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


async def _dispatch(request: Request, call_next: Handler) -> Response:
    """Count the call, apply HTTP fault rules, and add the service's tracing headers."""
    path = request.url.path
    if not path.startswith((CONTROL_PREFIX, PORTAL_PREFIX)):
        emulator: Emulator = request.app.state.emulator
        emulator.calls.record(request.method, _template(request))
        fault = await _fault(emulator, request)
        response = fault.response() if fault else await call_next(request)
    else:
        response = await call_next(request)
    response.headers["request-id"] = new_id()
    response.headers["client-request-id"] = request.headers.get("client-request-id", new_id())
    if "ms-correlationid" in request.headers:
        response.headers["MS-CorrelationId"] = request.headers["ms-correlationid"]
    return response


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
