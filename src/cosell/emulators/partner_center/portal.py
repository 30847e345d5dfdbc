"""``GET /dashboard/v2/referrals/{id}``: the portal's referral page, emulated as a minimal HTML
page (the path of Partner Center's own portal, so a sandbox can point links at the emulator)."""

from __future__ import annotations

from starlette.requests import Request
from starlette.responses import Response
from starlette.routing import Route

from cosell.emulators.partner_center.emulator import Emulator
from cosell.emulators.partner_center.responses import ApiError
from cosell.emulators.record_page import missing_page, record_page

PORTAL_PATH = "/dashboard/v2/referrals/{id}"
SYSTEM = "Partner Center"


async def referral_page(request: Request) -> Response:
    emulator: Emulator = request.app.state.emulator
    referral_id = request.path_params["id"]
    with emulator.lock:
        try:
            referral = dict(emulator.referrals.get(referral_id))
        except ApiError:
            return missing_page(SYSTEM, referral_id)
    return record_page(SYSTEM, referral_id, str(referral.get("name") or referral_id), referral)


routes = [Route(PORTAL_PATH, referral_page, methods=["GET"])]
