"""The operator's console: the overview at ``/`` (records by state, what needs a person, last
signals, recent audit, dead letters with Retry, open conflicts with Resolve, links), and the
routes of the records, conflicts and dead-letters pages. Server-rendered HTML.

Every value is escaped by the template engine. Who may see and do what is the
``Authenticator``'s business: viewers read, operators retry and resolve; every form carries the
session's CSRF token and a post from another site is refused.
"""

from __future__ import annotations

from collections import Counter
from collections.abc import Callable
from datetime import datetime
from typing import Any

from starlette.concurrency import run_in_threadpool
from starlette.requests import Request
from starlette.responses import PlainTextResponse, Response
from starlette.routing import Route

from cosell.operations import console
from cosell.operations.activity import Activity, SignalSeen, read_activity
from cosell.operations.call_meter import (
    CRM_CALLS,
    calls_last_24h,
    hourly_average_seconds,
    hourly_calls,
)
from cosell.operations.conflicts import Resolution, open_conflicts, resolve
from cosell.operations.connection_health import hourly_allowance, read_checks
from cosell.operations.decisions import Decision
from cosell.operations.links_view import recent_links
from cosell.operations.record_sides import SideReader
from cosell.operations.records_view import STATE_WORDS, STATES, RecordRow, all_records
from cosell.operations.retry import retry_all, retry_one
from cosell.operations.service_status import ServiceStatus
from cosell.settings import Settings
from cosell.store.records import AuditRecord, TenantId
from cosell.store.sql import Store
from cosell.web.api import ConsoleAPI
from cosell.web.auth import Authenticator
from cosell.web.charts import Series, bar_chart
from cosell.web.pages import Pages
from cosell.web.queue_pages import QueuePages
from cosell.web.records_pages import RecordPages
from cosell.web.setup_pages import SetupPages
from cosell.web.site import ConsoleSetup, RecordUrls, Site
from cosell.web.sso import EntraSignIn

RECENT_AUDIT = 25
LINKS_SHOWN = 100


class Dashboard(Site):
    """The dashboard's routes over the store; ``status`` adds the live process's view."""

    def __init__(
        self,
        store: Store,
        tenant_id: TenantId,
        tenant: str,
        *,
        status: ServiceStatus | None = None,
        urls: RecordUrls | None = None,
        auth: Authenticator,
        sides: SideReader | None = None,
        setup: ConsoleSetup | None = None,
        sso: EntraSignIn | None = None,
        decide: Callable[[str, Decision], str] | None = None,
        reserve_percent: float = 20.0,
    ) -> None:
        super().__init__(
            store,
            tenant_id,
            tenant,
            auth,
            Pages(tenant, store.clock, auth.root),
            urls or RecordUrls(),
            setup or ConsoleSetup(),
            sides,
            decide,
        )
        self.status = status
        self.sso = sso
        self.reserve_percent = reserve_percent

    @classmethod
    def for_service(
        cls,
        settings: Settings,
        store: Store,
        tenant_id: TenantId,
        status: ServiceStatus | None = None,
        *,
        auth: Authenticator,
        sides: SideReader | None = None,
        setup: ConsoleSetup | None = None,
        sso: EntraSignIn | None = None,
        decide: Callable[[str, Decision], str] | None = None,
    ) -> Dashboard:
        """The running service's dashboard: opportunities link into the configured org."""
        instance = settings.salesforce.instance_url
        opportunity = f"{instance.rstrip('/')}/{{id}}" if instance else None
        portal = settings.partner_center.portal_url.rstrip("/")
        urls = RecordUrls(f"{portal}/dashboard/v2/referrals/{{id}}", opportunity)
        name = settings.tenant.name
        return cls(
            store,
            tenant_id,
            name,
            status=status,
            urls=urls,
            auth=auth,
            sides=sides,
            setup=setup,
            sso=sso,
            decide=decide,
            reserve_percent=settings.salesforce.limit_reserve_percent,
        )

    def routes(self) -> list[Route]:
        guard = self.auth.guard
        return [
            Route("/", guard("viewer", self.page), methods=["GET"]),
            Route("/dead-letters/retry", guard("operator", self.retry), methods=["POST"]),
            Route(
                "/conflicts/{conflict_id:int}/resolve",
                guard("operator", self.resolve),
                methods=["POST"],
            ),
            *RecordPages(self).routes(),
            *QueuePages(self).routes(),
            *ConsoleAPI(self).routes(),
            *SetupPages(self).routes(),
            *(self.sso.routes() if self.sso is not None else []),
        ]

    # --- endpoints -----------------------------------------------------------------------------

    async def page(self, request: Request) -> Response:
        context = await run_in_threadpool(self.context)
        return self.pages.render(request, "dashboard.html", title="Overview", **context)

    async def retry(self, request: Request) -> Response:
        form = await request.form()
        asked = [str(k) for k in form.getlist("key") if k]
        back = str(form.get("back") or "/")
        if "*all*" in asked:
            keys = await run_in_threadpool(retry_all, self.store, self.tenant_id)
        else:
            keys = []
            for key in asked:
                keys += await run_in_threadpool(retry_one, self.store, self.tenant_id, key)
        if not asked:
            return self.back("Pick at least one dead letter to retry", back)
        notice = f"Requeued {', '.join(keys)}" if keys else f"No dead letter for {', '.join(asked)}"
        return self.back(notice, back)

    async def resolve(self, request: Request) -> Response:
        form = await request.form()
        take = str(form.get("take") or "")
        if take == "value":
            take = f"value={form.get('value') or ''}"
        back = str(form.get("back") or "/")
        try:
            resolution = Resolution.parse(take)
            conflict_id = int(request.path_params["conflict_id"])
            await run_in_threadpool(resolve, self.store, self.tenant_id, conflict_id, resolution)
        except ValueError as exc:
            return PlainTextResponse(str(exc), 400)
        except LookupError as exc:
            return self.back(str(exc.args[0]), back)
        return self.back(
            f"Conflict {conflict_id}: took {resolution.describe()}; link requeued", back
        )

    # --- data ----------------------------------------------------------------------------------

    def context(self) -> dict[str, Any]:
        """Everything the template shows (read off the event loop)."""
        stats = self.store.stats(self.tenant_id)
        now = self.store.clock.now()
        waited = now - stats.oldest_due if stats.oldest_due else None
        expiring = self.setup.expiring
        return {
            "stats": stats,
            "oldest_wait": console.duration(waited) if waited else "",
            "activity": self._activity(),
            "pc_calls": calls_last_24h(self.store, self.tenant_id, now),
            "charts": [
                Series("Partner Center calls", hourly_calls(self.store, self.tenant_id, now)),
                Series("CRM calls", hourly_calls(self.store, self.tenant_id, now, CRM_CALLS)),
                Series(
                    "Propagation, hourly average",
                    hourly_average_seconds(self.store, self.tenant_id, now),
                    unit="s",
                ),
            ],
            "allowance": self._allowance(now),
            "health": read_checks(self.store, self.tenant_id),
            "bar_chart": bar_chart,
            "expiring": expiring() if expiring is not None else None,
            "audit": _meaningful(self.store.recent_audit(self.tenant_id, RECENT_AUDIT * 4)),
            "states": _state_counts(all_records(self.store, self.tenant_id)),
            "state_words": STATE_WORDS,
            "dead_letters": self.store.dead_letters(self.tenant_id),
            "conflicts": open_conflicts(self.store, self.tenant_id),
            "links": recent_links(self.store, self.tenant_id, LINKS_SHOWN),
            "referral_url": lambda i: self.urls.of(self.urls.referral, i),
            "opportunity_url": lambda i: self.urls.of(self.urls.opportunity, i),
        }

    def _allowance(self, now: datetime) -> Series | None:
        """The Salesforce API allowance used per hour, against the reserve cosell keeps (none
        before the service's first Salesforce check)."""
        uses = hourly_allowance(self.store, self.tenant_id, now)
        latest = next((u for u in reversed(uses) if u.maximum), None)
        if latest is None:
            return None
        reserve = self.reserve_percent
        label = f"the reserve starts at {100 - reserve:g} % used"
        label += f"; now {latest.used:,} of {latest.maximum:,} calls"
        points = [(u.hour, u.percent) for u in uses]
        return Series(
            "Salesforce API allowance used",
            points,
            unit="%",
            scale=100,
            line=100 - reserve,
            line_label=label,
        )

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


def _meaningful(entries: list[AuditRecord]) -> list[AuditRecord]:
    """Recent audit without rounds that found nothing to do (``skipped ∅ → ∅``)."""
    kept = [e for e in entries if not (e.outcome == "skipped" and e.old is None and e.new is None)]
    return kept[:RECENT_AUDIT]


def _state_counts(rows: list[RecordRow]) -> list[tuple[str, int]]:
    counts = Counter(r.state for r in rows)
    return [(state, counts[state]) for state in STATES if counts[state]]
