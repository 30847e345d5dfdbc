"""``/services/oauth2/token`` and ``/services/oauth2/revoke`` as Starlette endpoints."""

from __future__ import annotations

import base64
import binascii
from typing import TYPE_CHECKING

from starlette.requests import Request
from starlette.responses import JSONResponse, Response
from starlette.routing import Route

from cosell.emulators.salesforce.gateway import apply_faults
from cosell.emulators.salesforce.oauth import OAuthError

if TYPE_CHECKING:
    from cosell.emulators.salesforce.emulator import SalesforceEmulator

TOKEN_PATH = "/services/oauth2/token"  # noqa: S105 - a path, not a secret
REVOKE_PATH = "/services/oauth2/revoke"


def _basic(request: Request) -> tuple[str, str] | None:
    scheme, _, value = request.headers.get("authorization", "").partition(" ")
    if scheme.lower() != "basic":
        return None
    try:
        user, _, password = base64.b64decode(value).decode().partition(":")
    except (binascii.Error, UnicodeDecodeError):
        return None
    return user, password


async def token(request: Request) -> Response:
    emulator: SalesforceEmulator = request.app.state.emulator
    emulator.calls.record(request.method, TOKEN_PATH)
    faulted = await apply_faults(emulator, request)
    if faulted is not None:
        return faulted
    form = {k: str(v) for k, v in (await request.form()).items()}
    form.update({k: v for k, v in request.query_params.items() if k not in form})
    try:
        with emulator.lock:
            body = emulator.issuer.grant(form, _basic(request))
    except OAuthError as error:
        return JSONResponse(error.body(), status_code=error.status)
    return JSONResponse(body, headers={"Cache-Control": "no-cache,must-revalidate,max-age=0"})


async def revoke(request: Request) -> Response:
    emulator: SalesforceEmulator = request.app.state.emulator
    emulator.calls.record(request.method, REVOKE_PATH)
    form = await request.form()
    value = form.get("token") or request.query_params.get("token") or ""
    if not emulator.sessions.revoke(str(value)):
        return JSONResponse(
            {
                "error": "unsupported_token_type",
                "error_description": "this token type is not supported",
            },
            status_code=400,
        )
    return Response(status_code=200)


def routes() -> list[Route]:
    return [
        Route(TOKEN_PATH, token, methods=["POST"]),
        Route(REVOKE_PATH, revoke, methods=["POST", "GET"]),
    ]
