"""The web app: the webhook receiver, health, metrics and a status page (or, when given, the
operator's dashboard at ``/``)."""

from __future__ import annotations

from typing import TYPE_CHECKING

from starlette.applications import Starlette
from starlette.requests import Request
from starlette.responses import Response
from starlette.routing import Route

from cosell.web.health import HealthCheck, health_endpoint
from cosell.web.metrics import CONTENT_TYPE, ServiceMetrics
from cosell.web.status import ServiceStatus
from cosell.web.status_page import status_endpoint
from cosell.web.webhooks import PATH, WebhookReceiver

if TYPE_CHECKING:  # the dashboard reads the store: it loads only where a store runs
    from cosell.web.dashboard import Dashboard


def create_app(
    *,
    receiver: WebhookReceiver,
    status: ServiceStatus,
    metrics: ServiceMetrics,
    health_check: HealthCheck | None = None,
    dashboard: Dashboard | None = None,
) -> Starlette:
    """Build the app from its parts; every dependency is passed in."""

    async def metrics_endpoint(request: Request) -> Response:
        return Response(metrics.render(), media_type=CONTENT_TYPE)

    home = [Route("/", status_endpoint(status), methods=["GET"])]
    routes = [
        *(dashboard.routes() if dashboard is not None else home),
        Route("/healthz", health_endpoint(health_check), methods=["GET"]),
        Route("/metrics", metrics_endpoint, methods=["GET"]),
        Route(PATH, receiver.endpoint, methods=["POST"]),
    ]
    return Starlette(routes=routes)
