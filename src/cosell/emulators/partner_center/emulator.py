"""The emulator object: one store behind one lock, its clock, faults, call log and dispatcher."""

from __future__ import annotations

import json
import threading
from collections import deque
from collections.abc import Iterable
from datetime import datetime
from typing import Protocol, runtime_checkable

import httpx

from cosell.clock import Clock, OffsetClock
from cosell.emulators.faults import CallLog, FaultBook
from cosell.emulators.partner_center.auth import AadError, TokenService
from cosell.emulators.partner_center.book import ReferralBook
from cosell.emulators.partner_center.config import PartnerCenterEmulatorConfig
from cosell.emulators.partner_center.delivery import WEBHOOK_FAULTS, Delivery, Dispatcher
from cosell.emulators.partner_center.host import Host
from cosell.emulators.partner_center.responses import format_offset_time, format_time
from cosell.emulators.partner_center.signing import Signer
from cosell.emulators.partner_center.state import StateFile, StoreData

HTTP_FAULTS = frozenset({"throttle", "server_error", "latency"})
SHARED_TENANTS = frozenset({"common", "organizations"})


@runtime_checkable
class AdvanceableClock(Clock, Protocol):
    """A clock the control surface can move forward (``OffsetClock``, ``ManualClock``)."""

    def advance(self, seconds: float) -> None: ...


class Emulator:
    """Everything one emulated Partner Center tenant holds; routes reach it via app.state."""

    def __init__(
        self,
        config: PartnerCenterEmulatorConfig,
        clock: Clock | None = None,
        delivery_client: httpx.Client | None = None,
    ) -> None:
        self.config = config
        self.clock: Clock = clock or OffsetClock()
        self.lock = threading.RLock()
        self.state_file = StateFile(config.state_file)
        self.data: StoreData = self.state_file.load()
        self._resume_clock()
        self.faults = FaultBook(HTTP_FAULTS | WEBHOOK_FAULTS)
        self.calls = CallLog()
        self.signer = Signer(self.data.keys, self._save_locked)
        self.host = Host(self.config, self.clock, self.data, self.save, self.notify)
        self.tokens = TokenService(self.host)
        self.referrals = ReferralBook(self.host)
        self.validation_posts: deque[float] = deque()
        self._own_client = delivery_client is None
        client = delivery_client or httpx.Client(timeout=10.0)
        self.dispatcher = Dispatcher(
            client,
            self.clock,
            self.faults,
            max_attempts=config.delivery_attempts,
            backoff=config.delivery_backoff,
        )

    @property
    def organization_id(self) -> str:
        return self.host.organization_id

    def save(self, referrals: Iterable[str] | None = None) -> None:
        """Keep the store in the state file (if any): ``referrals`` names the referrals that
        changed (None: any may have); callers hold ``lock``."""
        self.state_file.save(self.data, referrals)

    def _save_locked(self) -> None:
        with self.lock:
            self.save()

    def check_tenant(self, tenant: str) -> None:
        if tenant not in SHARED_TENANTS and tenant != self.config.tenant:
            raise AadError(400, "invalid_request", 90002, f"Tenant {tenant!r} not found.")

    def now_text(self) -> str:
        return format_time(self.clock.now())

    def advance(self, seconds: float) -> None:
        """Move the emulator clock forward (kept in the state file, so a restarted emulator
        resumes at the same time), then let time-driven changes (expiry) happen."""
        if not isinstance(self.clock, AdvanceableClock):
            raise TypeError("this emulator's clock cannot be advanced")
        with self.lock:
            self.clock.advance(seconds)
            self.data.clock_offset_seconds += seconds
            self.referrals.expire_due()
            self.save()

    def _resume_clock(self) -> None:
        """A saved state file's clock offset applies again (time never jumps back on restart)."""
        offset = self.data.clock_offset_seconds
        if offset and isinstance(self.clock, AdvanceableClock):
            self.clock.advance(offset)

    def notify(
        self,
        event: str,
        resource_id: str,
        resource_uri: str,
        resource: str,
        changed: datetime | None = None,
    ) -> Delivery | None:
        """Queue a signed callback if the registration asks for ``event``; callers hold ``lock``.
        ``ResourceChangeUtcDate`` is ``changed``, the time the resource took the change (its
        ``updatedDateTime``), else now."""
        registration = self.data.registration
        if registration is None or event not in registration["WebhookEvents"]:
            return None
        payload = {
            "EventName": event,
            "ResourceUri": resource_uri,
            "ResourceName": resource,
            "AuditUri": None,
            "ResourceChangeUtcDate": format_offset_time(changed or self.clock.now()),
        }
        body = json.dumps(payload).encode()
        header = "x-ms-signature" if registration["SignatureTokenToMsSignatureHeader"] else None
        headers = {
            header or "Authorization": f"Signature {self.signer.sign(body)}",
            "X-MS-Certificate-Url": f"{self.config.base_url}/_emulator/certificate.cer",
            "X-MS-Signature-Algorithm": "rsa-sha256",
            "Content-Type": "application/json",
        }
        delivery = Delivery(event, registration["WebhookUrl"], body, headers, resource_id)
        self.dispatcher.emit(delivery)
        return delivery

    def referral_uri(self, referral_id: str) -> str:
        return self.host.referral_uri(referral_id)

    def reset(self) -> None:
        """Forget referrals, registration, tokens and deliveries; keep the signing keys."""
        with self.lock:
            self.data.referrals.clear()
            self.referrals.created.clear()
            self.data.registration = None
            self.data.tokens.clear()
            self.data.device_codes.clear()
            self.data.validation_events.clear()
            self.validation_posts.clear()
            self.save()
        self.dispatcher.reset()
        self.faults.clear()
        self.calls.reset()

    def close(self) -> None:
        self.dispatcher.close()
        if self._own_client:
            self.dispatcher.client.close()
