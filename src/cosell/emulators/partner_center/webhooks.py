"""Routes of the webhook registration API (``/webhooks/v1/registration…``)."""

from __future__ import annotations

from http import HTTPStatus
from typing import TYPE_CHECKING, Any

from starlette.requests import Request
from starlette.responses import Response
from starlette.routing import Route

from cosell.emulators.partner_center.referrals import read_json
from cosell.emulators.partner_center.responses import (
    ApiError,
    ThrottledError,
    format_time,
    invalid,
    json_response,
    new_id,
)

if TYPE_CHECKING:
    from cosell.emulators.partner_center.emulator import Emulator

REFERRAL_EVENTS = (
    "referral-created",
    "referral-updated",
    "related-referral-created",
    "related-referral-updated",
)
SUPPORTED_EVENTS = (
    *REFERRAL_EVENTS,
    "test-created",
    "subscription-updated",
    "usagerecords-thresholdExceeded",
    "invoice-ready",
)
VALIDATION_LIMIT = 2
VALIDATION_WINDOW = 60.0
BASE = "/webhooks/v1/registration"


def _emulator(request: Request) -> Emulator:
    emulator: Emulator = request.app.state.emulator
    with emulator.lock:
        emulator.tokens.check_bearer(request.headers.get("authorization"), user_required=False)
    return emulator


async def get_registration(request: Request) -> Response:
    emulator = _emulator(request)
    with emulator.lock:
        registration = _registered(emulator)
        return json_response({k: registration[k] for k in ("WebhookUrl", "WebhookEvents")})


async def create_registration(request: Request) -> Response:
    emulator = _emulator(request)
    fields = _parse(await read_json(request))
    with emulator.lock:
        if emulator.data.registration is not None:
            raise ApiError(409, "conflict", "Registration already exists, use PUT to update it.")
        return _store(emulator, new_id(), fields)


async def update_registration(request: Request) -> Response:
    emulator = _emulator(request)
    fields = _parse(await read_json(request))
    with emulator.lock:
        return _store(emulator, _registered(emulator)["SubscriberId"], fields)


async def list_events(request: Request) -> Response:
    _emulator(request)
    return json_response(list(SUPPORTED_EVENTS))


async def post_validation_event(request: Request) -> Response:
    emulator = _emulator(request)
    with emulator.lock:
        registration = _registered(emulator)
        if "test-created" not in registration["WebhookEvents"]:
            raise invalid("Register for the test-created event first.", "WebhookEvents")
        _rate_limit(emulator)
        correlation_id = new_id()
        uri = f"{emulator.config.base_url}{BASE}/validationEvents/{correlation_id}"
        delivery = emulator.notify("test-created", correlation_id, uri, "test")
        emulator.data.validation_events[correlation_id] = {
            "correlationId": correlation_id,
            "partnerId": emulator.organization_id,
            "callbackUrl": registration["WebhookUrl"],
            "deliveryId": delivery.id if delivery else None,
        }
        emulator.save()
    return json_response({"correlationId": correlation_id})


async def get_validation_event(request: Request) -> Response:
    emulator = _emulator(request)
    with emulator.lock:
        event = emulator.data.validation_events.get(request.path_params["correlationId"])
    if event is None:
        raise ApiError(404, "itemNotFound", "No validation event has this correlation id.")
    delivery = emulator.dispatcher.find(event["deliveryId"] or "")
    attempts = delivery["attempts"] if delivery else []
    done = delivery is None or delivery["state"] != "pending"
    body = {k: event[k] for k in ("correlationId", "partnerId", "callbackUrl")}
    body["status"] = "completed" if done else "pending"
    body["results"] = [
        {
            "responseCode": _code_name(a["status_code"]),
            "responseMessage": a["error"] or "",
            "systemError": a["status_code"] is None,
            "dateTimeUtc": a["at"],
        }
        for a in attempts
    ]
    return json_response(body)


def _registered(emulator: Emulator) -> dict[str, Any]:
    if emulator.data.registration is None:
        raise ApiError(404, "notFound", "No webhook registration exists for this partner.")
    return emulator.data.registration


def _parse(body: Any) -> dict[str, Any]:
    if not isinstance(body, dict):
        raise invalid("The body must be a registration object.", "body")
    fields = {k.lower(): v for k, v in body.items()}
    url = fields.get("webhookurl")
    if not isinstance(url, str) or not url.startswith(("http://", "https://")):
        raise invalid("WebhookUrl must be an absolute http(s) URL.", "WebhookUrl")
    events = fields.get("webhookevents")
    if not isinstance(events, list) or not events or not all(isinstance(e, str) for e in events):
        raise invalid("WebhookEvents must be a non-empty list of event names.", "WebhookEvents")
    unknown = [e for e in events if e not in SUPPORTED_EVENTS]
    if unknown:
        raise invalid(f"Unsupported webhook events: {unknown}.", "WebhookEvents")
    flag = fields.get("signaturetokentomssignatureheader", False)
    if not isinstance(flag, bool):
        raise invalid(
            "SignatureTokenToMsSignatureHeader must be a boolean.",
            "SignatureTokenToMsSignatureHeader",
        )
    return {"WebhookUrl": url, "WebhookEvents": events, "SignatureTokenToMsSignatureHeader": flag}


def _store(emulator: Emulator, subscriber_id: str, fields: dict[str, Any]) -> Response:
    registration = {"SubscriberId": subscriber_id, **fields}
    registration["LastModifiedTimestamp"] = format_time(emulator.clock.now())
    emulator.data.registration = registration
    emulator.save()
    keys = ("SubscriberId", "WebhookUrl", "WebhookEvents")
    return json_response({k: registration[k] for k in keys})


def _rate_limit(emulator: Emulator) -> None:
    now, posts = emulator.clock.now().timestamp(), emulator.validation_posts
    while posts and posts[0] <= now - VALIDATION_WINDOW:
        posts.popleft()
    if len(posts) >= VALIDATION_LIMIT:
        wait = max(1, int(posts[0] + VALIDATION_WINDOW - now + 0.999))
        raise ThrottledError(wait)
    posts.append(now)


def _code_name(status: int | None) -> str:
    if status is None:
        return ""
    try:
        return HTTPStatus(status).phrase.replace(" ", "").replace("-", "")
    except ValueError:
        return str(status)


routes = [
    Route(BASE, get_registration, methods=["GET"]),
    Route(BASE, create_registration, methods=["POST"]),
    Route(BASE, update_registration, methods=["PUT"]),
    Route(BASE + "/events", list_events, methods=["GET"]),
    Route(BASE + "/validationEvents", post_validation_event, methods=["POST"]),
    Route(BASE + "/validationEvents/{correlationId}", get_validation_event, methods=["GET"]),
]
