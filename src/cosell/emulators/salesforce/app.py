"""``create_app``: the Starlette application of one emulated Salesforce org."""

from __future__ import annotations

from starlette.applications import Starlette

from cosell.clock import Clock, OffsetClock
from cosell.emulators.salesforce import (
    composite,
    control,
    login,
    query,
    replication,
    rest,
    sobject_collections,
    tooling,
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
        *tooling.routes(),
        *rest.routes(),
    ]


def create_app(
    config: SalesforceEmulatorConfig | None = None, *, clock: Clock | None = None
) -> Starlette:
    """An emulated org; ``app.state.emulator`` is its ``SalesforceEmulator``."""
    emulator = SalesforceEmulator(config or SalesforceEmulatorConfig(), clock or OffsetClock())
    emulator.routes = api_routes()
    app = Starlette(
        routes=[*login.routes(), *control.routes(), *(r.starlette() for r in emulator.routes)]
    )
    app.state.emulator = emulator
    return app
