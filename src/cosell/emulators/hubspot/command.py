"""``cosell emulate hubspot``: serve the emulator with uvicorn."""

from __future__ import annotations

import click


@click.command("hubspot")
@click.option("--host", default="127.0.0.1", show_default=True)
@click.option("--port", default=8603, show_default=True, type=int)
@click.option("--public-url", default=None, help="Base URL in links [default: http://HOST:PORT]")
@click.option(
    "--token",
    "private_app_token",
    default="pat-na1-cosell-sandbox",
    show_default=True,
    help="The private app's access token the emulator accepts.",
)
@click.option("--client-id", default="cosell-sandbox-client", show_default=True)
@click.option(
    "--client-secret",
    default="sandbox-client-secret",
    show_default=True,
    help="OAuth client secret; also the key that signs webhook deliveries.",
)
@click.option("--developer-api-key", default="sandbox-developer-key", show_default=True)
@click.option("--portal-id", default=62515, show_default=True, type=int)
@click.option("--app-id", default=54321, show_default=True, type=int)
@click.option("--burst-limit", default=100, show_default=True, type=int, help="Calls per 10 s.")
@click.option("--daily-limit", default=250_000, show_default=True, type=int)
@click.option(
    "--search-lag",
    default=0.0,
    show_default=True,
    type=float,
    help="Seconds before a write shows in search results.",
)
def hubspot_command(
    host: str,
    port: int,
    public_url: str | None,
    private_app_token: str,
    client_id: str,
    client_secret: str,
    developer_api_key: str,
    portal_id: int,
    app_id: int,
    burst_limit: int,
    daily_limit: int,
    search_lag: float,
) -> None:
    """Serve a local HubSpot portal (CRM objects, search, OAuth, webhooks, /_emulator controls)."""
    import uvicorn

    from cosell.emulators.hubspot import HubSpotEmulatorConfig, create_app

    config = HubSpotEmulatorConfig(
        portal_id=portal_id,
        app_id=app_id,
        private_app_token=private_app_token,
        client_id=client_id,
        client_secret=client_secret,
        developer_api_key=developer_api_key,
        public_url=public_url or f"http://{host}:{port}",
        burst_limit=burst_limit,
        daily_limit=daily_limit,
        search_lag_seconds=search_lag,
    )
    click.echo(f"HubSpot emulator on {config.public_url}")
    uvicorn.run(create_app(config), host=host, port=port, log_level="warning")
