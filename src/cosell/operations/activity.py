"""The service's last webhook and last poll/sweep rounds, kept as store cursors.

``ServiceStatus`` keeps them in memory for the running process; ``RecordingStatus`` also writes
them to the store, so ``cosell status`` (another process) and every replica of a scale-out
deployment can read them with ``read_activity``. Cursor names: ``signal:last_webhook`` and
``signal:last:<signal name>``; values are small JSON objects.
"""

from __future__ import annotations

import json
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any, Protocol

import structlog

from cosell.clock import Clock
from cosell.operations.service_status import ServiceStatus
from cosell.signals.loop import LookReport
from cosell.store.records import TenantId

log = structlog.get_logger(__name__)

WEBHOOK_CURSOR = "signal:last_webhook"
LOOK_PREFIX = "signal:last:"
POLL_SIGNAL, SWEEP_SIGNAL = "salesforce-poll", "partner-center-sweep"
RELATED_SIGNAL = "salesforce-related-poll"
HUBSPOT_POLL_SIGNAL, HUBSPOT_RELATED_SIGNAL = "hubspot-poll", "hubspot-related-poll"
SIGNALS = (POLL_SIGNAL, RELATED_SIGNAL, HUBSPOT_POLL_SIGNAL, HUBSPOT_RELATED_SIGNAL, SWEEP_SIGNAL)


class CursorStore(Protocol):
    """The part of the store activity lives in."""

    def get_cursor(self, tenant: TenantId, name: str) -> str | None: ...

    def set_cursor(self, tenant: TenantId, name: str, value: str) -> None: ...


@dataclass(frozen=True)
class SignalSeen:
    """One remembered signal: when, and what it was (event name or round outcome)."""

    at: datetime
    what: str
    detail: str = ""


@dataclass(frozen=True)
class Activity:
    """The last webhook and the last round of each signal loop, as persisted."""

    last_webhook: SignalSeen | None = None
    looks: dict[str, SignalSeen] = field(default_factory=dict)

    @property
    def crm_name(self) -> str:
        """The CRM whose polls these are (a tenant has one): HubSpot once a HubSpot poll was
        seen, else Salesforce."""
        hubspot = (HUBSPOT_POLL_SIGNAL, HUBSPOT_RELATED_SIGNAL)
        return "HubSpot" if any(name in self.looks for name in hubspot) else "Salesforce"

    @property
    def last_poll(self) -> SignalSeen | None:
        """The CRM poll's last round (Salesforce's opportunity poll, HubSpot's deal poll)."""
        return self.looks.get(POLL_SIGNAL) or self.looks.get(HUBSPOT_POLL_SIGNAL)

    @property
    def last_sweep(self) -> SignalSeen | None:
        return self.looks.get(SWEEP_SIGNAL)

    @property
    def last_related_poll(self) -> SignalSeen | None:
        """The related-record poll's last round (either CRM's)."""
        return self.looks.get(RELATED_SIGNAL) or self.looks.get(HUBSPOT_RELATED_SIGNAL)


class RecordingStatus(ServiceStatus):
    """A ``ServiceStatus`` that also persists what it sees (a failed write is logged, never
    raised: recording activity must not break a webhook answer or a poll)."""

    def __init__(
        self,
        tenant: str,
        clock: Clock,
        queue_depth: Callable[[], int] | None = None,
        *,
        cursors: CursorStore,
        tenant_id: TenantId,
    ) -> None:
        super().__init__(tenant, clock, queue_depth)
        self._cursors = cursors
        self._tenant_id = tenant_id

    def saw_webhook(self, event: str, referral_id: str | None) -> None:
        super().saw_webhook(event, referral_id)
        seen = self.last_webhook
        if seen is not None:
            self._write(WEBHOOK_CURSOR, _encode(seen.at, event, referral_id or ""))

    def saw_look(self, report: LookReport) -> None:
        super().saw_look(report)
        detail = report.error or f"{report.enqueued} enqueued"
        self._write(LOOK_PREFIX + report.signal, _encode(report.at, report.outcome, detail))

    def _write(self, name: str, value: str) -> None:
        try:
            self._cursors.set_cursor(self._tenant_id, name, value)
        except Exception as exc:
            log.warning("activity.not_recorded", cursor=name, error=type(exc).__name__)


def read_activity(cursors: CursorStore, tenant: TenantId) -> Activity:
    """What ``RecordingStatus`` last wrote for the tenant (empty when nothing was recorded)."""
    looks = {}
    for signal in SIGNALS:
        seen = _decode(cursors.get_cursor(tenant, LOOK_PREFIX + signal))
        if seen is not None:
            looks[signal] = seen
    return Activity(_decode(cursors.get_cursor(tenant, WEBHOOK_CURSOR)), looks)


def _encode(at: datetime, what: str, detail: str) -> str:
    return json.dumps({"at": at.isoformat(), "what": what, "detail": detail})


def _decode(value: str | None) -> SignalSeen | None:
    if not value:
        return None
    try:
        data: dict[str, Any] = json.loads(value)
        return SignalSeen(datetime.fromisoformat(data["at"]), str(data["what"]), data["detail"])
    except (ValueError, KeyError, TypeError):
        return None
