"""Rendering the console's pages: one Jinja2 environment (autoescaped, strict), the shared
layout's context (tenant, viewer, navigation) and the static files' location."""

from __future__ import annotations

from typing import Any

import jinja2
from starlette.requests import Request
from starlette.responses import HTMLResponse

from cosell import __version__
from cosell.clock import Clock
from cosell.operations import console
from cosell.operations.reasons import plain_reason
from cosell.web.auth import inside

NAV: tuple[tuple[str, str], ...] = (
    ("/", "Overview"),
    ("/records", "Records"),
    ("/conflicts", "Conflicts"),
    ("/dead-letters", "Dead letters"),
    ("/mapping", "Mapping"),
    ("/settings", "Settings"),
)

templates = jinja2.Environment(
    loader=jinja2.PackageLoader("cosell.web", "templates"),
    autoescape=jinja2.select_autoescape(default=True),
    undefined=jinja2.StrictUndefined,
)
templates.filters.update(
    when=console.when,
    value=console.value,
    seen=console.seen,
    plain=lambda raw: plain_reason(str(raw)).text,
)


class Pages:
    """Renders a template inside the layout for one tenant, whose console is served under
    ``root`` (empty, or ``/t/<tenant>`` in a deployment of several): templates write a path
    inside the console as ``{{ root }}/records``."""

    def __init__(self, tenant: str, clock: Clock, root: str = "") -> None:
        self.tenant = tenant
        self.clock = clock
        self.root = root.rstrip("/")

    def local(self, request: Request) -> str:
        """The request's path inside the console."""
        return inside(request.url.path, self.root)

    def render(
        self, request: Request, name: str, status_code: int = 200, **context: Any
    ) -> HTMLResponse:
        base = {
            "tenant": self.tenant,
            "version": __version__,
            "now": self.clock.now(),
            "viewer": getattr(request.state, "viewer", None),
            "nav": NAV,
            "root": self.root,
            "here": self.local(request),
            "notice": request.query_params.get("notice", ""),
            "title": "",
        }
        html = templates.get_template(name).render(base | context)
        return HTMLResponse(html, status_code=status_code)
