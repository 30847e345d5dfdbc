"""The ``/_emulator`` control surface (no auth): faults, clock, calls, reset, acting as a
HubSpot user, webhook target and deliveries, restoring archived records, search lag."""

from __future__ import annotations

from datetime import timedelta
from typing import TYPE_CHECKING, Any

from starlette.requests import Request
from starlette.responses import JSONResponse, Response
from starlette.routing import Route

from cosell.emulators.faults import FaultSpecError
from cosell.emulators.hubspot.records import Source
from cosell.emulators.hubspot.types import object_type
from cosell.emulators.hubspot.webhooks import flush
from cosell.emulators.hubspot.wire import HubSpotError, format_time

if TYPE_CHECKING:
    from cosell.emulators.hubspot.emulator import HubSpotEmulator

PREFIX = "/_emulator"


def _emulator(request: Request) -> HubSpotEmulator:
    emulator: HubSpotEmulator = request.app.state.emulator
    return emulator


async def _json(request: Request) -> Any:
    raw = await request.body()
    return {} if not raw else await request.json()


def _bad(message: str) -> Response:
    return JSONResponse({"error": message}, status_code=400)


async def faults(request: Request) -> Response:
    book = _emulator(request).faults
    if request.method == "POST":
        try:
            rule = book.add(await _json(request))
        except FaultSpecError as error:
            return _bad(str(error))
        return JSONResponse(rule.as_dict(), status_code=201)
    if request.method == "DELETE":
        return JSONResponse({"cleared": book.clear(request.query_params.get("kind"))})
    return JSONResponse({"faults": book.rules()})


async def clock(request: Request) -> Response:
    emulator = _emulator(request)
    if request.method == "POST":
        seconds = (await _json(request)).get("advance_seconds")
        advance = getattr(emulator.clock, "advance", None)
        if advance is None:
            return _bad("this clock cannot be advanced")
        if not isinstance(seconds, int | float) or isinstance(seconds, bool) or seconds < 0:
            return _bad("advance_seconds must be a non-negative number")
        advance(float(seconds))
    return JSONResponse({"now": format_time(emulator.clock.now())})


async def calls(request: Request) -> Response:
    log = _emulator(request).calls
    if request.method == "DELETE":
        log.reset()
    return JSONResponse(log.snapshot())


async def reset(request: Request) -> Response:
    _emulator(request).reset()
    return JSONResponse({"reset": True})


async def user_token(request: Request) -> Response:
    """A bearer token whose calls act as HubSpot user ``user_id`` editing in the UI."""
    body = await _json(request)
    user_id = body.get("user_id") if isinstance(body, dict) else None
    if not isinstance(user_id, int) or isinstance(user_id, bool) or user_id <= 0:
        return _bad("user_id: a positive integer is required")
    emulator = _emulator(request)
    with emulator.lock:
        token = emulator.tokens.user_token(user_id)
    return JSONResponse({"user_id": user_id, "token": token}, status_code=201)


async def webhook_target(request: Request) -> Response:
    """Point deliveries at a URL and subscribe in one step:
    ``{"target_url": ..., "subscriptions": [{"eventType", "propertyName"?}]}``."""
    emulator = _emulator(request)
    body = await _json(request)
    if not isinstance(body, dict) or not str(body.get("target_url", "")).startswith("http"):
        return _bad("target_url: an http(s) URL is required")
    with emulator.lock:
        book, stamp = emulator.webhooks, format_time(emulator.clock.now())
        book.target_url = body["target_url"]
        try:
            made = [book.subscribe(s, stamp) for s in body.get("subscriptions") or []]
        except HubSpotError as error:
            return _bad(error.message)
    return JSONResponse({"target_url": book.target_url, "subscriptions": made})


async def deliveries(request: Request) -> Response:
    rows = _emulator(request).dispatcher.snapshot()
    for row in rows:
        row["object_ids"] = row.pop("referral_id", "")
    return JSONResponse({"deliveries": rows})


async def restore(request: Request) -> Response:
    """Bring an archived record back from the recycle bin (a UI action; emits ``restore``)."""
    emulator = _emulator(request)
    try:
        kind = object_type(request.path_params["object_type"])
        with emulator.lock:
            record = emulator.store.get(kind, request.path_params["object_id"], archived=True)
            emulator.store.restore(record, Source("CRM_UI", "userId:1", 1, None))
            flush(emulator)
    except HubSpotError as error:
        return error.response()
    return JSONResponse(record.written())


async def search_lag(request: Request) -> Response:
    emulator = _emulator(request)
    if request.method == "PUT":
        seconds = (await _json(request)).get("seconds")
        if not isinstance(seconds, int | float) or isinstance(seconds, bool) or seconds < 0:
            return _bad("seconds must be a non-negative number")
        with emulator.lock:
            emulator.search_lag = float(seconds)
            emulator.store.search_lag = timedelta(seconds=float(seconds))
    return JSONResponse({"seconds": emulator.search_lag})


def routes() -> list[Route]:
    return [
        Route(f"{PREFIX}/faults", faults, methods=["GET", "POST", "DELETE"]),
        Route(f"{PREFIX}/clock", clock, methods=["GET", "POST"]),
        Route(f"{PREFIX}/calls", calls, methods=["GET", "DELETE"]),
        Route(f"{PREFIX}/reset", reset, methods=["POST"]),
        Route(f"{PREFIX}/users", user_token, methods=["POST"]),
        Route(f"{PREFIX}/webhooks", webhook_target, methods=["PUT"]),
        Route(f"{PREFIX}/deliveries", deliveries, methods=["GET"]),
        Route(f"{PREFIX}/objects/{{object_type}}/{{object_id}}/restore", restore, methods=["POST"]),
        Route(f"{PREFIX}/search-lag", search_lag, methods=["GET", "PUT"]),
    ]
