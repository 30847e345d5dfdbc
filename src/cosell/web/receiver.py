"""``POST /webhooks/partner-center``: verify a callback, mark its referral dirty, answer at once.

The receiver never syncs inside the request: a verified referral event only enqueues
``referral:<id>`` and is answered 202, so Partner Center's delivery never waits on either API.

Routing by event:

* ``referral-created`` / ``referral-updated``: enqueue ``referral:<id>``, unless the event names
  the very change cosell's own write made (``own_write``: its ``ResourceChangeUtcDate`` is the
  ``updatedDateTime`` stored with the link, see :mod:`cosell.signals.synced`); that one is
  answered 200 and costs no read.
* ``related-referral-created`` / ``-updated``: the id names *another* referral of the same
  engagement (for example Microsoft's side of a co-sell). When the id is one we have linked, we
  enqueue it; otherwise we cannot tell which of our referrals it relates to without a remote
  call, so we wake the Partner Center sweeper (a *sweep hint*): our referral's
  ``updatedDateTime`` moves when Microsoft's side changes it, and the sweep finds it.
* ``test-created``: logged and answered 200; nothing is enqueued.
* anything else: logged and answered 202; nothing is enqueued.

A callback that fails verification is answered 401 (400 when the request is malformed, 413
when the body is larger than any callback) with the reason logged, and is never enqueued.
"""

from __future__ import annotations

import asyncio
import re
import threading
from collections import OrderedDict
from collections.abc import Callable, Mapping
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from typing import TYPE_CHECKING, Protocol

import structlog
from starlette.requests import Request
from starlette.responses import JSONResponse, Response

from cosell.clients.referral import change_ticks
from cosell.clock import Clock
from cosell.errors import WebhookRejected
from cosell.operations.service_status import ServiceStatus
from cosell.web.metrics import ServiceMetrics
from cosell.webhooks.events import REFERRAL_EVENTS, RELATED_EVENTS, TEST_EVENT
from cosell.webhooks.signature import MAX_BODY_BYTES

if TYPE_CHECKING:  # the store and queue load only where they run
    from cosell.queue.protocol import WorkQueue
    from cosell.store.records import TenantId

log = structlog.get_logger(__name__)

# Verifications run on a small pool of their own (a certificate fetch may wait seconds on a slow
# host): forged callbacks naming slow hosts queue there and never hold the threads that serve
# /healthz, the console or the API. Past MAX_PENDING waiting callbacks the receiver answers 503.
VERIFY_WORKERS = 4
MAX_PENDING = 256
# A verified delivery whose change is older than this is a replay (answered 401, not enqueued);
# a repeat of one already taken within the window is answered 200 and not enqueued again.
REPLAY_WINDOW = timedelta(hours=24)
MAX_REMEMBERED = 10_000


class Callback(Protocol):
    """A verified callback: the event and the referral it names."""

    @property
    def event_name(self) -> str: ...

    @property
    def referral_id(self) -> str | None: ...

    @property
    def resource_change_utc_date(self) -> str: ...


Verifier = Callable[[Mapping[str, str], bytes], Callback]


@dataclass(frozen=True)
class Delivery:
    """What the receiver did with one callback: the HTTP status and the key enqueued, if any."""

    status: int
    action: str
    key: str | None = None


class WebhookReceiver:
    """Verifies and routes Partner Center callbacks; see the module docstring for the routing."""

    def __init__(
        self,
        *,
        verify: Verifier,
        queue: WorkQueue,
        tenant: TenantId,
        is_linked: Callable[[str], bool],
        sweep_hint: Callable[[], None],
        metrics: ServiceMetrics,
        status: ServiceStatus,
        own_write: Callable[[str, str], bool] | None = None,
        verify_workers: int = VERIFY_WORKERS,
        max_pending: int = MAX_PENDING,
        clock: Clock | None = None,
        replay_window: timedelta = REPLAY_WINDOW,
    ) -> None:
        self._clock = clock
        self._replay_window = replay_window
        self._seen: OrderedDict[tuple[str, str | None, str], datetime] = OrderedDict()
        self._seen_lock = threading.Lock()
        self._pool = ThreadPoolExecutor(verify_workers, thread_name_prefix="cosell-webhook-verify")
        self._max_pending = max_pending
        self._pending = 0
        self._pending_lock = threading.Lock()
        self._verify = verify
        self._queue = queue
        self._tenant = tenant
        self._is_linked = is_linked
        self._own_write = own_write
        self._sweep_hint = sweep_hint
        self._metrics = metrics
        self._status = status

    async def endpoint(self, request: Request) -> Response:
        body = await _read_capped(request, MAX_BODY_BYTES)
        if body is None:
            self._metrics.webhooks_rejected.labels("413").inc()
            log.warning("webhook.rejected", reason="body is too large", status=413)
            return JSONResponse({"status": "rejected"}, 413)
        with self._pending_lock:
            busy = self._pending >= self._max_pending
            if not busy:
                self._pending += 1
        if busy:
            self._metrics.webhooks_rejected.labels("503").inc()
            log.warning("webhook.busy", reason="too many callbacks waiting for verification")
            return JSONResponse({"status": "busy"}, 503, headers={"Retry-After": "5"})
        try:
            loop = asyncio.get_running_loop()
            headers = dict(request.headers)
            delivery = await loop.run_in_executor(self._pool, self.deliver, headers, body)
        finally:
            with self._pending_lock:
                self._pending -= 1
        return JSONResponse({"status": delivery.action}, delivery.status)

    def close(self) -> None:
        """Stop the verification pool (callbacks already running finish)."""
        self._pool.shutdown(wait=False, cancel_futures=True)

    def deliver(self, headers: Mapping[str, str], body: bytes) -> Delivery:
        """Verify and route one callback (runs off the event loop: it may fetch a certificate)."""
        try:
            callback = self._verify(headers, body)
        except WebhookRejected as exc:
            return self._rejected(exc)
        if self._clock is not None:
            try:
                if self._repeat(callback, self._clock.now()):
                    log.info("webhook.repeat", webhook_event=callback.event_name)
                    return Delivery(200, "repeat ignored")
            except WebhookRejected as exc:
                return self._rejected(exc)
        self._metrics.webhooks_received.labels(callback.event_name).inc()
        self._status.saw_webhook(callback.event_name, callback.referral_id)
        return self._route(callback)

    def _repeat(self, callback: Callback, now: datetime) -> bool:
        """Whether this delivery was taken already; ``WebhookRejected`` when it is a replay
        from outside the window."""
        changed = _change_time(callback.resource_change_utc_date)
        if changed < now - self._replay_window:
            raise WebhookRejected("delivery is older than the replay window")
        key = (callback.event_name, callback.referral_id, callback.resource_change_utc_date)
        with self._seen_lock:
            for old, at in list(self._seen.items()):
                if at >= now - self._replay_window and len(self._seen) <= MAX_REMEMBERED:
                    break
                del self._seen[old]
            if key in self._seen:
                return True
            self._seen[key] = now
        return False

    def _rejected(self, exc: WebhookRejected) -> Delivery:
        status = 400 if _malformed(exc) else 401
        self._metrics.webhooks_rejected.labels(str(status)).inc()
        log.warning("webhook.rejected", reason=exc.reason, status=status)
        return Delivery(status, "rejected")

    def _route(self, callback: Callback) -> Delivery:
        event, referral_id = callback.event_name, callback.referral_id
        if event == TEST_EVENT:
            log.info("webhook.test_event")
            return Delivery(200, "test event received")
        if event not in REFERRAL_EVENTS | RELATED_EVENTS:
            log.info("webhook.ignored", webhook_event=event)
            return Delivery(202, "ignored")
        if not referral_id:
            log.warning("webhook.no_referral_id", webhook_event=event)
            return Delivery(400, "no referral id")
        if event in RELATED_EVENTS and not self._is_linked(referral_id):
            self._sweep_hint()
            log.info("webhook.sweep_hint", webhook_event=event, referral_id=referral_id)
            return Delivery(202, "sweep scheduled")
        if event in REFERRAL_EVENTS and self._is_own_write(callback):
            log.info("webhook.own_write", webhook_event=event, referral_id=referral_id)
            return Delivery(200, "own write")
        return self._enqueue(event, referral_id, callback.resource_change_utc_date)

    def _is_own_write(self, callback: Callback) -> bool:
        if self._own_write is None or callback.referral_id is None:
            return False
        return self._own_write(callback.referral_id, callback.resource_change_utc_date)

    def _enqueue(self, event: str, referral_id: str, change_time: str) -> Delivery:
        key = f"referral:{referral_id}"
        if event in REFERRAL_EVENTS:
            # About the referral alone. The change it names goes with it (when it is one: a
            # Partner Center time): an event that came before the commit of cosell's own write
            # (so not known for it above) is known for it when the key runs, after that commit,
            # without a read.
            named = change_time if change_ticks(change_time) is not None else None
            self._queue.enqueue(self._tenant, key, scope="partner_center", change_time=named)
        else:
            # A related referral's (Microsoft's side of the engagement) may move what the
            # pair reads beyond the referral: both sides.
            self._queue.enqueue(self._tenant, key, scope="both")
        self._metrics.enqueued.labels("webhook").inc()
        log.info("webhook.enqueued", webhook_event=event, key=key)
        return Delivery(202, "accepted", key)


async def _read_capped(request: Request, limit: int) -> bytes | None:
    """The raw body, or ``None`` as soon as it grows past ``limit`` (never buffered whole)."""
    chunks: list[bytes] = []
    size = 0
    async for chunk in request.stream():
        size += len(chunk)
        if size > limit:
            return None
        chunks.append(chunk)
    return b"".join(chunks)


_FRACTION = re.compile(r"(\.\d{6})\d+")


def _change_time(text: str) -> datetime:
    """``ResourceChangeUtcDate`` (seven fractional digits are cut to six) as an aware time."""
    try:
        moment = datetime.fromisoformat(_FRACTION.sub(r"\1", text.strip().replace("Z", "+00:00")))
    except ValueError:
        raise WebhookRejected("body ResourceChangeUtcDate is not a date") from None
    return moment if moment.tzinfo else moment.replace(tzinfo=UTC)  # the field is UTC


# Rejections of a request that is not a well-formed callback at all (answered 400, as in
# Microsoft's sample receiver); every other rejection means "not proven authentic" (401).
MALFORMED_REASONS = (
    "body ",
    "resourceuri",
    "certificate url header is missing",
    "signature algorithm",
)


def _malformed(exc: WebhookRejected) -> bool:
    flagged = getattr(exc, "malformed", None)
    if isinstance(flagged, bool):
        return flagged
    return exc.reason.lower().startswith(MALFORMED_REASONS)
