"""Events the engine publishes for whoever listens (a notifier, the metrics, a test).

A small in-process publish/subscribe: :func:`subscribe` a handler, :func:`publish` an event.
Handlers run on the publishing thread, after the store has recorded what the event says; a
handler that raises is logged and never breaks the reconcile that published. Hand-written
(twenty lines) rather than a signal library: the engine needs one typed event and no weak
references, senders or async dispatch.
"""

from __future__ import annotations

import logging
import threading
from collections.abc import Callable
from dataclasses import dataclass
from datetime import datetime

log = logging.getLogger("cosell.events")


@dataclass(frozen=True)
class PairParked:
    """A pair kept writing without converging and was parked: it costs no calls until a person
    resumes it (``cosell retry``, or Retry in the console)."""

    tenant: int
    referral_id: str | None
    opportunity_id: str | None
    reason: str
    at: datetime


Event = PairParked
Handler = Callable[[Event], None]

_handlers: list[Handler] = []
_lock = threading.Lock()


def subscribe(handler: Handler) -> Callable[[], None]:
    """Call ``handler`` with every event published from now on; returns the unsubscribe."""
    with _lock:
        _handlers.append(handler)

    def unsubscribe() -> None:
        with _lock:
            if handler in _handlers:
                _handlers.remove(handler)

    return unsubscribe


def publish(event: Event) -> None:
    """Hand ``event`` to every subscriber (a failing one is logged and skipped)."""
    with _lock:
        handlers = list(_handlers)
    for handler in handlers:
        try:
            handler(event)
        except Exception:
            log.exception("event handler failed: %s", type(event).__name__)
