"""Sending the kept alerts: each due alert to each target still pending, retried with backoff.

The sender runs in its own thread (the service's alert round), never in a reconcile: a slow
or failing target delays only other alerts. A target that fails stays pending with the error
and is tried again after 1, 2, 4 … minutes (at most an hour apart), for as long as it is
configured; a target removed from the configuration is dropped from the pending list.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from datetime import timedelta

import structlog

from cosell.alerts.targets import DeliveryError, Target
from cosell.clock import Clock
from cosell.store.alerts import StoredAlert
from cosell.store.records import TenantId
from cosell.store.sql import Store

log = structlog.get_logger(__name__)

FIRST_RETRY = timedelta(minutes=1)
LAST_RETRY = timedelta(hours=1)
BATCH = 50


class AlertSender:
    """Delivers one tenant's due alerts to the configured targets."""

    def __init__(
        self,
        store: Store,
        tenant: TenantId,
        targets: Sequence[Target],
        clock: Clock,
        on_delivery: Callable[[str, str, str], None] | None = None,
    ) -> None:
        """``on_delivery(event, target, outcome)`` hears of each attempt (``sent``/``failed``)."""
        self._store, self._tenant, self._clock = store, tenant, clock
        self._on_delivery = on_delivery
        self._targets = {t.name: t for t in targets}

    @property
    def target_names(self) -> list[str]:
        return list(self._targets)

    def send_due(self) -> int:
        """Try every due alert once; returns how many deliveries succeeded."""
        sent = 0
        for stored in self._store.due_alerts(self._tenant, BATCH):
            sent += self._attempt(stored)
        return sent

    def _attempt(self, stored: StoredAlert) -> int:
        pending: list[str] = []
        errors: list[str] = []
        sent = 0
        for name in stored.pending:
            target = self._targets.get(name)
            if target is None:
                log.warning("alert.target_gone", target=name, subject=stored.alert.subject)
                continue
            try:
                target.send(stored.alert)
            except DeliveryError as exc:
                self._tell(stored, name, "failed")
                pending.append(name)
                errors.append(f"{name}: {exc}")
                log.warning(
                    "alert.failed",
                    target=name,
                    subject=stored.alert.subject,
                    alert_event=stored.alert.event,
                    error=str(exc),
                    attempts=stored.attempts + 1,
                )
                continue
            sent += 1
            self._tell(stored, name, "sent")
            log.info(
                "alert.sent",
                target=name,
                subject=stored.alert.subject,
                alert_event=stored.alert.event,
            )
        retry = self._clock.now() + _backoff(stored.attempts) if pending else None
        self._store.settle_alert(stored.id, pending, "; ".join(errors) or None, retry)
        return sent

    def _tell(self, stored: StoredAlert, target: str, outcome: str) -> None:
        if self._on_delivery is not None:
            self._on_delivery(stored.alert.event, target, outcome)


def _backoff(attempts: int) -> timedelta:
    factor: int = 2 ** min(attempts, 10)
    return min(FIRST_RETRY * factor, LAST_RETRY)
