"""The web app: the webhook receiver, health, metrics and a status page (or, when given, the
operator's console at ``/`` with its sign-in pages and static files).

Every response carries the security headers; with ``allowed_hosts`` a request naming any other
``Host`` is refused with 400.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import TYPE_CHECKING

from starlette.applications import Starlette
from starlette.middleware import Middleware
from starlette.middleware.trustedhost import TrustedHostMiddleware
from starlette.requests import Request
from starlette.responses import JSONResponse, PlainTextResponse, Response
from starlette.routing import BaseRoute, Mount, Route
from starlette.staticfiles import StaticFiles

from cosell.operations.service_status import ServiceStatus
from cosell.web.health import HealthCheck, health_endpoint
from cosell.web.metrics import CONTENT_TYPE, ServiceMetrics
from cosell.web.receiver import WebhookReceiver
from cosell.web.security import SecurityHeaders
from cosell.web.status_page import status_endpoint
from cosell.webhooks.events import PATH

if TYPE_CHECKING:  # the dashboard reads the store: it loads only where a store runs
    from cosell.web.dashboard import Dashboard


def create_app(
    *,
    receiver: WebhookReceiver | None,
    receivers: Mapping[str, WebhookReceiver] | None = None,
    status: ServiceStatus,
    metrics: ServiceMetrics,
    health_check: HealthCheck | None = None,
    dashboard: Dashboard | None = None,
    consoles: Mapping[str, Dashboard] | None = None,
    allowed_hosts: Sequence[str] | None = None,
    webhooks: Sequence[BaseRoute] = (),
) -> Starlette:
    """Build the app from its parts; every dependency is passed in.

    ``receivers`` (a deployment of several tenants): each tenant's webhook receiver by name,
    at ``/webhooks/partner-center/<name>``; an unknown name gets 404. ``consoles`` (the same):
    each tenant's console by name, under its root ``/t/<name>``, signing in that tenant's users
    only. ``webhooks``: further webhook endpoints (HubSpot's).
    """

    async def metrics_endpoint(request: Request) -> Response:
        return Response(metrics.render(), media_type=CONTENT_TYPE)

    if dashboard is not None:
        home = _console(dashboard)
    else:
        home = _home(status, several=bool(receivers or consoles))
    mounted = [Mount(d.auth.root, routes=_console(d)) for d in (consoles or {}).values()]
    routes: list[BaseRoute] = [
        *home,
        *mounted,
        Route("/healthz", health_endpoint(health_check), methods=["GET"]),
        Route("/metrics", metrics_endpoint, methods=["GET"]),
        *_webhook_routes(receiver, receivers),
        *webhooks,
        Mount("/static", StaticFiles(packages=[("cosell.web", "static")]), name="static"),
    ]
    middleware = [Middleware(SecurityHeaders)]
    if allowed_hosts is not None:
        middleware.append(Middleware(TrustedHostMiddleware, allowed_hosts=list(allowed_hosts)))
    return Starlette(routes=routes, middleware=middleware)


def _webhook_routes(
    receiver: WebhookReceiver | None, receivers: Mapping[str, WebhookReceiver] | None
) -> list[BaseRoute]:
    routes: list[BaseRoute] = []
    if receiver is not None:
        routes.append(Route(PATH, receiver.endpoint, methods=["POST"]))
    if receivers:
        by_name = dict(receivers)

        async def tenant_endpoint(request: Request) -> Response:
            found = by_name.get(str(request.path_params["tenant"]))
            if found is None:
                return JSONResponse({"status": "unknown tenant"}, 404)
            return await found.endpoint(request)

        routes.append(Route(f"{PATH}/{{tenant}}", tenant_endpoint, methods=["POST"]))
    return routes


def _home(status: ServiceStatus, *, several: bool) -> list[BaseRoute]:
    if not several:
        return [Route("/", status_endpoint(status), methods=["GET"])]

    async def neutral(request: Request) -> Response:
        # Serving several tenants, this unauthenticated page names none and shows no activity.
        text = "cosell serves several tenants: each tenant's console is at /t/<tenant>/\n"
        return PlainTextResponse(text)

    return [Route("/", neutral, methods=["GET"])]


def _console(dashboard: Dashboard) -> list[BaseRoute]:
    from cosell.web.signin import SignIn

    sign_in = SignIn(dashboard.auth, dashboard.pages, sso=dashboard.sso is not None)
    return [*dashboard.routes(), *sign_in.routes()]
