"""Settings of one emulated org."""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Literal


def _versions() -> tuple[str, ...]:
    return tuple(f"{n}.0" for n in range(31, 63))


@dataclass
class SalesforceEmulatorConfig:
    """What the emulated org accepts and how it behaves; defaults match a fresh sandbox."""

    client_id: str = "cosell-sandbox-consumer-key"
    client_secret: str = "sandbox-consumer-secret"  # noqa: S105 - a well-known sandbox value
    username: str = "integration@partner.example"
    password: str = "sandbox-password"  # noqa: S105 - a well-known sandbox value
    jwt_cert_pem: bytes | None = None
    public_url: str = "http://127.0.0.1:8602"
    api_versions: tuple[str, ...] = field(default_factory=_versions)
    session_idle_timeout: int = 7200
    daily_api_limit: int = 100_000
    query_batch_size: int | None = None
    query_locator_ttl: int = 2 * 24 * 3600
    child_batch_size: int = 200
    max_url_length: int = 16_384
    graph_sibling_errors: Literal["halted", "repeat"] = "halted"
    multi_currency: bool = True
    currencies: tuple[str, ...] = ("USD", "EUR", "GBP", "JPY", "AUD", "CAD", "INR")
    corporate_currency: str = "USD"
    org_id: str = "00D8d000000cOSeEAM"
    custom_object_prefix: str = "a0X"
    fls_strict: bool = False
    rotate_refresh_tokens: bool = False
    jwt_skew_seconds: int = 30
    audiences: tuple[str, ...] = ("https://login.salesforce.com", "https://test.salesforce.com")

    def accepted_audiences(self) -> set[str]:
        return {a.rstrip("/") for a in (*self.audiences, self.public_url)}
