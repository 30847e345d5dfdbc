"""Prometheus metrics of the service, on a registry of its own (one per app: tests stay apart)."""

from __future__ import annotations

import re
from collections.abc import Callable, Iterator
from dataclasses import dataclass

import httpx
from prometheus_client import CollectorRegistry, Counter, Histogram, generate_latest
from prometheus_client.core import CounterMetricFamily, GaugeMetricFamily, Metric
from prometheus_client.registry import Collector

from cosell.signals.loop import LookReport

CONTENT_TYPE = "text/plain; version=0.0.4; charset=utf-8"


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
    def __init__(self, read: Callable[[], QueueGauges]) -> None:
        self._read = read

    def collect(self) -> Iterator[Metric]:
        gauges = self._read()
        yield GaugeMetricFamily("cosell_queue_depth", "Keys waiting or running.", gauges.depth)
        yield GaugeMetricFamily("cosell_queue_leased", "Keys being reconciled now.", gauges.leased)
        yield GaugeMetricFamily(
            "cosell_dead_letters", "Keys parked with a reason.", gauges.dead_letters
        )
        yield GaugeMetricFamily(
            "cosell_open_conflicts", "Fields both sides changed.", gauges.open_conflicts
        )
        yield GaugeMetricFamily(
            "cosell_queue_oldest_seconds",
            "How long the oldest due change has waited.",
            gauges.oldest_seconds,
        )


_ID_LIKE = re.compile(r"^(?=.*\d)[A-Za-z0-9_.@%:-]{6,}$")


def route_of(path: str) -> str:
    """``path`` with id-like segments (six or more characters with a digit) as ``{id}``."""
    parts = ["{id}" if _ID_LIKE.match(p) and not _VERSION.match(p) else p for p in path.split("/")]
    return "/".join(parts)


_VERSION = re.compile(r"^v\d+(\.\d+)?$")

LATENCY_BUCKETS = (1, 2, 5, 10, 30, 60, 120, 300, 600, 1800, 3600, 4 * 3600)
PATHS = {"referral": "partner_center_to_crm", "opportunity": "crm_to_partner_center"}


class _LedgerCollector(Collector):
    """Reconcile outcomes (from the audit) and records by state, read at each scrape."""

    def __init__(
        self,
        outcomes: Callable[[], dict[tuple[str, str], int]],
        states: Callable[[], dict[str, int]],
    ) -> None:
        self._outcomes, self._states = outcomes, states

    def collect(self) -> Iterator[Metric]:
        outcomes = CounterMetricFamily(
            "cosell_reconcile_outcomes",
            "Reconcile results by direction and outcome (audit rows).",
            labels=["direction", "outcome"],
        )
        for (direction, outcome), count in sorted(self._outcomes().items()):
            outcomes.add_metric([direction, outcome], count)
        yield outcomes
        states = GaugeMetricFamily("cosell_records", "Records by ledger state.", labels=["state"])
        for state, count in sorted(self._states().items()):
            states.add_metric([state], count)
        yield states


class ServiceMetrics:
    """Counters for webhooks, enqueued keys and signal runs, plus queue gauges when wired."""

    def __init__(self, registry: CollectorRegistry | None = None) -> None:
        self.registry = registry or CollectorRegistry()
        self.webhooks_received = Counter(
            "cosell_webhooks_received",
            "Verified webhook callbacks.",
            ["event"],
            registry=self.registry,
        )
        self.webhooks_rejected = Counter(
            "cosell_webhooks_rejected",
            "Webhook callbacks refused.",
            ["status"],
            registry=self.registry,
        )
        self.enqueued = Counter(
            "cosell_keys_enqueued",
            "Keys marked dirty, by signal.",
            ["source"],
            registry=self.registry,
        )
        self.signal_runs = Counter(
            "cosell_signal_runs",
            "Poll and sweep rounds, by outcome.",
            ["signal", "outcome"],
            registry=self.registry,
        )

        self.api_calls = Counter(
            "cosell_api_calls",
            "Calls to Partner Center and the CRM, by side, route and status.",
            ["side", "route", "status"],
            registry=self.registry,
        )
        self.alerts = Counter(
            "cosell_alerts",
            "Alert deliveries, by event, target and outcome (sent, failed).",
            ["event", "target", "outcome"],
            registry=self.registry,
        )
        self.propagation = Histogram(
            "cosell_propagation_seconds",
            "From a record marked dirty to its reconcile finishing, by path.",
            ["path"],
            buckets=LATENCY_BUCKETS,
            registry=self.registry,
        )

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
        """Report reconcile outcomes and records by state by calling these at each scrape."""
        self.registry.register(_LedgerCollector(outcomes, states))

    def watch_queue(self, read: Callable[[], QueueGauges]) -> None:
        """Report the queue gauges by calling ``read`` at each scrape."""
        self.registry.register(_QueueCollector(read))

    def observe_alert(self, event: str, target: str, outcome: str) -> None:
        self.alerts.labels(event, target, outcome).inc()

    def observe_look(self, report: LookReport) -> None:
        self.signal_runs.labels(report.signal, report.outcome).inc()
        if report.enqueued:
            self.enqueued.labels(report.signal).inc(report.enqueued)

    def render(self) -> bytes:
        return generate_latest(self.registry)
