"""Prometheus metrics of the service, on a registry of its own (one per app: tests stay apart)."""

from __future__ import annotations

import re
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from typing import Any

import httpx
from prometheus_client import CollectorRegistry, Counter, Histogram, generate_latest
from prometheus_client.core import CounterMetricFamily, GaugeMetricFamily, Metric
from prometheus_client.registry import Collector

from cosell.signals.loop import LookReport

CONTENT_TYPE = "text/plain; version=0.0.4; charset=utf-8"
DEFAULT_TENANT = "default"


@dataclass(frozen=True)
class QueueGauges:
    """A snapshot of the work queue for the gauges."""

    depth: int
    leased: int
    dead_letters: int
    open_conflicts: int
    oldest_seconds: float = 0.0
    """How long the oldest due change has waited (0 when nothing waits)."""


class _QueueCollector(Collector):
    """The queue gauges of every tenant, read at each scrape."""

    def __init__(self) -> None:
        self.reads: dict[str, Callable[[], QueueGauges]] = {}

    def collect(self) -> Iterator[Metric]:
        read = {tenant: fetch() for tenant, fetch in sorted(self.reads.items())}
        gauges = [
            ("cosell_queue_depth", "Keys waiting or running.", "depth"),
            ("cosell_queue_leased", "Keys being reconciled now.", "leased"),
            ("cosell_dead_letters", "Keys parked with a reason.", "dead_letters"),
            ("cosell_open_conflicts", "Fields both sides changed.", "open_conflicts"),
            (
                "cosell_queue_oldest_seconds",
                "How long the oldest due change has waited.",
                "oldest_seconds",
            ),
        ]
        for name, documentation, attribute in gauges:
            family = GaugeMetricFamily(name, documentation, labels=["tenant"])
            for tenant, values in read.items():
                family.add_metric([tenant], getattr(values, attribute))
            yield family


_ID_LIKE = re.compile(r"^(?=.*\d)[A-Za-z0-9_.@%:-]{6,}$")


def route_of(path: str) -> str:
    """``path`` with id-like segments (six or more characters with a digit) as ``{id}``."""
    parts = ["{id}" if _ID_LIKE.match(p) and not _VERSION.match(p) else p for p in path.split("/")]
    return "/".join(parts)


_VERSION = re.compile(r"^v\d+(\.\d+)?$")

LATENCY_BUCKETS = (1, 2, 5, 10, 30, 60, 120, 300, 600, 1800, 3600, 4 * 3600)
PATHS = {"referral": "partner_center_to_crm", "opportunity": "crm_to_partner_center"}


class _LedgerCollector(Collector):
    """Reconcile outcomes (from the audit) and records by state of every tenant, read at each
    scrape."""

    def __init__(self) -> None:
        self.reads: dict[
            str, tuple[Callable[[], dict[tuple[str, str], int]], Callable[[], dict[str, int]]]
        ] = {}

    def collect(self) -> Iterator[Metric]:
        outcomes = CounterMetricFamily(
            "cosell_reconcile_outcomes",
            "Reconcile results by direction and outcome (audit rows).",
            labels=["direction", "outcome", "tenant"],
        )
        states = GaugeMetricFamily(
            "cosell_records", "Records by ledger state.", labels=["state", "tenant"]
        )
        for tenant, (read_outcomes, read_states) in sorted(self.reads.items()):
            for (direction, outcome), count in sorted(read_outcomes().items()):
                outcomes.add_metric([direction, outcome, tenant], count)
            for state, count in sorted(read_states().items()):
                states.add_metric([state, tenant], count)
        yield outcomes
        yield states


class _Bound:
    """A labelled metric with its last label, the tenant, already given."""

    def __init__(self, metric: Counter | Histogram, tenant: str) -> None:
        self._metric = metric
        self._tenant = tenant

    def labels(self, *values: str) -> Any:
        return self._metric.labels(*values, self._tenant)


class _Families:
    """The metrics of a service, shared by its tenants (each sample labelled with its tenant)."""

    def __init__(self, registry: CollectorRegistry) -> None:
        self.registry = registry

        def counter(name: str, documentation: str, labels: list[str]) -> Counter:
            return Counter(name, documentation, [*labels, "tenant"], registry=registry)

        self.webhooks_received = counter(
            "cosell_webhooks_received", "Verified webhook callbacks.", ["event"]
        )
        self.webhooks_rejected = counter(
            "cosell_webhooks_rejected", "Webhook callbacks refused.", ["status"]
        )
        self.enqueued = counter("cosell_keys_enqueued", "Keys marked dirty, by signal.", ["source"])
        self.signal_runs = counter(
            "cosell_signal_runs", "Poll and sweep rounds, by outcome.", ["signal", "outcome"]
        )
        self.api_calls = counter(
            "cosell_api_calls",
            "Calls to Partner Center and the CRM, by side, route and status.",
            ["side", "route", "status"],
        )
        self.alerts = counter(
            "cosell_alerts",
            "Alert deliveries, by event, target and outcome (sent, failed).",
            ["event", "target", "outcome"],
        )
        self.propagation = Histogram(
            "cosell_propagation_seconds",
            "From a record marked dirty to its reconcile finishing, by path.",
            ["path", "tenant"],
            buckets=LATENCY_BUCKETS,
            registry=registry,
        )
        self.queue = _QueueCollector()
        self.ledger = _LedgerCollector()
        registry.register(self.queue)
        registry.register(self.ledger)


class ServiceMetrics:
    """Counters for webhooks, enqueued keys, signal runs, API calls, alerts and propagation,
    plus the queue and ledger gauges when wired, all labelled with a tenant: ``for_tenant``
    gives the same metrics for another tenant of the service (one registry, one ``/metrics``)."""

    def __init__(
        self,
        registry: CollectorRegistry | None = None,
        *,
        tenant: str = DEFAULT_TENANT,
        families: _Families | None = None,
    ) -> None:
        self._families = families or _Families(registry or CollectorRegistry())
        self.registry = self._families.registry
        self.tenant = tenant
        fam = self._families
        self.webhooks_received = _Bound(fam.webhooks_received, tenant)
        self.webhooks_rejected = _Bound(fam.webhooks_rejected, tenant)
        self.enqueued = _Bound(fam.enqueued, tenant)
        self.signal_runs = _Bound(fam.signal_runs, tenant)
        self.api_calls = _Bound(fam.api_calls, tenant)
        self.alerts = _Bound(fam.alerts, tenant)
        self.propagation = _Bound(fam.propagation, tenant)

    def for_tenant(self, tenant: str) -> ServiceMetrics:
        """These metrics, labelled ``tenant``."""
        return ServiceMetrics(tenant=tenant, families=self._families)

    def api_call_hook(self, side: str) -> Callable[[httpx.Response], None]:
        """An ``httpx`` response hook counting the call under ``side`` (ids in the path are
        replaced by ``{id}``, so the routes stay few)."""

        def count(response: httpx.Response) -> None:
            route = f"{response.request.method} {route_of(response.request.url.path)}"
            self.api_calls.labels(side, route, str(response.status_code)).inc()

        return count

    def observe_propagation(self, key: str, seconds: float) -> None:
        """One reconcile of ``key`` finished ``seconds`` after the key was marked dirty."""
        path = PATHS.get(key.partition(":")[0], "other")
        self.propagation.labels(path).observe(max(seconds, 0.0))

    def watch_ledger(
        self,
        outcomes: Callable[[], dict[tuple[str, str], int]],
        states: Callable[[], dict[str, int]],
    ) -> None:
        """Report the tenant's reconcile outcomes and records by state by calling these at each
        scrape."""
        self._families.ledger.reads[self.tenant] = (outcomes, states)

    def watch_queue(self, read: Callable[[], QueueGauges]) -> None:
        """Report the tenant's queue gauges by calling ``read`` at each scrape."""
        self._families.queue.reads[self.tenant] = read

    def observe_alert(self, event: str, target: str, outcome: str) -> None:
        self.alerts.labels(event, target, outcome).inc()

    def observe_look(self, report: LookReport) -> None:
        self.signal_runs.labels(report.signal, report.outcome).inc()
        if report.enqueued:
            self.enqueued.labels(report.signal).inc(report.enqueued)

    def render(self) -> bytes:
        return generate_latest(self.registry)
