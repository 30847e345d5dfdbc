"""The ``/_emulator`` control surface (no auth): Microsoft's side, clock, faults, inspection."""

from __future__ import annotations

from functools import partial
from typing import TYPE_CHECKING, Any

from starlette.requests import Request
from starlette.responses import Response
from starlette.routing import Route

from cosell.emulators.faults import FaultSpecError
from cosell.emulators.partner_center.referrals import read_json, referral_response
from cosell.emulators.partner_center.registrations import review
from cosell.emulators.partner_center.responses import ApiError, invalid, json_response

if TYPE_CHECKING:
    from cosell.emulators.partner_center.emulator import Emulator


def _emulator(request: Request) -> Emulator:
    emulator: Emulator = request.app.state.emulator
    return emulator


async def _object(request: Request) -> dict[str, Any]:
    body = await read_json(request)
    if body is None:
        return {}
    if not isinstance(body, dict):
        raise invalid("The body must be a JSON object.", "body")
    return body


async def share_referral(request: Request) -> Response:
    emulator, body = _emulator(request), await _object(request)
    with emulator.lock:
        return referral_response(emulator.referrals.share_incoming(body), 201)


async def update_referral(request: Request) -> Response:
    emulator, body = _emulator(request), await _object(request)
    with emulator.lock:
        emulator.referrals.expire_due()
        referral = emulator.referrals.microsoft_update(
            request.path_params["id"], body, request.headers.get("if-match")
        )
        return referral_response(referral)


async def create_related(request: Request) -> Response:
    emulator, body = _emulator(request), await _object(request)
    with emulator.lock:
        related = emulator.referrals.create_related(request.path_params["id"], body)
        return referral_response(related, 201)


async def clock(request: Request) -> Response:
    emulator = _emulator(request)
    if request.method == "POST":
        seconds = (await _object(request)).get("advance_seconds")
        if not isinstance(seconds, int | float) or isinstance(seconds, bool) or seconds < 0:
            raise invalid("advance_seconds must be a non-negative number.", "advance_seconds")
        try:
            emulator.advance(float(seconds))
        except TypeError as exc:
            raise invalid(str(exc), "advance_seconds") from None
    return json_response({"now": emulator.now_text()})


async def faults(request: Request) -> Response:
    book = _emulator(request).faults
    if request.method == "POST":
        try:
            rule = book.add(await _object(request))
        except FaultSpecError as exc:
            raise invalid(str(exc), "body") from None
        return json_response(rule.as_dict(), 201)
    if request.method == "DELETE":
        return json_response({"removed": book.clear(request.query_params.get("kind"))})
    return json_response({"faults": book.rules()})


async def calls(request: Request) -> Response:
    log = _emulator(request).calls
    if request.method == "DELETE":
        log.reset()
    return json_response(log.snapshot())


async def created(request: Request) -> Response:
    """When the referral was created, on the host's monotonic clock (for benchmarks)."""
    referral_id = request.path_params["id"]
    moment = _emulator(request).referrals.created.of(referral_id)
    if moment is None:
        return json_response({"error": f"no referral {referral_id} was created"}, 404)
    return json_response({"id": referral_id, "monotonic": moment})


async def deliveries(request: Request) -> Response:
    return json_response({"deliveries": _emulator(request).dispatcher.snapshot()})


async def reset(request: Request) -> Response:
    _emulator(request).reset()
    return Response(status_code=204)


async def device_codes(request: Request) -> Response:
    emulator = _emulator(request)
    now = emulator.clock.now().timestamp()
    with emulator.lock:
        pending = [
            {"user_code": c.user_code, "client_id": c.client_id, "approved": c.approved}
            for c in emulator.data.device_codes.values()
            if c.expires_at > now
        ]
    return json_response({"device_codes": pending})


async def approve_device_code(request: Request) -> Response:
    emulator = _emulator(request)
    with emulator.lock:
        approved = emulator.tokens.approve(request.path_params["user_code"])
        emulator.save()
    if not approved:
        raise ApiError(404, "itemNotFound", "No pending device code has this user code.")
    return json_response({"approved": True})


async def revoke_tokens(request: Request) -> Response:
    """Every access token stops working at once (``{"refresh": true}``: refresh tokens too), as
    when an admin revokes the app's sessions; clients must sign in or refresh again."""
    emulator, body = _emulator(request), await _object(request)
    refresh = body.get("refresh", False)
    if not isinstance(refresh, bool):
        raise invalid("refresh must be true or false.", "refresh")
    kinds = {"access", "refresh"} if refresh else {"access"}
    with emulator.lock:
        gone = [t for t, grant in emulator.data.tokens.items() if grant.kind in kinds]
        for token in gone:
            del emulator.data.tokens[token]
        emulator.save()
    return json_response({"revoked": len(gone)})


async def certificate(request: Request) -> Response:
    der = _emulator(request).signer.certificate_der()
    return Response(der, media_type="application/pkix-cert")


async def ca_certificate(request: Request) -> Response:
    pem = _emulator(request).signer.ca_pem()
    return Response(pem, media_type="application/x-pem-file")


async def review_registration(request: Request) -> Response:
    """``POST /_emulator/referrals/{id}/registrations/0/status``: Microsoft reviews the deal."""
    emulator: Emulator = request.app.state.emulator
    body = await read_json(request)
    if not isinstance(body, dict):
        raise invalid("The body must be a JSON object.", "body")
    change = partial(review, status=body.get("status"), reason=body.get("statusReason"))
    with emulator.lock:
        referral = emulator.referrals.change_registration(request.path_params["id"], change, None)
        return referral_response(referral)


routes = [
    Route("/_emulator/referrals", share_referral, methods=["POST"]),
    Route("/_emulator/referrals/{id}", update_referral, methods=["PATCH"]),
    Route("/_emulator/referrals/{id}/related", create_related, methods=["POST"]),
    Route(
        "/_emulator/referrals/{id}/registrations/0/status", review_registration, methods=["POST"]
    ),
    Route("/_emulator/clock", clock, methods=["GET", "POST"]),
    Route("/_emulator/faults", faults, methods=["GET", "POST", "DELETE"]),
    Route("/_emulator/calls", calls, methods=["GET", "DELETE"]),
    Route("/_emulator/created/{id}", created, methods=["GET"]),
    Route("/_emulator/deliveries", deliveries, methods=["GET"]),
    Route("/_emulator/reset", reset, methods=["POST"]),
    Route("/_emulator/tokens/revoke", revoke_tokens, methods=["POST"]),
    Route("/_emulator/device-codes", device_codes, methods=["GET"]),
    Route("/_emulator/device-codes/{user_code}/approve", approve_device_code, methods=["POST"]),
    Route("/_emulator/certificate.cer", certificate, methods=["GET"]),
    Route("/_emulator/ca.pem", ca_certificate, methods=["GET"]),
]
