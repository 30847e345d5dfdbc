"""``GET /``: a small HTML page saying what this cosell instance is doing."""

from __future__ import annotations

from collections.abc import Awaitable, Callable
from datetime import datetime
from html import escape

from starlette.concurrency import run_in_threadpool
from starlette.requests import Request
from starlette.responses import HTMLResponse, Response

from cosell import __version__
from cosell.operations.service_status import ServiceStatus

_PAGE = """<!doctype html>
<html lang="en"><head><meta charset="utf-8"><title>cosell · {tenant}</title>
<link rel="stylesheet" href="/static/cosell.css">
</head><body><main><h1>cosell</h1><table>
{rows}
</table><p><a href="/metrics">metrics</a> · <a href="/healthz">health</a> · v{version}</p>
</main></body></html>
"""


def _when(moment: datetime | None) -> str:
    return moment.isoformat(timespec="seconds") if moment else "never"


def _rows(status: ServiceStatus, depth: int | None) -> list[tuple[str, str]]:
    webhook = status.last_webhook
    rows = [
        ("Tenant", status.tenant),
        ("Running since", _when(status.started_at)),
        (
            "Last webhook",
            f"{_when(webhook.at)} · {webhook.event}" if webhook else "never",
        ),
    ]
    for name, look in sorted(status.looks.items()):
        detail = f"{look.outcome}, {look.enqueued} enqueued"
        rows.append((f"Last {name}", f"{_when(look.at)} · {detail}"))
    rows.append(("Queue depth", "unknown" if depth is None else str(depth)))
    return rows


def render_status(status: ServiceStatus, depth: int | None) -> str:
    """The page's HTML; every value is escaped."""
    rows = "\n".join(
        f"<tr><th>{escape(label)}</th><td>{escape(value)}</td></tr>"
        for label, value in _rows(status, depth)
    )
    return _PAGE.format(tenant=escape(status.tenant), rows=rows, version=escape(__version__))


def status_endpoint(status: ServiceStatus) -> Callable[[Request], Awaitable[Response]]:
    """The endpoint serving the page; the queue depth is read off the event loop."""

    async def home(request: Request) -> Response:
        depth = await run_in_threadpool(status.queue_depth)
        return HTMLResponse(render_status(status, depth))

    return home
