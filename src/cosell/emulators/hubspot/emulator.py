"""The emulator object: one portal's store behind one lock, its clock, tokens, limits, faults,
call log, webhooks and delivery dispatcher."""

from __future__ import annotations

import threading

import httpx

from cosell.clock import Clock, OffsetClock
from cosell.emulators.faults import CallLog, FaultBook
from cosell.emulators.hubspot.auth import TokenBook
from cosell.emulators.hubspot.config import HubSpotEmulatorConfig
from cosell.emulators.hubspot.limits import RateLimiter
from cosell.emulators.hubspot.store import Change, Store
from cosell.emulators.hubspot.webhook_book import WebhookBook
from cosell.emulators.partner_center.delivery import WEBHOOK_FAULTS, Dispatcher

FAULT_KINDS = frozenset(
    {
        "server_error",
        "rate_limited",
        "daily_limit",
        "locked",
        "migration",
        "latency",
        "expire_tokens",
        "not_found_html",
    }
)


class HubSpotEmulator:
    """Everything one emulated HubSpot portal knows; ``app.state.emulator`` in tests."""

    def __init__(
        self,
        config: HubSpotEmulatorConfig,
        clock: Clock | None = None,
        delivery_client: httpx.Client | None = None,
    ) -> None:
        self.config = config
        self.search_lag = config.search_lag_seconds
        """Seconds a write takes to show in search (the control surface changes it for this
        portal only: the config may be shared by other emulators)."""
        self.clock: Clock = clock or OffsetClock()
        self.lock = threading.RLock()
        self.faults = FaultBook(FAULT_KINDS | WEBHOOK_FAULTS)
        self.calls = CallLog()
        self._own_client = delivery_client is None
        self.dispatcher = Dispatcher(
            delivery_client or httpx.Client(timeout=10.0),
            self.clock,
            self.faults,
            max_attempts=config.delivery_attempts,
            backoff=config.delivery_backoff,
        )
        self.reset()

    def reset(self) -> None:
        """A freshly seeded portal: no records, tokens, subscriptions, faults or calls."""
        with self.lock:
            self.store = Store(self.clock, self.search_lag, self._changed)
            self.tokens = TokenBook(self.config, self.clock)
            self.limits = RateLimiter(self.config, self.clock)
            self.webhooks = WebhookBook()
            self.faults.clear()
            self.calls.reset()
            self.dispatcher.reset()

    def _changed(self, change: Change) -> None:
        self.webhooks.pending += self.webhooks.events_for(
            change, self.config.portal_id, self.config.app_id
        )

    def close(self) -> None:
        self.dispatcher.close()
        if self._own_client:
            self.dispatcher.client.close()
