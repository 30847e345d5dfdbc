"""Requests to HubSpot spaced to fit its limits, so the app is not answered 429.

HubSpot counts an app's requests in a rolling ten-second window (100 on the common tiers, 190 on
Professional and Enterprise; ``X-HubSpot-RateLimit-Max`` and ``-Interval-Milliseconds`` on each
answer say which) and, apart from it, searches at five a second per account. A client that
sends until it is refused loses the rest of the window: HubSpot names no ``Retry-After``, so a
429 is waited out for the window's length, and the portal's capacity goes unused meanwhile (a
soak at ten operations a second used 6 of its 10 requests a second, its workers asleep after
429s). Refusals also count against the app: HubSpot asks integrations to keep errors under 5 %
of their daily calls.

:class:`Pace` holds each request until the window has room, for every thread sharing the client,
on cosell's injected clock (a library limiter keeps its own clock, which tests could not move).
It learns the window from the answers' headers, and when an answer says fewer requests remain
than it counted (another process using the same app, a ``cosell sync`` beside ``cosell run``),
it counts the difference as spent.
"""

from __future__ import annotations

import threading
from collections import deque
from collections.abc import Mapping

from cosell.clock import Clock

BURST = 100
"""Requests per window until an answer says otherwise (the Free and Starter tiers' limit)."""
WINDOW = 10.0
"""The burst window in seconds, until an answer says otherwise."""
SEARCHES = 5
"""Searches a second (an account's limit; search answers carry no rate-limit headers)."""
MARGIN = 0.1
"""The share of the window left unused: requests of other integrations of the same app."""


class Pace:
    """At most ``limit`` requests in any ``window`` seconds, shared by every thread."""

    def __init__(self, clock: Clock, limit: int, window: float, margin: float = 0.0) -> None:
        if limit < 1 or window <= 0:
            raise ValueError(f"a pace needs a limit and a window, not {limit} in {window} s")
        self.clock = clock
        self.margin = margin
        self.limit, self.window = limit, window
        self.waited = 0.0
        """Seconds requests were held, in all."""
        self._sent: deque[float] = deque()
        self._lock = threading.Lock()

    @property
    def room(self) -> int:
        """Requests a window admits (the limit less the margin, at least one)."""
        return max(1, int(self.limit * (1 - self.margin)))

    def turn(self) -> None:
        """Return when a request may go (at once while the window has room)."""
        while True:
            with self._lock:
                now = self.clock.monotonic()
                self._forget(now)
                if len(self._sent) < self.room:
                    self._sent.append(now)
                    return
                wait = self.window - (now - self._sent[0])
                self.waited += wait
            self.clock.sleep(wait)

    def learn(self, headers: Mapping[str, str]) -> None:
        """The window as an answer's ``X-HubSpot-RateLimit-*`` headers state it."""
        limit = _number(headers.get("x-hubspot-ratelimit-max"))
        window = _number(headers.get("x-hubspot-ratelimit-interval-milliseconds"))
        remaining = _number(headers.get("x-hubspot-ratelimit-remaining"))
        with self._lock:
            if limit is not None and limit >= 1:
                self.limit = int(limit)
            if window is not None and window > 0:
                self.window = window / 1000
            if remaining is None:
                return
            now = self.clock.monotonic()
            self._forget(now)
            spent_elsewhere = self.limit - int(remaining) - len(self._sent)
            self._sent.extend([now] * max(0, min(spent_elsewhere, self.limit)))

    def _forget(self, now: float) -> None:
        while self._sent and now - self._sent[0] >= self.window:
            self._sent.popleft()


def _number(text: str | None) -> float | None:
    try:
        return float(text) if text is not None else None
    except ValueError:
        return None
