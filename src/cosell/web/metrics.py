"""Prometheus metrics of the service, on a registry of its own (one per app: tests stay apart)."""

from __future__ import annotations

from collections.abc import Callable, Iterator
from dataclasses import dataclass

from prometheus_client import CollectorRegistry, Counter, generate_latest
from prometheus_client.core import GaugeMetricFamily, Metric
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

    def watch_queue(self, read: Callable[[], QueueGauges]) -> None:
        """Report the queue gauges by calling ``read`` at each scrape."""
        self.registry.register(_QueueCollector(read))

    def observe_look(self, report: LookReport) -> None:
        self.signal_runs.labels(report.signal, report.outcome).inc()
        if report.enqueued:
            self.enqueued.labels(report.signal).inc(report.enqueued)

    def render(self) -> bytes:
        return generate_latest(self.registry)
