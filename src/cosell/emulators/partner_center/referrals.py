"""Routes of the Referrals API (``/v1.0/engagements/referrals``): list, get, create, patch, put."""

from __future__ import annotations

import base64
import binascii
from typing import TYPE_CHECKING, Any
from urllib.parse import urlencode

from starlette.requests import Request
from starlette.responses import Response
from starlette.routing import Route

from cosell import json_codec
from cosell.emulators.partner_center.odata import FilterError, filter_fields, parse_filter
from cosell.emulators.partner_center.responses import invalid, json_response
from cosell.emulators.partner_center.selection import (
    Selection,
    SelectionError,
    check_expand,
    parse_select,
)

if TYPE_CHECKING:
    from cosell.emulators.partner_center.emulator import Emulator

PAGE_SIZE = 100
CARRIED = ("$filter", "$orderby", "$count", "$select", "$expand")
ORDER_FIELDS = ("createdDateTime", "updatedDateTime")
BASE = "/v1.0/engagements/referrals"


def _emulator(request: Request) -> Emulator:
    emulator: Emulator = request.app.state.emulator
    with emulator.lock:
        emulator.tokens.check_bearer(request.headers.get("authorization"), user_required=True)
    return emulator


async def read_json(request: Request) -> Any:
    raw = await request.body()
    try:
        return json_codec.loads(raw) if raw.strip() else None
    except ValueError:
        raise invalid("The request body is not valid JSON.", "body") from None


def referral_response(
    referral: dict[str, Any], status: int = 200, selection: Selection | None = None
) -> Response:
    body = selection.apply(referral) if selection else referral
    return json_response(body, status, {"ETag": referral["eTag"]})


async def list_referrals(request: Request) -> Response:
    emulator = _emulator(request)  # the token first: a caller without one learns nothing else
    params = request.query_params
    predicate = _filter(params.get("$filter"))
    order = _order(params.get("$orderby"))
    top = _integer(params, "$top", PAGE_SIZE, minimum=1)
    skip = _skiptoken(params.get("$skiptoken")) or _integer(params, "$skip", 0, minimum=0)
    page_size = min(top, PAGE_SIZE)
    selection = _selection(params)
    with emulator.lock:
        emulator.referrals.expire_due()
        text = params.get("$filter") or ""
        fields = filter_fields(text) if text else frozenset()
        found = emulator.referrals.select(predicate, order, text, fields)
        body: dict[str, Any] = {
            "@odata.context": _context(emulator, selection),
            "@odata.count": len(found),
            "value": [selection.apply(r) for r in found[skip : skip + page_size]],
        }
        if skip + page_size < len(found):
            body["@odata.nextLink"] = _next_link(emulator, params, skip + page_size, page_size)
        return json_response(body)


async def get_referral(request: Request) -> Response:
    emulator = _emulator(request)
    selection = _selection(request.query_params)
    with emulator.lock:
        emulator.referrals.expire_due()
        referral = emulator.referrals.get(request.path_params["id"])
        return referral_response(referral, selection=selection)


async def create_referral(request: Request) -> Response:
    emulator = _emulator(request)
    body = await read_json(request)
    if not isinstance(body, dict):
        raise invalid("The body must be a referral object.", "body")
    with emulator.lock:
        return referral_response(emulator.referrals.create(body), 201)


async def patch_referral(request: Request) -> Response:
    emulator = _emulator(request)
    ops = await read_json(request)
    with emulator.lock:
        emulator.referrals.expire_due()
        referral = emulator.referrals.patch(
            request.path_params["id"], ops, request.headers.get("if-match")
        )
        if "return=representation" in request.headers.get("prefer", "").lower():
            return referral_response(referral)
        return Response(status_code=204, headers={"ETag": referral["eTag"]})


async def put_referral(request: Request) -> Response:
    emulator = _emulator(request)
    body = await read_json(request)
    with emulator.lock:
        emulator.referrals.expire_due()
        referral = emulator.referrals.put(
            request.path_params["id"], body, request.headers.get("if-match")
        )
        return referral_response(referral)


def _filter(text: str | None) -> Any:
    if not text:
        return lambda _item: True
    try:
        return parse_filter(text)
    except FilterError as exc:
        raise invalid(str(exc), "$filter") from None


def _selection(params: Any) -> Selection:
    try:
        check_expand(params.get("$expand"))
    except SelectionError as exc:
        raise invalid(str(exc), "$expand") from None
    try:
        return parse_select(params.get("$select"))
    except SelectionError as exc:
        raise invalid(str(exc), "$select") from None


def _context(emulator: Emulator, selection: Selection) -> str:
    """The OData context URL; a selection is listed in it, as OData does."""
    chosen = "" if selection.everything else f"({','.join(selection.paths)})"
    return f"{emulator.config.base_url}/v1.0/$metadata#Referrals{chosen}"


def _order(text: str | None) -> tuple[str, bool]:
    if not text:
        return ("createdDateTime", False)
    parts = text.split()
    if len(parts) > 2 or parts[0] not in ORDER_FIELDS or parts[1:] not in ([], ["asc"], ["desc"]):
        raise invalid(
            f"$orderby {text!r} is not supported; use createdDateTime or "
            "updatedDateTime, asc or desc.",
            "$orderby",
        )
    return (parts[0], parts[1:] == ["desc"])


def _integer(params: Any, name: str, default: int, *, minimum: int) -> int:
    text = params.get(name)
    if text is None:
        return default
    try:
        value = int(text)
    except ValueError:
        raise invalid(f"{name} must be an integer, got {text!r}.", name) from None
    if value < minimum:
        raise invalid(f"{name} must be at least {minimum}.", name)
    return value


def _skiptoken(token: str | None) -> int:
    if not token:
        return 0
    try:
        return int(base64.urlsafe_b64decode(token.encode()).decode().removeprefix("offset:"))
    except (ValueError, binascii.Error):
        raise invalid("$skiptoken is not valid.", "$skiptoken") from None


def _next_link(emulator: Emulator, params: Any, offset: int, page_size: int) -> str:
    query = {k: params[k] for k in CARRIED if k in params}
    query["$top"] = str(page_size)
    query["$skiptoken"] = base64.urlsafe_b64encode(f"offset:{offset}".encode()).decode()
    return f"{emulator.config.base_url}{BASE}?{urlencode(query)}"


routes = [
    Route(BASE, list_referrals, methods=["GET"]),
    Route(BASE, create_referral, methods=["POST"]),
    Route(BASE + "/{id}", get_referral, methods=["GET"]),
    Route(BASE + "/{id}", patch_referral, methods=["PATCH"]),
    Route(BASE + "/{id}", put_referral, methods=["PUT"]),
    # the path webhook payloads name in ResourceUri
    Route("/engagements/v1/referrals/{id}", get_referral, methods=["GET"]),
]
