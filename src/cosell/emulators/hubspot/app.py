"""``create_app``: the HubSpot emulator as a Starlette application."""

from __future__ import annotations

from collections.abc import AsyncIterator
from contextlib import asynccontextmanager

import httpx
from starlette.applications import Starlette
from starlette.exceptions import HTTPException
from starlette.requests import Request
from starlette.responses import Response
from starlette.routing import BaseRoute

from cosell.clock import Clock
from cosell.emulators.hubspot import (
    associations_api,
    auth,
    batch_api,
    control,
    objects_api,
    pipelines_api,
    properties_api,
    search_api,
    webhooks,
)
from cosell.emulators.hubspot.config import HubSpotEmulatorConfig
from cosell.emulators.hubspot.emulator import HubSpotEmulator
from cosell.emulators.hubspot.wire import HubSpotError


def api_routes() -> list[BaseRoute]:
    """Every route, the more specific paths first (``.../batch/read`` before ``.../{id}``)."""
    return [
        *auth.routes,
        *webhooks.routes,
        *control.routes(),
        *batch_api.routes(),
        *search_api.routes(),
        *objects_api.routes(),
        *associations_api.routes(),
        *properties_api.routes(),
        *pipelines_api.routes(),
    ]


async def _unrouted(request: Request, exc: Exception) -> Response:
    status = exc.status_code if isinstance(exc, HTTPException) else 500
    if status == 405:
        message = f"HTTP method {request.method} is not supported by this resource."
        return HubSpotError(405, "METHOD_NOT_ALLOWED", message).response()
    return HubSpotError(404, "OBJECT_NOT_FOUND", f"No route for {request.url.path}.").response()


def create_app(
    config: HubSpotEmulatorConfig | None = None,
    *,
    clock: Clock | None = None,
    delivery_client: httpx.Client | None = None,
) -> Starlette:
    """An emulated portal; ``app.state.emulator`` is its ``HubSpotEmulator``."""
    emulator = HubSpotEmulator(config or HubSpotEmulatorConfig(), clock, delivery_client)

    @asynccontextmanager
    async def lifespan(_app: Starlette) -> AsyncIterator[None]:
        yield
        emulator.close()

    app = Starlette(
        routes=api_routes(),
        exception_handlers={404: _unrouted, 405: _unrouted},
        lifespan=lifespan,
    )
    app.state.emulator = emulator
    return app
