"""``GET /healthz``: the process answers and, when wired, its database does too."""

from __future__ import annotations

from collections.abc import Awaitable, Callable

from starlette.concurrency import run_in_threadpool
from starlette.requests import Request
from starlette.responses import JSONResponse, Response

HealthCheck = Callable[[], object]


def health_endpoint(check: HealthCheck | None) -> Callable[[Request], Awaitable[Response]]:
    """An endpoint answering 200, or 503 naming the failing dependency's error type."""

    async def healthz(request: Request) -> Response:
        if check is not None:
            try:
                await run_in_threadpool(check)
            except Exception as exc:
                return JSONResponse({"status": "unhealthy", "error": type(exc).__name__}, 503)
        return JSONResponse({"status": "ok"})

    return healthz
