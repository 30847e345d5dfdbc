"""A local emulator of Partner Center's referrals, webhook and token APIs (a Starlette app).

The app (and Starlette with it) loads on first use of ``create_app``, so code that needs only the
emulator's data shapes (``defaults``, ``config``) does not pay for the web stack.
"""

from typing import TYPE_CHECKING, Any

from cosell.emulators.partner_center.config import PartnerCenterEmulatorConfig

if TYPE_CHECKING:
    from cosell.emulators.partner_center.app import create_app

__all__ = ["PartnerCenterEmulatorConfig", "create_app"]


def __getattr__(name: str) -> Any:
    if name == "create_app":
        from cosell.emulators.partner_center.app import create_app

        return create_app
    raise AttributeError(f"module {__name__!r} has no attribute {name!r}")
