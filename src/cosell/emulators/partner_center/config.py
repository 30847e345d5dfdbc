"""Settings of the Partner Center emulator (credentials it accepts, URLs it prints, delivery)."""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path


@dataclass
class PartnerCenterEmulatorConfig:
    """What the emulator accepts and how it behaves; every field has a sandbox default."""

    tenant: str = "sandbox-tenant"
    client_id: str = "cosell-sandbox"
    client_secret: str = "sandbox-client-secret"  # noqa: S105 - a sandbox default, not a secret
    username: str = "referrals-admin@partner.example"
    password: str = "sandbox-password"  # noqa: S105 - a sandbox default, not a secret
    token_ttl: int = 3600
    public_url: str = "http://127.0.0.1:8601"
    state_file: Path | None = None
    delivery_attempts: int = 10
    delivery_backoff: float = 2.0
    auto_approve_device_codes: bool = True
    # PATCH paths accepted beyond the documented ones (e.g. "/customerProfile/address/city")
    extra_patch_paths: tuple[str, ...] = ()

    @property
    def base_url(self) -> str:
        return self.public_url.rstrip("/")
