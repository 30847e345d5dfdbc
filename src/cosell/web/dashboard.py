"""The operator's dashboard at ``/``: counts, last signals, recent audit, dead letters (with
Retry), open conflicts (with Resolve) and the links list. Server-rendered HTML, no scripts.

Every value is escaped by the template engine. Forms post back to the same origin: a POST whose
``Origin`` (or ``Sec-Fetch-Site``) says it came from another site is refused, and when a
password is configured every request needs HTTP basic auth with it.
"""

from __future__ import annotations

import base64
import binascii
import hmac
from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from typing import Any
from urllib.parse import quote, urlsplit

import jinja2
from starlette.concurrency import run_in_threadpool
from starlette.requests import Request
from starlette.responses import HTMLResponse, PlainTextResponse, RedirectResponse, Response
from starlette.routing import Route

from cosell import __version__
from cosell.operations import console
from cosell.operations.activity import Activity, SignalSeen, read_activity
from cosell.operations.call_meter import calls_last_24h
from cosell.operations.conflicts import Resolution, open_conflicts, resolve
from cosell.operations.links_view import recent_links
from cosell.operations.retry import retry_all, retry_one
from cosell.settings import Settings
from cosell.store.records import TenantId
from cosell.store.sql import Store
from cosell.web.status import ServiceStatus

PORTAL_REFERRAL = "https://partner.microsoft.com/dashboard/v2/referrals/{id}"
RECENT_AUDIT = 25
LINKS_SHOWN = 100
Endpoint = Callable[[Request], Awaitable[Response]]

_templates = jinja2.Environment(
    loader=jinja2.PackageLoader("cosell.web", "templates"),
    autoescape=jinja2.select_autoescape(default=True),
    undefined=jinja2.StrictUndefined,
)
_templates.filters.update(when=console.when, value=console.value, seen=console.seen)


@dataclass(frozen=True)
class RecordUrls:
    """Where the dashboard links a referral and an opportunity (``{id}`` is replaced)."""

    referral: str = PORTAL_REFERRAL
    opportunity: str | None = None

    def of(self, template: str | None, record_id: str | None) -> str | None:
        if not template or not record_id:
            return None
        return template.replace("{id}", quote(record_id, safe=""))


class Dashboard:
    """The dashboard's routes over the store; ``status`` adds the live process's view."""

    def __init__(
        self,
        store: Store,
        tenant_id: TenantId,
        tenant: str,
        *,
        status: ServiceStatus | None = None,
        urls: RecordUrls | None = None,
        password: str | None = None,
    ) -> None:
        self.store = store
        self.tenant_id = tenant_id
        self.tenant = tenant
        self.status = status
        self.urls = urls or RecordUrls()
        self._password = password

    @classmethod
    def for_service(
        cls,
        settings: Settings,
        store: Store,
        tenant_id: TenantId,
        status: ServiceStatus | None = None,
        *,
        password: str | None = None,
    ) -> Dashboard:
        """The running service's dashboard: opportunities link into the configured org."""
        instance = settings.salesforce.instance_url
        opportunity = f"{instance.rstrip('/')}/{{id}}" if instance else None
        urls = RecordUrls(opportunity=opportunity)
        name = settings.tenant.name
        return cls(store, tenant_id, name, status=status, urls=urls, password=password)

    def routes(self) -> list[Route]:
        return [
            Route("/", self._guarded(self.page), methods=["GET"]),
            Route("/dead-letters/retry", self._guarded(self.retry), methods=["POST"]),
            Route(
                "/conflicts/{conflict_id:int}/resolve",
                self._guarded(self.resolve),
                methods=["POST"],
            ),
        ]

    # --- endpoints -----------------------------------------------------------------------------

    async def page(self, request: Request) -> Response:
        context = await run_in_threadpool(self.context)
        context["notice"] = request.query_params.get("notice", "")
        return HTMLResponse(_templates.get_template("dashboard.html").render(context))

    async def retry(self, request: Request) -> Response:
        form = await request.form()
        key = str(form.get("key") or "")
        if key == "*all*":
            keys = await run_in_threadpool(retry_all, self.store, self.tenant_id)
        else:
            keys = await run_in_threadpool(retry_one, self.store, self.tenant_id, key)
        notice = f"Requeued {', '.join(keys)}" if keys else f"No dead letter for {key}"
        return _back(notice)

    async def resolve(self, request: Request) -> Response:
        form = await request.form()
        take = str(form.get("take") or "")
        if take == "value":
            take = f"value={form.get('value') or ''}"
        try:
            resolution = Resolution.parse(take)
        except ValueError as exc:
            return PlainTextResponse(str(exc), 400)
        conflict_id = int(request.path_params["conflict_id"])
        try:
            await run_in_threadpool(resolve, self.store, self.tenant_id, conflict_id, resolution)
        except LookupError as exc:
            return _back(str(exc.args[0]))
        return _back(f"Conflict {conflict_id}: took {resolution.describe()}; link requeued")

    # --- data ----------------------------------------------------------------------------------

    def context(self) -> dict[str, Any]:
        """Everything the template shows (read off the event loop)."""
        stats = self.store.stats(self.tenant_id)
        now = self.store.clock.now()
        waited = now - stats.oldest_due if stats.oldest_due else None
        return {
            "tenant": self.tenant,
            "version": __version__,
            "now": now,
            "stats": stats,
            "oldest_wait": console.duration(waited) if waited else "",
            "activity": self._activity(),
            "pc_calls": calls_last_24h(self.store, self.tenant_id, now),
            "audit": self.store.recent_audit(self.tenant_id, RECENT_AUDIT),
            "dead_letters": self.store.dead_letters(self.tenant_id),
            "conflicts": open_conflicts(self.store, self.tenant_id),
            "links": recent_links(self.store, self.tenant_id, LINKS_SHOWN),
            "referral_url": lambda i: self.urls.of(self.urls.referral, i),
            "opportunity_url": lambda i: self.urls.of(self.urls.opportunity, i),
        }

    def _activity(self) -> Activity:
        stored = read_activity(self.store, self.tenant_id)
        if self.status is None:
            return stored
        live = self.status.last_webhook
        webhook = SignalSeen(live.at, live.event, live.referral_id or "") if live else None
        looks = dict(stored.looks)
        for name, look in self.status.looks.items():
            looks[name] = SignalSeen(
                look.at, look.outcome, look.error or f"{look.enqueued} enqueued"
            )
        return Activity(webhook or stored.last_webhook, looks)

    # --- guards --------------------------------------------------------------------------------

    def _guarded(self, endpoint: Endpoint) -> Endpoint:
        async def guarded(request: Request) -> Response:
            if self._password is not None and not self._authorized(request):
                headers = {"WWW-Authenticate": 'Basic realm="cosell"'}
                return PlainTextResponse("sign in to see the dashboard", 401, headers=headers)
            if request.method == "POST" and _cross_site(request):
                return PlainTextResponse("cross-site form posts are refused", 403)
            return await endpoint(request)

        return guarded

    def _authorized(self, request: Request) -> bool:
        scheme, _, encoded = request.headers.get("authorization", "").partition(" ")
        if scheme.lower() != "basic":
            return False
        try:
            _, _, given = base64.b64decode(encoded).decode("utf-8").partition(":")
        except (binascii.Error, UnicodeDecodeError):
            return False
        return hmac.compare_digest(given.encode(), str(self._password).encode())


def _cross_site(request: Request) -> bool:
    """Browsers say where a post came from in ``Sec-Fetch-Site``; older ones send ``Origin``,
    compared with the host the browser addressed (a proxy may forward it)."""
    fetch_site = request.headers.get("sec-fetch-site")
    if fetch_site is not None:
        return fetch_site not in ("same-origin", "none")
    origin = request.headers.get("origin")
    if not origin:
        return False
    hosts = {request.headers.get("host", ""), request.headers.get("x-forwarded-host", "")}
    return urlsplit(origin).netloc not in hosts - {""}


def _back(notice: str) -> Response:
    return RedirectResponse(f"/?notice={quote(notice)}", status_code=303)
