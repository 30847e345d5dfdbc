"""A tenant's background loops: the polls and the sweep that find changes, the expiry watch,
the drift check, the alert round and the connection check. Each is a
:class:`~cosell.signals.loop.SignalLoop` reporting its looks to the console's status and the
metrics; :mod:`cosell.service.runtime` starts them (threads in one process, periodic tasks on
procrastinate)."""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import replace
from datetime import timedelta
from functools import cached_property
from typing import TYPE_CHECKING

from cosell import events
from cosell.alerts import AlertSender, targets_from_settings
from cosell.operations.alerting import AlertRound
from cosell.operations.connection_health import ConnectionProbe, troubles
from cosell.operations.service_status import ServiceStatus
from cosell.operations.verify import BudgetedVerify, Verifier, through_queue
from cosell.service.console import cached_expiring
from cosell.service.parts import Queue, ServiceParts
from cosell.settings import tenant_console_root
from cosell.signals.cadence import Cadence
from cosell.signals.expiry import ExpiryWatch
from cosell.signals.feed import ChangeFeed, FeedWiring
from cosell.signals.hubspot import deal_poller
from cosell.signals.hubspot_related import Cared, hubspot_related_poller, watched_records
from cosell.signals.loop import LookReport, SignalLoop
from cosell.signals.poller import opportunity_poller
from cosell.signals.related_feed import related_poller
from cosell.signals.related_rows import CONTACTS_LIST, RelatedObject, watched_objects
from cosell.signals.sweeper import referral_sweeper
from cosell.signals.synced import opportunity_synced, referral_synced, related_synced
from cosell.store.records import TenantId
from cosell.web.metrics import ServiceMetrics

if TYPE_CHECKING:
    from cosell.sync.sides.hubspot.side import HubSpotSide
    from cosell.sync.sides.hubspot.versions import DealVersion
    from cosell.sync.sides.salesforce.schema import CrmSchema
    from cosell.sync.sides.salesforce.side import CrmSide as SalesforceSide
    from cosell.sync.sides.salesforce.versions import OpportunityVersion

POLL, SWEEP = "salesforce-poll", "partner-center-sweep"
RELATED_POLL = "salesforce-related-poll"
HUBSPOT_POLL = "hubspot-poll"
HUBSPOT_RELATED_POLL = "hubspot-related-poll"
EXPIRY_WATCH = "expiry-watch"
VERIFY = "drift-check"
ALERTS = "alerts"
HEALTH = "connection-check"


def signals(
    parts: ServiceParts, queue: Queue, status: ServiceStatus, metrics: ServiceMetrics
) -> tuple[SignalLoop, SignalLoop, SignalLoop | None]:
    """The tenant's change feeds: the CRM's poll, the referral sweep and the CRM's
    related-record poll."""
    report = _reporter(status, metrics)
    sync = parts.settings.sync
    store, tenant = parts.store, parts.tenant
    settle = timedelta(seconds=sync.settle_seconds)
    overlap = timedelta(seconds=sync.poll_overlap_seconds)
    wiring = FeedWiring(queue, store, tenant, overlap, parts.clock, settle)
    sweeper = _sweeper(parts, wiring)
    sweep_cadence = Cadence(sync.sweep_interval, sync.sweep_interval)
    poll_cadence = Cadence(sync.poll_min_interval, sync.poll_max_interval)
    sweep = SignalLoop(SWEEP, sweeper, sweep_cadence, parts.clock, report)
    related_cadence = Cadence(sync.poll_min_interval, sync.related_poll_interval)
    if parts.hubspot is not None:
        portal = _Portal(parts)
        deals = deal_poller(
            parts.hubspot,
            wiring,
            synced=opportunity_synced(store, tenant, settle),
            version=portal.version,
        )
        records = hubspot_related_poller(
            parts.hubspot,
            portal.watched,
            wiring,
            portal.cared,
            known=related_synced(store, tenant, lambda: None),
        )
        return (
            SignalLoop(HUBSPOT_POLL, deals, poll_cadence, parts.clock, report),
            sweep,
            SignalLoop(HUBSPOT_RELATED_POLL, records, related_cadence, parts.clock, report),
        )
    assert parts.salesforce is not None
    org = _Org(parts)
    poller = opportunity_poller(
        parts.salesforce,
        wiring,
        where=sync.poll_filter,
        synced=opportunity_synced(store, tenant, settle),
        version=org.version,
        full_read=org.full_read,
    )
    related = related_poller(
        parts.salesforce,
        org.watched,
        wiring,
        where=sync.poll_filter,
        known=related_synced(store, tenant, parts.salesforce.user_id),
        stale=parts.salesforce.fresh.stale,
    )
    return (
        SignalLoop(POLL, poller, poll_cadence, parts.clock, report),
        sweep,
        SignalLoop(RELATED_POLL, related, related_cadence, parts.clock, report),
    )


def expiry_loop(
    parts: ServiceParts, queue: Queue, status: ServiceStatus, metrics: ServiceMetrics
) -> SignalLoop:
    """The expiry watch (see :mod:`cosell.signals.expiry`)."""
    report = _reporter(status, metrics)
    store, tenant = parts.store, parts.tenant

    def linked(referral_id: str) -> bool:
        return store.link_by_referral(tenant, referral_id) is not None

    watch = ExpiryWatch(parts.partner_center, queue, tenant, linked, parts.clock)
    every = parts.settings.sync.expiry_watch_interval
    return SignalLoop(EXPIRY_WATCH, watch, Cadence(every, every), parts.clock, report)


def _sweeper(parts: ServiceParts, wiring: FeedWiring) -> ChangeFeed:
    """The referral sweep: the feeds' wiring with the sweep's own overlap."""
    overlap = timedelta(seconds=parts.settings.sync.sweep_overlap_seconds)
    synced = referral_synced(parts.store, parts.tenant)
    return referral_sweeper(parts.partner_center, replace(wiring, overlap=overlap), synced=synced)


def verify_loop(
    parts: ServiceParts, queue: Queue, status: ServiceStatus, metrics: ServiceMetrics
) -> SignalLoop:
    """The periodic, budgeted drift check (see :mod:`cosell.operations.verify`)."""
    report = _reporter(status, metrics)
    sync = parts.settings.sync

    cadence = Cadence(sync.verify_interval, sync.verify_interval)
    look = _LazyVerify(parts, queue)
    return SignalLoop(VERIFY, look, cadence, parts.clock, report)


def alert_loop(
    parts: ServiceParts, status: ServiceStatus, metrics: ServiceMetrics, *, several: bool
) -> SignalLoop:
    """The alert round in its own thread: a slow or failing target never holds a reconcile.
    With ``several`` tenants its links go to the tenant's console (``/t/<tenant>``)."""
    report = _reporter(status, metrics)
    config = parts.settings.alerts

    targets = targets_from_settings(config, parts.clock)
    sender = AlertSender(
        parts.store, parts.tenant, targets, parts.clock, on_delivery=metrics.observe_alert
    )
    expiring = cached_expiring(parts.partner_center, parts.clock, config.expiring_days)
    trouble = troubles(parts.store, parts.tenant)
    name = parts.settings.tenant.name
    look = AlertRound(
        parts.store,
        parts.tenant,
        config,
        sender,
        expiring=expiring,
        trouble=trouble,
        tenant_name=None if name == "default" else name,
        console_root=tenant_console_root(name) if several else "",
    )
    cadence = Cadence(config.interval, config.interval)
    return SignalLoop(ALERTS, look, cadence, parts.clock, report)


def wake_on_parked(wake: Callable[[], None], tenant: TenantId) -> Callable[[], None]:
    """A parked pair alerts at once rather than at the next round (the ledger already says
    so when the event is published); returns the unsubscribe."""

    def woken(event: events.Event) -> None:
        if event.tenant == tenant:
            wake()

    return events.subscribe(woken)


def health_loop(parts: ServiceParts, status: ServiceStatus, metrics: ServiceMetrics) -> SignalLoop:
    """Token, webhook-registration and API-allowance checks, kept for the console and alerts."""
    report = _reporter(status, metrics)
    settings = parts.settings

    probe = ConnectionProbe(
        parts.store,
        parts.tenant,
        parts.clock,
        parts.partner_center,
        public_url=settings.partner_center.webhook_public_url,
        salesforce=parts.salesforce,
        hubspot=parts.hubspot,
        reserve_percent=settings.salesforce.limit_reserve_percent,
    )
    every = settings.alerts.health_interval
    return SignalLoop(HEALTH, probe, Cadence(every, every), parts.clock, report)


class _LazyVerify:
    """Builds its engine (which describes the org) on the first look, not at start-up."""

    def __init__(self, parts: ServiceParts, queue: Queue) -> None:
        self._parts = parts
        self._queue = queue
        self._look: BudgetedVerify | None = None

    def look(self) -> int:
        if self._look is None:
            from cosell.sync.engine.engine import Engine

            parts = self._parts
            verifier = Verifier(Engine.from_parts(parts), parts.clock)
            repair = through_queue(self._queue, parts.tenant)
            self._look = BudgetedVerify(verifier, repair, parts.settings.sync.verify_pairs)
        return self._look.look()


class _Org:
    """The org as the engine fits its mapping to it, described on the first look that needs it
    (not at start-up) and once: what the polls select."""

    def __init__(self, parts: ServiceParts) -> None:
        self._parts = parts
        self._schema: CrmSchema | None = None

    def schema(self) -> CrmSchema:
        if self._schema is None:
            from cosell.sync.engine.engine import mapping_from_settings
            from cosell.sync.sides.salesforce.schema import describe_org

            assert self._parts.salesforce is not None
            mapping = mapping_from_settings(self._parts.settings)
            self._schema = describe_org(self._parts.salesforce, mapping)
        return self._schema

    def watched(self) -> list[RelatedObject]:
        """The related objects the engine's fitted mapping reads."""
        return watched_objects(self.schema())

    def version(self) -> OpportunityVersion:
        """The opportunity values the engine reads, which tell one version from another."""
        from cosell.sync.sides.salesforce.versions import OpportunityVersion

        return OpportunityVersion.of(self.schema())

    def full_read(self) -> SalesforceSide:
        """How the engine reads an opportunity, for the poll to read new changes that way (on
        the same client: the rows it reads wait there for the engine's reconciles)."""
        from cosell.sync.sides.salesforce.side import CrmSide

        assert self._parts.salesforce is not None
        return CrmSide(self._parts.salesforce, self.schema(), self._parts.clock)


class _Portal:
    """The HubSpot portal as the engine reads its deals, described on the first look."""

    def __init__(self, parts: ServiceParts) -> None:
        self._parts = parts

    @cached_property
    def _side(self) -> HubSpotSide:
        from cosell.sync.engine.engine import mapping_from_settings
        from cosell.sync.sides.hubspot.side import HubSpotSide

        assert self._parts.hubspot is not None
        mapping = mapping_from_settings(self._parts.settings)
        pipeline = self._parts.settings.hubspot.pipeline
        return HubSpotSide(self._parts.hubspot, mapping, self._parts.clock.now, pipeline=pipeline)

    def version(self) -> DealVersion:
        """The deal values the engine reads, which tell one version from another."""
        return self._side.version

    def watched(self) -> list[RelatedObject]:
        """The companies and contacts the engine reads (see
        :mod:`cosell.signals.hubspot_related`)."""
        side = self._side
        contacts = any(spec.crm == CONTACTS_LIST for spec in side.mapping.fields.values())
        return watched_records(side.company_properties, contacts)

    def cared(self, deal_ids: Sequence[str]) -> set[str]:
        """The deals cosell cares about among ``deal_ids``: linked, flagged or with a referral."""
        parts, side = self._parts, self._side
        assert parts.hubspot is not None

        def linked(deal_id: str) -> bool:
            return parts.store.link_by_opportunity(parts.tenant, deal_id) is not None

        cared = Cared(parts.hubspot, linked, side.flag_property, side.referral_property)
        return cared(deal_ids)


def _reporter(status: ServiceStatus, metrics: ServiceMetrics) -> Callable[[LookReport], None]:
    """Where a loop's looks go: the console's status and the metrics."""

    def report(look: LookReport) -> None:
        status.saw_look(look)
        metrics.observe_look(look)

    return report
