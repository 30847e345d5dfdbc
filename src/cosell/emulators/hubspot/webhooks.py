"""App webhooks: the settings (target URL) and subscriptions of the management API, and the
events a request's changes become, sent as signed JSON arrays of at most 100 events.

Management calls authenticate with the developer API key (``?hapikey=``), as for a public app.
Deliveries reuse the Partner Center emulator's dispatcher: retries with backoff on any non-2xx
or transport error, and the ``webhook_drop``/``webhook_duplicate``/``webhook_reorder`` faults.
"""

from __future__ import annotations

import hmac
import itertools
import json
from typing import TYPE_CHECKING, Any

from starlette.requests import Request
from starlette.responses import JSONResponse, Response
from starlette.routing import Route

from cosell.emulators.hubspot import signing
from cosell.emulators.hubspot.store import Change
from cosell.emulators.hubspot.wire import HubSpotError, epoch_ms, format_time, validation
from cosell.emulators.partner_center.delivery import Delivery

if TYPE_CHECKING:
    from cosell.emulators.hubspot.emulator import HubSpotEmulator

OBJECTS = ("deal", "company", "contact", "line_item")
EVENTS = ("creation", "deletion", "propertyChange", "associationChange", "merge", "restore")
EVENT_TYPES = frozenset(f"{o}.{e}" for o in OBJECTS for e in EVENTS)
MAX_SUBSCRIPTIONS = 1000


class WebhookBook:
    """The app's webhook settings, its subscriptions and the events waiting to be sent."""

    def __init__(self) -> None:
        self.target_url: str | None = None
        self.subscriptions: dict[int, dict[str, Any]] = {}
        self._ids = itertools.count(1)
        self._events = itertools.count(1)
        self.pending: list[dict[str, Any]] = []

    def subscribe(self, body: Any, stamp: str) -> dict[str, Any]:
        if not isinstance(body, dict) or body.get("eventType") not in EVENT_TYPES:
            raise validation(f"eventType must be one of {sorted(EVENT_TYPES)}.")
        if body["eventType"].endswith("propertyChange") and not body.get("propertyName"):
            raise validation("A propertyChange subscription needs a propertyName.")
        if body.get("propertyName") in ("hs_lastmodifieddate", "num_unique_conversion_events"):
            raise validation(f"Property {body['propertyName']} cannot be subscribed to.")
        if len(self.subscriptions) >= MAX_SUBSCRIPTIONS:
            raise validation(
                "Couldn't create another subscription. You've reached the maximum number "
                f"allowed per application ({MAX_SUBSCRIPTIONS})."
            )
        subscription = {
            "id": next(self._ids),
            "createdAt": stamp,
            "eventType": body["eventType"],
            "active": bool(body.get("active", True)),
        }
        if body.get("propertyName"):
            subscription["propertyName"] = str(body["propertyName"])
        self.subscriptions[subscription["id"]] = subscription
        return subscription

    def events_for(self, change: Change, portal_id: int, app_id: int) -> list[dict[str, Any]]:
        wanted = f"{change.kind.singular}.{change.event}"
        return [
            self._event(s, change, portal_id, app_id)
            for s in self.subscriptions.values()
            if s["active"]
            and s["eventType"] == wanted
            and s.get("propertyName") in (None, change.property_name)
        ]

    def _event(
        self, subscription: dict[str, Any], change: Change, portal_id: int, app_id: int
    ) -> dict[str, Any]:
        event: dict[str, Any] = {
            "eventId": next(self._events),
            "subscriptionId": subscription["id"],
            "portalId": portal_id,
            "appId": app_id,
            "occurredAt": epoch_ms(change.occurred_at),
            "subscriptionType": subscription["eventType"],
            "attemptNumber": 0,
            "objectId": int(change.object_id),
            "changeSource": change.source.change_source,
            "sourceId": change.source.source_id,
        }
        if change.event == "propertyChange":
            event["propertyName"] = change.property_name
            event["propertyValue"] = change.property_value
        if change.event in ("creation", "deletion"):
            event["changeFlag"] = "NEW" if change.event == "creation" else "DELETED"
        return event


def flush(emulator: HubSpotEmulator) -> None:
    """Send the events gathered by one request, at most ``webhook_batch_max`` per delivery."""
    book, config = emulator.webhooks, emulator.config
    events, book.pending = book.pending, []
    if not events or not book.target_url:
        return
    size = config.webhook_batch_max
    for start in range(0, len(events), size):
        chunk = events[start : start + size]
        body = json.dumps(chunk, separators=(",", ":")).encode()
        stamp = epoch_ms(emulator.clock.now())
        headers = signing.headers(config.client_secret, book.target_url, body, stamp)
        ids = ",".join(str(e["objectId"]) for e in chunk)
        kinds = ",".join(sorted({e["subscriptionType"] for e in chunk}))
        emulator.dispatcher.emit(Delivery(kinds, book.target_url, body, headers, ids))


# --- management API -------------------------------------------------------------------------
def _checked(request: Request) -> HubSpotEmulator:
    emulator: HubSpotEmulator = request.app.state.emulator
    key = request.query_params.get("hapikey", "")
    if not hmac.compare_digest(key, emulator.config.developer_api_key):
        raise HubSpotError(401, "INVALID_AUTHENTICATION", "The developer API key is not valid.")
    if request.path_params["app_id"] != str(emulator.config.app_id):
        raise HubSpotError(404, "OBJECT_NOT_FOUND", "No app with this id.")
    return emulator


async def _guarded(request: Request) -> Response:
    try:
        emulator = _checked(request)
        with emulator.lock:
            return await _manage(request, emulator)
    except HubSpotError as exc:
        return exc.response()


async def _manage(request: Request, emulator: HubSpotEmulator) -> Response:
    book, method = emulator.webhooks, request.method
    stamp = format_time(emulator.clock.now())
    sub_id = request.path_params.get("subscription_id")
    if request.url.path.endswith("/settings"):
        if method == "PUT":
            body = await request.json()
            if not isinstance(body, dict) or not str(body.get("targetUrl", "")).startswith("http"):
                raise validation("targetUrl must be an http(s) URL.")
            book.target_url = body["targetUrl"]
        elif method == "DELETE":
            book.target_url = None
            return Response(status_code=204)
        if book.target_url is None:
            raise HubSpotError(404, "OBJECT_NOT_FOUND", "No webhook settings for this app.")
        return JSONResponse(
            {
                "targetUrl": book.target_url,
                "throttling": {"maxConcurrentRequests": 10, "period": "SECONDLY"},
                "createdAt": stamp,
            }
        )
    if sub_id is None and method == "POST":
        return JSONResponse(book.subscribe(await request.json(), stamp), status_code=201)
    if sub_id is None:
        return JSONResponse({"results": list(book.subscriptions.values())})
    found = book.subscriptions.get(int(sub_id)) if sub_id.isdigit() else None
    if found is None:
        raise HubSpotError(404, "OBJECT_NOT_FOUND", f"No subscription with id {sub_id}.")
    if method == "DELETE":
        del book.subscriptions[found["id"]]
        return Response(status_code=204)
    if method == "PATCH":
        found["active"] = bool((await request.json()).get("active", found["active"]))
        found["updatedAt"] = stamp
    return JSONResponse(found)


routes = [
    Route("/webhooks/v3/{app_id}/settings", _guarded, methods=["GET", "PUT", "DELETE"]),
    Route("/webhooks/v3/{app_id}/subscriptions", _guarded, methods=["GET", "POST"]),
    Route(
        "/webhooks/v3/{app_id}/subscriptions/{subscription_id}",
        _guarded,
        methods=["GET", "PATCH", "DELETE"],
    ),
]
