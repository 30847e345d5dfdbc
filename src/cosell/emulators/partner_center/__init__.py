"""A local emulator of Partner Center's referrals, webhook and token APIs (a Starlette app)."""

from cosell.emulators.partner_center.app import create_app
from cosell.emulators.partner_center.config import PartnerCenterEmulatorConfig

__all__ = ["PartnerCenterEmulatorConfig", "create_app"]
