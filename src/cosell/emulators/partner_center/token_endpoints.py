"""The Entra ID token endpoints (``/{tenant}/oauth2/...``); the grants are in ``auth.py``."""

from __future__ import annotations

from starlette.requests import Request
from starlette.responses import Response

from cosell.emulators.partner_center.auth import AadError
from cosell.emulators.partner_center.emulator import Emulator
from cosell.emulators.partner_center.responses import json_response


async def token_endpoint(request: Request) -> Response:
    emulator: Emulator = request.app.state.emulator
    version = "v2" if request.url.path.endswith("/v2.0/token") else "v1"
    form = {k: str(v) for k, v in (await request.form()).items()}
    try:
        emulator.check_tenant(request.path_params["tenant"])
        with emulator.lock:
            body = emulator.tokens.grant(version, form)
            emulator.save()
    except AadError as exc:
        return exc.response(emulator.now_text())
    return json_response(body, headers={"Cache-Control": "no-store", "Pragma": "no-cache"})


async def device_code_endpoint(request: Request) -> Response:
    emulator: Emulator = request.app.state.emulator
    form = {k: str(v) for k, v in (await request.form()).items()}
    try:
        emulator.check_tenant(request.path_params["tenant"])
        with emulator.lock:
            body = emulator.tokens.device_code(form)
            emulator.save()
    except AadError as exc:
        return exc.response(emulator.now_text())
    return json_response(body)
