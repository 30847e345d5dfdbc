"""What the service is doing, kept in memory for the status page and health checks."""

from __future__ import annotations

import threading
from collections.abc import Callable
from dataclasses import dataclass
from datetime import datetime

from cosell.clock import Clock
from cosell.signals.loop import LookReport


@dataclass(frozen=True)
class WebhookSeen:
    """The last webhook callback that passed verification."""

    at: datetime
    event: str
    referral_id: str | None


class ServiceStatus:
    """Thread-safe record of the last webhook and the last round of each signal."""

    def __init__(
        self, tenant: str, clock: Clock, queue_depth: Callable[[], int] | None = None
    ) -> None:
        self.tenant = tenant
        self.started_at = clock.now()
        self._clock = clock
        self._queue_depth = queue_depth
        self._lock = threading.Lock()
        self._webhook: WebhookSeen | None = None
        self._looks: dict[str, LookReport] = {}

    def saw_webhook(self, event: str, referral_id: str | None) -> None:
        with self._lock:
            self._webhook = WebhookSeen(self._clock.now(), event, referral_id)

    def saw_look(self, report: LookReport) -> None:
        with self._lock:
            self._looks[report.signal] = report

    @property
    def last_webhook(self) -> WebhookSeen | None:
        with self._lock:
            return self._webhook

    @property
    def looks(self) -> dict[str, LookReport]:
        with self._lock:
            return dict(self._looks)

    def queue_depth(self) -> int | None:
        return self._queue_depth() if self._queue_depth is not None else None
