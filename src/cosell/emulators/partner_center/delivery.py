"""Signed webhook deliveries on a background thread, with retries and an inspectable record.

Each event becomes a :class:`Delivery`. A worker thread sends it over the injected
``httpx.Client``; any 2xx is success, anything else (or a transport error) is retried with
exponential backoff until ``attempts`` are spent, then the delivery is dropped (Partner Center's
"offline queue"). Every attempt is recorded. Fault rules can drop, duplicate or reorder events.
"""

from __future__ import annotations

import heapq
import itertools
import threading
import time
from dataclasses import dataclass, field
from typing import Any, Literal

import httpx

from cosell.clock import Clock
from cosell.emulators.faults import FaultBook
from cosell.emulators.partner_center.responses import format_time, new_id

DeliveryState = Literal["pending", "delivered", "dropped"]
WEBHOOK_FAULTS = frozenset({"webhook_drop", "webhook_duplicate", "webhook_reorder"})


@dataclass
class Attempt:
    """One try at delivering: when, and the HTTP status or transport error it met."""

    at: str
    status_code: int | None
    error: str | None = None
    reason: str = ""


@dataclass
class Delivery:
    """One event on its way to the registered URL."""

    event: str
    url: str
    body: bytes
    headers: dict[str, str]
    resource_id: str
    id: str = field(default_factory=new_id)
    state: DeliveryState = "pending"
    attempts: list[Attempt] = field(default_factory=list)
    note: str = ""

    def as_dict(self) -> dict[str, Any]:
        return {
            "id": self.id,
            "event": self.event,
            "referral_id": self.resource_id,
            "url": self.url,
            "state": self.state,
            "note": self.note,
            "attempts": [vars(a) for a in self.attempts],
        }


class Dispatcher:
    """Queues deliveries and sends them from one daemon thread, never holding the state lock."""

    def __init__(
        self,
        client: httpx.Client,
        clock: Clock,
        faults: FaultBook,
        *,
        max_attempts: int,
        backoff: float,
    ) -> None:
        self.client, self.clock, self.faults = client, clock, faults
        self.max_attempts, self.backoff = max_attempts, backoff
        self._deliveries: list[Delivery] = []
        self._due: list[tuple[float, int, Delivery]] = []
        self._held: Delivery | None = None
        self._seq = itertools.count()
        self._cond = threading.Condition()
        self._thread: threading.Thread | None = None
        self._closed = False

    def emit(self, delivery: Delivery) -> None:
        """Record a delivery and queue it, applying any webhook fault rule for its event."""
        rule = self.faults.take("POST", delivery.event, WEBHOOK_FAULTS)
        with self._cond:
            self._deliveries.append(delivery)
            if rule is not None and rule.kind == "webhook_drop":
                delivery.state, delivery.note = "dropped", "dropped by fault rule"
                return
            held, self._held = self._held, None
            if rule is not None and rule.kind == "webhook_reorder":
                delivery.note, self._held = "held back by reorder fault rule", delivery
            else:
                self._schedule(delivery, 0.0)
            if rule is not None and rule.kind == "webhook_duplicate":
                twin = Delivery(
                    delivery.event,
                    delivery.url,
                    delivery.body,
                    delivery.headers,
                    delivery.resource_id,
                    note="duplicate by fault rule",
                )
                self._deliveries.append(twin)
                self._schedule(twin, 0.0)
            if held is not None:
                self._schedule(held, 0.0)
            self._start()

    def snapshot(self) -> list[dict[str, Any]]:
        with self._cond:
            return [d.as_dict() for d in self._deliveries]

    def find(self, delivery_id: str) -> dict[str, Any] | None:
        """A copy of one delivery's record (``as_dict``), or None."""
        with self._cond:
            found = next((d for d in self._deliveries if d.id == delivery_id), None)
            return found.as_dict() if found else None

    def reset(self) -> None:
        with self._cond:
            self._deliveries.clear()
            self._due.clear()
            self._held = None

    def close(self) -> None:
        with self._cond:
            self._closed = True
            self._cond.notify_all()
        if self._thread is not None:
            self._thread.join(timeout=5)

    def _schedule(self, delivery: Delivery, delay: float) -> None:
        heapq.heappush(self._due, (time.monotonic() + delay, next(self._seq), delivery))
        self._cond.notify_all()

    def _start(self) -> None:
        if self._thread is None and not self._closed:
            self._thread = threading.Thread(
                target=self._run, name="pc-emulator-webhooks", daemon=True
            )
            self._thread.start()

    def _run(self) -> None:
        while True:
            delivery = self._next_due()
            if delivery is None:
                return
            attempt = self._send(delivery)
            with self._cond:
                self._record(delivery, attempt)

    def _next_due(self) -> Delivery | None:
        with self._cond:
            while not self._closed:
                if self._due and self._due[0][0] <= time.monotonic():
                    return heapq.heappop(self._due)[2]
                timeout = self._due[0][0] - time.monotonic() if self._due else None
                self._cond.wait(timeout)
            return None

    def _send(self, delivery: Delivery) -> Attempt:
        at = format_time(self.clock.now())
        try:
            response = self.client.post(
                delivery.url, content=delivery.body, headers=delivery.headers
            )
        except httpx.HTTPError as exc:
            return Attempt(at, None, f"{type(exc).__name__}: {exc}")
        except Exception as exc:  # a receiver bug must not kill the dispatcher thread
            return Attempt(at, None, f"{type(exc).__name__}: {exc}")
        return Attempt(at, response.status_code, None, response.reason_phrase)

    def _record(self, delivery: Delivery, attempt: Attempt) -> None:
        delivery.attempts.append(attempt)
        code = attempt.status_code
        if code is not None and 200 <= code < 300:
            delivery.state = "delivered"
        elif len(delivery.attempts) >= self.max_attempts:
            delivery.state, delivery.note = "dropped", "attempts exhausted (offline queue)"
        else:
            self._schedule(delivery, self.backoff * 2 ** (len(delivery.attempts) - 1))
