"""The running service: wiring from settings, start, and graceful shutdown.

Shutdown order: first stop everything that *produces* work (the webhook endpoint and both
signals), then let the work queue drain (``stop(drain=True)``: in-flight reconciles finish),
then close the store and the HTTP clients. A webhook refused during shutdown is redelivered by
Partner Center; a change the signals miss is found by the next start's overlap window.
"""

from __future__ import annotations

from collections import Counter
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from functools import partial
from typing import TYPE_CHECKING, Literal, Protocol

import httpx
import sqlalchemy.exc
import structlog
from starlette.routing import BaseRoute, Route

from cosell.clients.connect import (
    HttpFactory,
    default_http,
    hubspot_client,
    partner_center_client,
    salesforce_client,
    webhook_certificates,
)
from cosell.clients.retry import RetryPolicy
from cosell.clock import Clock
from cosell.errors import ConfigError, CosellError
from cosell.operations.activity import RecordingStatus
from cosell.operations.call_meter import CRM_CALLS, PROPAGATION_MS, PROPAGATIONS, CallMeter
from cosell.operations.outcome_counts import outcome_counts
from cosell.operations.records_view import all_records
from cosell.operations.service_status import ServiceStatus
from cosell.private_files import private_dir
from cosell.queue.distributed import WAKE, DistributedQueue, every
from cosell.queue.distributed import connections_at_most as queue_connections
from cosell.queue.embedded import EmbeddedQueue
from cosell.service import loops
from cosell.service.console import (
    console_auth,
    console_hosts,
    console_setup,
    console_sso,
)
from cosell.service.parts import Handler, HandlerFactory, Queue, ServiceParts
from cosell.service.server import WebServer
from cosell.settings import Settings, tenant_console_root
from cosell.signals.loop import SignalLoop
from cosell.signals.pace import SharedPace
from cosell.signals.synced import (
    referral_event_synced,
)
from cosell.store.database import SERVER_CONNECTIONS
from cosell.store.records import Job, TenantId
from cosell.store.sql import Store
from cosell.web.app import create_app
from cosell.web.dashboard import Dashboard
from cosell.web.hubspot_receiver import PATH as HUBSPOT_WEBHOOK_PATH
from cosell.web.hubspot_receiver import HubSpotWebhookReceiver
from cosell.web.metrics import QueueGauges, ServiceMetrics
from cosell.web.receiver import WebhookReceiver
from cosell.webhooks.signature import verify_callback

if TYPE_CHECKING:
    from cosell.sync.engine.engine import Engine

log = structlog.get_logger(__name__)

IN_PLACE_WAIT = 5.0
"""The longest ``Retry-After`` (seconds) a reconcile's API call waits out in its worker."""


class Worker(Protocol):
    """The work queue's lifecycle."""

    def start(self) -> None: ...

    def stop(self, drain: bool = True, timeout: float = 30.0) -> bool: ...


class Runtime:
    """Starts and stops the parts of a running service in a safe order."""

    def __init__(
        self,
        *,
        queue: Worker,
        signals: Sequence[SignalLoop] = (),
        server: WebServer | None = None,
        closers: Sequence[Callable[[], None]] = (),
    ) -> None:
        self.queue = queue
        self.signals = list(signals)
        self.server = server
        self._closers = list(closers)

    def start(self) -> None:
        self.queue.start()
        if self.server is not None:
            self.server.start()
        for loop in self.signals:
            loop.start()
        log.info("service.started", address=self.server.address if self.server else None)

    def stop(self, timeout: float = 60.0) -> bool:
        """Stop producing work, let in-flight work finish; True when the queue drained in time."""
        log.info("service.stopping")
        if self.server is not None:
            self.server.stop()
        for loop in self.signals:
            loop.stop()
        drained = self.queue.stop(drain=True, timeout=timeout)
        for close in self._closers:
            close()
        log.info("service.stopped", drained=drained)
        return drained


Role = Literal["all", "web", "worker"]
"""``all``: ``cosell run``, everything in one process. ``web``: webhook receiver, console,
health and metrics, no reconciles (``cosell web``). ``worker``: reconciles, and the polls and
sweeps as periodic tasks, no listener (``cosell worker``)."""


class _Deferring:
    """The queue of a ``web`` process: it only defers work; workers elsewhere run it."""

    def __init__(self, queue: DistributedQueue) -> None:
        self._queue = queue

    def start(self) -> None:
        pass

    def stop(self, drain: bool = True, timeout: float = 30.0) -> bool:
        del drain, timeout
        self._queue.close()
        return True


@dataclass
class _TenantService:
    """One tenant's share of the service: its clients, handler, signals, receiver, console."""

    parts: ServiceParts
    handler: Handler
    status: ServiceStatus
    flushes: list[Callable[[], None]]
    metrics: ServiceMetrics
    """The service's metrics, labelled with this tenant."""
    signals: list[SignalLoop] = field(default_factory=list)
    receiver: WebhookReceiver | None = None
    closers: list[Callable[[], None]] = field(default_factory=list)


def build_runtime(
    settings: Settings,
    handler_factory: HandlerFactory,
    *,
    clock: Clock,
    http: HttpFactory = default_http,
    role: Role = "all",
) -> Runtime:
    """Everything ``cosell run`` (or ``web``, or ``worker``) runs, built from validated settings.

    With several ``[tenants]`` one process serves them all over one store and one queue: each
    tenant has its own clients, signals and webhook path (``/webhooks/partner-center/<name>``),
    the queue runs each key with its tenant's handler, and no tenant may hold every worker
    (the others keep a reserve, so one tenant's throttling or outage never stalls them).
    """
    distributed = settings.service.queue == "procrastinate"
    if role != "all" and not distributed:
        raise ConfigError(
            "service.queue",
            f'`cosell {role}` needs "procrastinate" (and a PostgreSQL database_url); '
            "`cosell run` serves the embedded queue in one process",
        )
    every_tenant = settings.tenant_settings()
    for configured in every_tenant:
        configured.require_partner_center()
        configured.require_crm()
    opened: list[httpx.Client] = []
    tracked = _tracking(http, opened)
    store = _open_store(settings, clock)
    metrics = ServiceMetrics()
    several = settings.multi_tenant
    tenants = [
        _tenant_service(c, store, clock, tracked, metrics, handler_factory) for c in every_tenant
    ]
    by_id = {t.parts.tenant: t for t in tenants}

    def handler(job: Job) -> None:
        found = by_id.get(job.tenant_id)
        if found is None:
            raise ConfigError("tenants", f"no tenant with id {job.tenant_id} in this deployment")
        found.handler(job)

    workers = settings.service.workers
    slots = max(workers - (len(tenants) - 1), 1) if several else None
    queue: Queue
    if distributed:
        try:
            queue = DistributedQueue(
                store,
                handler=handler,
                on_halt=_log_halt,
                workers=workers,
                max_attempts=settings.sync.max_attempts,
                tenant_slots=slots,
            )
        except ValueError as exc:
            raise ConfigError("service.database_url", str(exc)) from None
    else:
        queue = EmbeddedQueue(
            store,
            handler,
            workers=workers,
            clock=clock,
            max_attempts=settings.sync.max_attempts,
            lease_seconds=settings.service.lease_seconds,
            on_halt=_log_halt,
            tenant_slots=slots,
        )
    _check_connections(store, connections_at_most(settings, role))
    for one in tenants:
        _wire_signals(one, queue, one.metrics, tracked, several=several)
    first = tenants[0]
    receivers = {t.parts.settings.tenant.name: t.receiver for t in tenants if t.receiver}
    app = create_app(
        receiver=first.receiver if not several else None,
        receivers=receivers if several else None,
        status=first.status,
        metrics=metrics,
        health_check=partial(store.stats, first.parts.tenant),
        dashboard=None if several else _dashboard(first.parts, first.status),
        consoles={
            t.parts.settings.tenant.name: _dashboard(t.parts, t.status, several=True)
            for t in tenants
        }
        if several
        else None,
        allowed_hosts=console_hosts(settings),
        webhooks=[r for t in tenants for r in _hubspot_webhooks(t.parts, queue, several)],
    )
    server = WebServer(app, settings.service.host, settings.service.port)
    flushes = [flush for t in tenants for flush in t.flushes]
    own = [close for t in tenants for close in t.closers]
    closers = [*own, *flushes, *(client.close for client in opened), store.close]
    if role == "web":
        assert isinstance(queue, DistributedQueue)
        return Runtime(queue=_Deferring(queue), server=server, closers=closers)
    if isinstance(queue, DistributedQueue):
        # Every process that runs jobs knows the signals' tasks, and runs no loop of its own:
        # a `cosell run` joined by workers polls once, at the pace they share.
        _periodic_signals(queue, tenants, clock)
        if role == "worker":
            return Runtime(queue=queue, closers=closers)
        return Runtime(queue=queue, server=server, closers=closers)
    signals = [loop for t in tenants for loop in t.signals]
    return Runtime(queue=queue, signals=signals, server=server, closers=closers)


def connections_at_most(settings: Settings, role: Role) -> int:
    """The most connections to PostgreSQL one process of ``role`` opens: the store's pool, a
    session holding a pair's locks for each reconcile running at once, and on procrastinate
    the queue's (its deferring pool; where jobs run, the worker's pool and its LISTEN). The
    deployment's sum, and a spare for an operator, must fit the server's ``max_connections``
    (``docs/deployment.md``)."""
    runs_jobs = role != "web"
    workers = settings.service.workers
    total = SERVER_CONNECTIONS + (workers if runs_jobs else 0)
    if settings.service.queue == "procrastinate":
        total += queue_connections(workers, runs_jobs=runs_jobs)
    return total


def _check_connections(store: Store, at_most: int) -> None:
    """Say at start how many connections this process may open, and warn when the server
    could not give them now: at a busy moment it would refuse one ("too many clients")."""
    spare = store.spare_connections()
    if spare is None:
        return
    log.info("database_connections", at_most=at_most, server_spare=spare)
    if spare < at_most:
        log.warning(
            "database_connections_short",
            at_most=at_most,
            server_spare=spare,
            advice="raise PostgreSQL's max_connections, or lower service.workers",
        )


def _tenant_service(
    settings: Settings,
    store: Store,
    clock: Clock,
    tracked: HttpFactory,
    metrics: ServiceMetrics,
    handler_factory: HandlerFactory,
) -> _TenantService:
    """One tenant's clients (metered under its own budgets), handler and metrics."""
    tenant = store.ensure_tenant(settings.tenant.name)
    metrics = metrics.for_tenant(settings.tenant.name)
    meter = CallMeter(store, tenant, clock)
    crm_meter = CallMeter(store, tenant, clock, name=CRM_CALLS)
    latency = [CallMeter(store, tenant, clock, name=n) for n in (PROPAGATIONS, PROPAGATION_MS)]
    pc_hosts = {settings.partner_center.api_url, settings.partner_center.webhook_api_url}
    crm_hosts = {str(settings.salesforce.instance_url), settings.hubspot.api_url}
    counted = _counted(tracked, metrics, pc_hosts, crm_hosts)
    crm_http = crm_meter.metered(counted, crm_hosts)
    on_hubspot = settings.sync.crm == "hubspot"
    # A throttled call waits in its worker only briefly; a longer Retry-After goes back to the
    # queue, which reschedules the key and frees the worker for other keys and tenants.
    retry = RetryPolicy(attempts=3, max_retry_after=IN_PLACE_WAIT, clock=clock)
    parts = ServiceParts(
        settings,
        clock,
        store,
        tenant,
        partner_center_client(settings, clock, meter.metered(counted, pc_hosts), retry),
        None if on_hubspot else salesforce_client(settings, clock, crm_http, retry),
        hubspot_client(settings, clock, crm_http) if on_hubspot else None,
    )
    status = _observers(parts, metrics)
    handler = _timed(handler_factory(parts), metrics, clock, latency)
    flushes = [m.flush for m in (meter, crm_meter, *latency)]
    return _TenantService(parts, handler, status, flushes, metrics)


def _wire_signals(
    one: _TenantService,
    queue: Queue,
    metrics: ServiceMetrics,
    tracked: HttpFactory,
    *,
    several: bool = False,
) -> None:
    """The tenant's polls, sweep, checks and webhook receiver, feeding the shared queue
    (``several``: one of several tenants in this deployment)."""
    parts, status = one.parts, one.status
    poll, sweep, related = loops.signals(parts, queue, status, metrics)
    one.receiver = _receiver(
        parts, queue, _waker(queue, sweep, parts.tenant), status, metrics, tracked
    )
    one.signals = [poll, sweep] if related is None else [poll, related, sweep]
    one.signals.append(loops.expiry_loop(parts, queue, status, metrics))
    if parts.settings.sync.verify_pairs > 0:
        one.signals.append(loops.verify_loop(parts, queue, status, metrics))
    one.signals.append(loops.health_loop(parts, status, metrics))
    if parts.settings.alerts.targets:
        alert_loop = loops.alert_loop(parts, status, metrics, several=several)
        one.signals.append(alert_loop)
        wake = _waker(queue, alert_loop, parts.tenant)
        one.closers.append(loops.wake_on_parked(wake, parts.tenant))


def _waker(queue: Queue, loop: SignalLoop, tenant: TenantId) -> Callable[[], None]:
    """What makes ``loop`` look now: its thread's wake in one process; on procrastinate its
    periodic task deferred now, for any worker (the loop runs as a periodic task there)."""
    if isinstance(queue, DistributedQueue):
        return partial(queue.wake_periodic, loop.name, tenant)
    return loop.wake


def _periodic_signals(
    queue: DistributedQueue, tenants: Sequence[_TenantService], clock: Clock
) -> None:
    """Each tenant's signals as periodic tasks that tick at their cadence's shortest wait and
    look at the pace the workers share in the store (:mod:`cosell.signals.pace`)."""
    for one in tenants:
        for loop in one.signals:
            pace = SharedPace(one.parts.store, one.parts.tenant, loop, clock)
            cron = every(pace.tick_every)
            queue.add_periodic(loop.name, cron, _tick(pace), [one.parts.tenant])


def _tick(pace: SharedPace) -> Callable[[TenantId, int], None]:
    """A signal's look as a periodic task: each period one worker ticks, and looks when the
    signal's pace says it is due; a woken task (:data:`WAKE`) looks now."""

    def tick(tenant: TenantId, period: int) -> None:
        del tenant
        pace.tick(woken=period == WAKE)

    return tick


def _receiver(
    parts: ServiceParts,
    queue: Queue,
    sweep_hint: Callable[[], None],
    status: ServiceStatus,
    metrics: ServiceMetrics,
    http: HttpFactory,
) -> WebhookReceiver:
    store, tenant = parts.store, parts.tenant
    certificates = webhook_certificates(parts.settings, parts.clock, http)
    return WebhookReceiver(
        verify=partial(verify_callback, certificates=certificates),
        queue=queue,
        tenant=tenant,
        is_linked=lambda referral_id: store.link_by_referral(tenant, referral_id) is not None,
        own_write=referral_event_synced(store, tenant),
        sweep_hint=sweep_hint,
        metrics=metrics,
        status=status,
        clock=parts.clock,
    )


def _hubspot_webhooks(parts: ServiceParts, queue: Queue, several: bool) -> list[BaseRoute]:
    """``POST /webhooks/hubspot`` (``/webhooks/hubspot/<tenant>`` with several tenants) when
    HubSpot is the tenant's CRM and ``hubspot.webhooks`` is on."""
    hs = parts.settings.hubspot
    if parts.hubspot is None or not hs.webhooks:
        return []
    assert hs.client_secret is not None  # require_hubspot checked it
    receiver = HubSpotWebhookReceiver(
        client_secret=hs.client_secret.get_secret_value(),
        target_url=hs.webhook_url,
        app_id=hs.app_id,
        queue=queue,
        tenant=parts.tenant,
        now=parts.clock.now,
    )
    path = (
        f"{HUBSPOT_WEBHOOK_PATH}/{parts.settings.tenant.name}" if several else HUBSPOT_WEBHOOK_PATH
    )
    return [Route(path, receiver.endpoint, methods=["POST"])]


def _open_store(settings: Settings, clock: Clock) -> Store:
    private_dir(settings.service.state_dir)
    try:
        return Store.open(settings.database_url, clock=clock)
    except (sqlalchemy.exc.ArgumentError, sqlalchemy.exc.NoSuchModuleError) as exc:
        raise ConfigError("service.database_url", f"not a usable database URL: {exc}") from None


def _tracking(http: HttpFactory, opened: list[httpx.Client]) -> HttpFactory:
    def make(base_url: str, auth: httpx.Auth | None) -> httpx.Client:
        client = http(base_url, auth)
        opened.append(client)
        return client

    return make


def _counted(
    http: HttpFactory, metrics: ServiceMetrics, pc_hosts: set[str], crm_hosts: set[str]
) -> HttpFactory:
    """``http`` whose clients count every answered call in ``cosell_api_calls``."""

    def make(base_url: str, auth: httpx.Auth | None) -> httpx.Client:
        client = http(base_url, auth)
        side = "partner_center" if base_url in pc_hosts else "crm" if base_url in crm_hosts else ""
        if side:
            hooks = client.event_hooks["response"]
            client.event_hooks["response"] = [*hooks, metrics.api_call_hook(side)]
        return client

    return make


def _observers(parts: ServiceParts, metrics: ServiceMetrics) -> ServiceStatus:
    def depth() -> int:
        return parts.store.stats(parts.tenant).queue_depth

    def gauges() -> QueueGauges:
        stats = parts.store.stats(parts.tenant)
        conflicts = stats.open_conflicts
        waited = (parts.clock.now() - stats.oldest_due).total_seconds() if stats.oldest_due else 0
        return QueueGauges(
            stats.queue_depth, stats.leased, stats.dead_letters, conflicts, max(waited, 0.0)
        )

    def states() -> dict[str, int]:
        return dict(Counter(r.state for r in all_records(parts.store, parts.tenant)))

    metrics.watch_queue(gauges)
    metrics.watch_ledger(partial(outcome_counts, parts.store, parts.tenant), states)
    return RecordingStatus(
        parts.settings.tenant.name, parts.clock, depth, cursors=parts.store, tenant_id=parts.tenant
    )


def _timed(
    handler: Handler, metrics: ServiceMetrics, clock: Clock, meters: Sequence[CallMeter] = ()
) -> Handler:
    """The handler, observing each finished reconcile's time since its key was marked dirty
    (in the histogram, and in the hourly count and millisecond meters, when given)."""

    def run(job: Job) -> None:
        handler(job)
        seconds = (clock.now() - job.enqueued_at).total_seconds()
        metrics.observe_propagation(job.key, seconds)
        if meters:
            count, total = meters
            count.count()
            total.count(max(int(seconds * 1000), 0))

    return run


def _log_halt(job: Job, error: CosellError) -> None:
    log.error("tenant.halted", key=job.key, error=str(error))


def _dashboard(parts: ServiceParts, status: ServiceStatus, *, several: bool = False) -> Dashboard:
    """The tenant's console; ``several``: a deployment of several tenants, where it is served
    under ``/t/<tenant>`` and only that tenant's users sign in to it."""
    from cosell.operations.decisions import Decision, decide
    from cosell.operations.record_sides import RecordSides

    def engine() -> Engine:
        from cosell.sync.engine.engine import Engine

        return Engine.from_parts(parts)

    settings, store = parts.settings, parts.store
    name = settings.tenant.name
    scope = {"tenant": name, "root": tenant_console_root(name)} if several else {}
    auth = console_auth(settings, store, store.clock, **scope)
    sides = RecordSides(engine)

    def decided(referral_id: str, decision: Decision) -> str:
        return decide(sides.engine(), referral_id, decision)

    setup = console_setup(settings, parts.clock, parts.partner_center)
    sso = console_sso(settings, auth)
    return Dashboard.for_service(
        settings,
        store,
        parts.tenant,
        status,
        auth=auth,
        sides=sides,
        setup=setup,
        sso=sso,
        decide=decided,
    )
