"""Partner Center publishes no API quota, so cosell counts its own calls.

``CallMeter`` counts responses in hourly buckets and merges them into a store cursor (on the
first call, then at most once a minute, and on ``flush``), so ``cosell status`` in another
process can show the calls of the last 24 hours. Replicas merging at the same moment may lose a
few counts: the figure is a guide to load, not an invoice.
"""

from __future__ import annotations

import json
import threading
from collections import Counter
from collections.abc import Callable, Container
from datetime import datetime, timedelta

import httpx

from cosell.clock import Clock
from cosell.operations.activity import CursorStore
from cosell.store.records import TenantId

PARTNER_CENTER_CALLS = "meter:partner_center_calls"
CRM_CALLS = "meter:crm_calls"
PROPAGATIONS = "meter:propagations"
PROPAGATION_MS = "meter:propagation_ms"
"""Finished reconciles per hour and their summed milliseconds since the key was marked dirty:
the console draws the hourly average."""
WINDOW = timedelta(hours=24)
HttpFactory = Callable[[str, httpx.Auth | None], httpx.Client]


def _hour(moment: datetime) -> str:
    return moment.replace(minute=0, second=0, microsecond=0).isoformat()


class CallMeter:
    """Thread-safe hourly call counts, merged into the cursor ``name``."""

    def __init__(
        self,
        cursors: CursorStore,
        tenant: TenantId,
        clock: Clock,
        *,
        name: str = PARTNER_CENTER_CALLS,
        flush_every: float = 60.0,
    ) -> None:
        self._cursors, self._tenant, self._clock, self.name = cursors, tenant, clock, name
        self._flush_every = flush_every
        self._pending: Counter[str] = Counter()
        self._lock = threading.Lock()
        self._flushed_at = clock.monotonic() - flush_every  # the first call is merged at once

    def count(self, calls: int = 1) -> None:
        with self._lock:
            self._pending[_hour(self._clock.now())] += calls
            due = self._clock.monotonic() - self._flushed_at >= self._flush_every
        if due:
            self.flush()

    def on_response(self, response: httpx.Response) -> None:
        """An ``httpx`` response hook: every answered request counts, errors included."""
        self.count()

    def flush(self) -> None:
        """Merge the pending counts into the cursor, dropping buckets older than 24 hours."""
        with self._lock:
            pending, self._pending = self._pending, Counter()
            self._flushed_at = self._clock.monotonic()
        if not pending:
            return
        stored = _buckets(self._cursors.get_cursor(self._tenant, self.name))
        stored.update(pending)
        oldest = _hour(self._clock.now() - WINDOW)
        kept = {hour: n for hour, n in sorted(stored.items()) if hour > oldest}
        self._cursors.set_cursor(self._tenant, self.name, json.dumps(kept))

    def metered(self, http: HttpFactory, hosts: Container[str]) -> HttpFactory:
        """``http`` with this meter hooked onto the clients whose base URL is in ``hosts``."""

        def make(base_url: str, auth: httpx.Auth | None) -> httpx.Client:
            client = http(base_url, auth)
            if base_url in hosts:
                client.event_hooks["response"] = [*client.event_hooks["response"], self.on_response]
            return client

        return make


def calls_last_24h(
    cursors: CursorStore, tenant: TenantId, now: datetime, name: str = PARTNER_CENTER_CALLS
) -> int | None:
    """Calls counted in the hourly buckets of the last 24 hours; ``None`` when none recorded."""
    value = cursors.get_cursor(tenant, name)
    if value is None:
        return None
    oldest = _hour(now - WINDOW)
    return sum(n for hour, n in _buckets(value).items() if hour > oldest)


def hourly_calls(
    cursors: CursorStore, tenant: TenantId, now: datetime, name: str = PARTNER_CENTER_CALLS
) -> list[tuple[datetime, int]]:
    """Calls per hour over the last 24 hours, oldest first (hours without calls count 0)."""
    stored = _buckets(cursors.get_cursor(tenant, name))
    first = now.replace(minute=0, second=0, microsecond=0) - WINDOW + timedelta(hours=1)
    hours = [first + timedelta(hours=n) for n in range(24)]
    return [(hour, stored.get(hour.isoformat(), 0)) for hour in hours]


def hourly_average_seconds(
    cursors: CursorStore, tenant: TenantId, now: datetime
) -> list[tuple[datetime, int]]:
    """The average propagation per hour over the last 24 hours, in whole seconds."""
    counts = hourly_calls(cursors, tenant, now, PROPAGATIONS)
    sums = dict(hourly_calls(cursors, tenant, now, PROPAGATION_MS))
    return [(hour, round(sums[hour] / n / 1000) if n else 0) for hour, n in counts]


def _buckets(value: str | None) -> Counter[str]:
    try:
        data = json.loads(value or "{}")
    except ValueError:
        return Counter()
    if not isinstance(data, dict):
        return Counter()
    return Counter({str(k): int(v) for k, v in data.items() if isinstance(v, int)})
