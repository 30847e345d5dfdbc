"""App webhooks: the settings (target URL) and subscriptions of the management API, and the
events a request's changes become, sent as signed JSON arrays of at most 100 events.

Management calls authenticate with the developer API key (``?hapikey=``), as for a public app.
Deliveries reuse the Partner Center emulator's dispatcher: retries with backoff on any non-2xx
or transport error, and the ``webhook_drop``/``webhook_duplicate``/``webhook_reorder`` faults.
"""

from __future__ import annotations

import hmac
import json

from starlette.requests import Request
from starlette.responses import JSONResponse, Response
from starlette.routing import Route

from cosell.emulators.hubspot import signing
from cosell.emulators.hubspot.emulator import HubSpotEmulator
from cosell.emulators.hubspot.wire import HubSpotError, epoch_ms, format_time, validation
from cosell.emulators.partner_center.delivery import Delivery


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
