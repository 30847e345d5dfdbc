"""What the token service and the referral book use of their emulator, and nothing more."""

from __future__ import annotations

import uuid
from collections.abc import Callable, Iterable
from dataclasses import dataclass
from datetime import datetime

from cosell.clock import Clock
from cosell.emulators.partner_center.config import PartnerCenterEmulatorConfig
from cosell.emulators.partner_center.delivery import Delivery
from cosell.emulators.partner_center.state import StoreData

Notify = Callable[[str, str, str, str, datetime | None], "Delivery | None"]


@dataclass(frozen=True)
class Host:
    """The tenant's config, clock and store, a save and a webhook notify (callers hold the lock)."""

    config: PartnerCenterEmulatorConfig
    clock: Clock
    data: StoreData
    save: Callable[[Iterable[str] | None], None]
    notify: Notify

    @property
    def organization_id(self) -> str:
        return str(uuid.uuid5(uuid.NAMESPACE_URL, f"cosell-emulator:{self.config.tenant}"))

    def referral_uri(self, referral_id: str) -> str:
        return f"{self.config.base_url}/engagements/v1/referrals/{referral_id}"
