"""Rate limits: a rolling ten-second burst per app, a daily allowance per portal (reset at
midnight UTC, the emulated portal's time zone), and the search API's requests per second.

Non-search responses carry the ``X-HubSpot-RateLimit-*`` headers (no daily ones for OAuth
calls); search responses carry none. A refusal is a 429 with ``policyName``.
"""

from __future__ import annotations

from collections import deque
from datetime import date

from cosell.clock import Clock
from cosell.emulators.hubspot.auth import Caller
from cosell.emulators.hubspot.config import HubSpotEmulatorConfig
from cosell.emulators.hubspot.wire import HubSpotError, correlation_id

SECONDLY_SHOWN = 10  # the deprecated per-second header's value; HubSpot no longer enforces it


class RateLimiter:
    def __init__(self, config: HubSpotEmulatorConfig, clock: Clock) -> None:
        self.config, self.clock = config, clock
        self._burst: dict[str, deque[float]] = {}
        self._search: deque[float] = deque()
        self._day: date | None = None
        self.used_today = 0

    def admit(self, caller: Caller, search: bool) -> dict[str, str]:
        """Spend one call or raise the 429; the headers to add to the response."""
        if not caller.bucket:
            return {}
        now = self.clock.now().timestamp()
        self._roll_day()
        if self.used_today >= self.config.daily_limit:
            raise _limited("DAILY", "You have reached your daily limit.")
        if search:
            self._spend_search(now)
            self.used_today += 1
            return {}
        window = self._window(caller.bucket, now)
        if len(window) >= self.config.burst_limit:
            raise _limited(
                "TEN_SECONDLY_ROLLING", "You have reached your ten_secondly_rolling limit."
            )
        window.append(now)
        self.used_today += 1
        return self._headers(caller, len(window))

    def _window(self, bucket: str, now: float) -> deque[float]:
        window = self._burst.setdefault(bucket, deque())
        horizon = now - self.config.burst_window_ms / 1000
        while window and window[0] <= horizon:
            window.popleft()
        return window

    def _spend_search(self, now: float) -> None:
        while self._search and self._search[0] <= now - 1.0:
            self._search.popleft()
        if len(self._search) >= self.config.search_per_second:
            raise _limited("SECONDLY", "You have reached your secondly limit.")
        self._search.append(now)

    def _roll_day(self) -> None:
        today = self.clock.now().date()
        if today != self._day:
            self._day, self.used_today = today, 0

    def _headers(self, caller: Caller, used: int) -> dict[str, str]:
        headers = {
            "X-HubSpot-RateLimit-Interval-Milliseconds": str(self.config.burst_window_ms),
            "X-HubSpot-RateLimit-Max": str(self.config.burst_limit),
            "X-HubSpot-RateLimit-Remaining": str(max(self.config.burst_limit - used, 0)),
            "X-HubSpot-RateLimit-Secondly": str(SECONDLY_SHOWN),
            "X-HubSpot-RateLimit-Secondly-Remaining": str(max(SECONDLY_SHOWN - 1, 0)),
        }
        if not caller.oauth:
            headers["X-HubSpot-RateLimit-Daily"] = str(self.config.daily_limit)
            remaining = max(self.config.daily_limit - self.used_today, 0)
            headers["X-HubSpot-RateLimit-Daily-Remaining"] = str(remaining)
        return headers


def _limited(policy: str, message: str) -> HubSpotError:
    return HubSpotError(
        429,
        "RATE_LIMITS",
        message,
        extra={"errorType": "RATE_LIMIT", "policyName": policy, "requestId": correlation_id()},
    )
