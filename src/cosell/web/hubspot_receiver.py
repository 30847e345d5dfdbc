"""``POST /webhooks/hubspot``: verify a HubSpot delivery, mark its deals dirty, answer at once.

A delivery is a JSON array of events signed with ``X-HubSpot-Signature-v3`` (see
:mod:`cosell.webhooks.hubspot`). Each ``deal.*`` event enqueues ``opportunity:<objectId>``
once per delivery. Events our own app caused (``changeSource`` ``INTEGRATION`` with our app id
as ``sourceId``) are our write-backs coming back and are skipped: the engine already holds that
version. Other object types are acknowledged and ignored (the poll and the deal's own events
cover them). A delivery that fails verification is answered 401 and never enqueued; HubSpot
retries any non-2xx, so a malformed body is answered 400 once and logged.
"""

from __future__ import annotations

import json
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from datetime import datetime
from typing import TYPE_CHECKING, Any

import structlog
from starlette.requests import Request
from starlette.responses import JSONResponse, Response

from cosell.errors import WebhookRejected
from cosell.webhooks.hubspot import verify_hubspot_v3

if TYPE_CHECKING:
    from cosell.queue.protocol import WorkQueue
    from cosell.store.records import TenantId

log = structlog.get_logger(__name__)

PATH = "/webhooks/hubspot"
MAX_BODY_BYTES = 1_000_000


@dataclass(frozen=True)
class HubSpotDelivery:
    """What the receiver did with one delivery."""

    status: int
    keys: tuple[str, ...] = ()
    skipped_own: int = 0


class HubSpotWebhookReceiver:
    """Verifies deliveries against the app's client secret and enqueues the deals they name."""

    def __init__(
        self,
        *,
        client_secret: str,
        target_url: str | None,
        app_id: int | None,
        queue: WorkQueue,
        tenant: TenantId,
        now: Callable[[], datetime],
    ) -> None:
        self._secret = client_secret
        self.target_url = target_url
        self.app_id = "" if app_id is None else str(app_id)
        self._queue = queue
        self._tenant = tenant
        self._now = now

    def handle(
        self, headers: Mapping[str, str], body: bytes, arrived_at: str | None = None
    ) -> HubSpotDelivery:
        """``arrived_at``: the URL the delivery was posted to, signed when no target is set."""
        if len(body) > MAX_BODY_BYTES:
            return HubSpotDelivery(413)
        try:
            verify_hubspot_v3(
                self._secret,
                method="POST",
                uri=self.target_url or arrived_at or "",
                body=body,
                headers=headers,
                now=self._now(),
            )
        except WebhookRejected as exc:
            log.warning("hubspot webhook rejected", reason=exc.reason)
            return HubSpotDelivery(401)
        events = _events(body)
        if events is None:
            log.warning("hubspot webhook body is not a JSON array of events")
            return HubSpotDelivery(400)
        keys: dict[str, None] = {}
        own = 0
        for event in events:
            if not str(event.get("subscriptionType", "")).startswith("deal."):
                continue
            if self._is_own(event):
                own += 1
                continue
            keys[f"opportunity:{event.get('objectId')}"] = None
        for key in keys:
            self._queue.enqueue(self._tenant, key)
        return HubSpotDelivery(200, tuple(keys), own)

    def _is_own(self, event: Mapping[str, Any]) -> bool:
        source = str(event.get("sourceId", ""))
        own = event.get("changeSource") == "INTEGRATION" and source == self.app_id
        return bool(self.app_id) and own

    async def endpoint(self, request: Request) -> Response:
        body = await request.body()
        done = self.handle(request.headers, body, str(request.url))
        return JSONResponse({"enqueued": list(done.keys)}, status_code=done.status)


def _events(body: bytes) -> list[dict[str, Any]] | None:
    try:
        parsed = json.loads(body)
    except ValueError:
        return None
    if not isinstance(parsed, list) or not all(isinstance(e, dict) for e in parsed):
        return None
    return parsed
