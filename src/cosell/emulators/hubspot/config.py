"""Settings of the HubSpot emulator: the credentials it accepts, its limits and deliveries."""

from __future__ import annotations

from dataclasses import dataclass


@dataclass
class HubSpotEmulatorConfig:
    """What the emulated portal accepts and how it behaves; every field has a sandbox default."""

    portal_id: int = 62515
    app_id: int = 54321
    private_app_token: str = "pat-na1-cosell-sandbox"  # noqa: S105 - a sandbox default
    client_id: str = "cosell-sandbox-client"
    client_secret: str = "sandbox-client-secret"  # noqa: S105 - a sandbox default
    developer_api_key: str = "sandbox-developer-key"
    token_ttl: int = 1800
    public_url: str = "http://127.0.0.1:8603"
    # rate limits: the rolling ten-second burst per app, the daily allowance per portal
    burst_limit: int = 100
    burst_window_ms: int = 10_000
    daily_limit: int = 250_000
    search_per_second: int = 5
    # batch and search caps
    batch_limit: int = 100
    search_page_max: int = 200
    search_result_cap: int = 10_000
    max_filter_groups: int = 5
    max_filters_per_group: int = 6
    max_filters_total: int = 18
    # seconds before a write is visible to search (HubSpot's index is eventually consistent)
    search_lag_seconds: float = 0.0
    # webhook deliveries
    webhook_batch_max: int = 100
    delivery_attempts: int = 10
    delivery_backoff: float = 2.0

    @property
    def base_url(self) -> str:
        return self.public_url.rstrip("/")
