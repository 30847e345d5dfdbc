"""``create_app``: the Starlette application of one emulated Salesforce org."""

from __future__ import annotations

from starlette.applications import Starlette
from starlette.exceptions import HTTPException
from starlette.requests import Request
from starlette.responses import JSONResponse, Response

from cosell.clock import Clock, OffsetClock
from cosell.emulators.salesforce import (
    composite,
    control,
    graph,
    login,
    query,
    record_pages,
    replication,
    rest,
    soap_login,
    sobject_collections,
    tooling,
    tree,
)
from cosell.emulators.salesforce.config import SalesforceEmulatorConfig
from cosell.emulators.salesforce.emulator import SalesforceEmulator
from cosell.emulators.salesforce.gateway import ApiRoute


def api_routes() -> list[ApiRoute]:
    """Every REST route, most specific first (``.../updated`` before ``.../{id}``)."""
    return [
        *replication.routes(),
        *query.routes(),
        *sobject_collections.routes(),
        *composite.routes(),
        *graph.routes(),
        *tree.routes(),
        *tooling.routes(),
        *rest.routes(),
    ]


async def _unrouted(request: Request, exc: Exception) -> Response:
    """Unknown resources and verbs answer in Salesforce's error-array shape."""
    status = exc.status_code if isinstance(exc, HTTPException) else 500
    if status == 405:
        message = f"HTTP Method '{request.method}' not allowed"
        return JSONResponse([{"errorCode": "METHOD_NOT_ALLOWED", "message": message}], 405)
    body = [{"errorCode": "NOT_FOUND", "message": "The requested resource does not exist"}]
    return JSONResponse(body, status_code=status)


def create_app(
    config: SalesforceEmulatorConfig | None = None, *, clock: Clock | None = None
) -> Starlette:
    """An emulated org; ``app.state.emulator`` is its ``SalesforceEmulator``."""
    emulator = SalesforceEmulator(config or SalesforceEmulatorConfig(), clock or OffsetClock())
    routes = api_routes()
    app = Starlette(
        routes=[
            *login.routes(),
            *soap_login.routes(),
            *control.routes(),
            *(r.starlette() for r in routes),
            *record_pages.routes(),
        ],
        exception_handlers={404: _unrouted, 405: _unrouted},
    )
    app.state.emulator = emulator
    app.state.routes = routes
    return app
