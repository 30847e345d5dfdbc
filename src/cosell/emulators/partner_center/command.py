"""``cosell emulate partner-center``: serve the emulator with uvicorn."""

from __future__ import annotations

from pathlib import Path

import click


@click.command("partner-center")
@click.option("--host", default="127.0.0.1", show_default=True)
@click.option("--port", default=8601, show_default=True, type=int)
@click.option(
    "--public-url", default=None, help="Base URL used in links [default: http://HOST:PORT]"
)
@click.option("--tenant", default="sandbox-tenant", show_default=True)
@click.option("--client-id", default="cosell-sandbox", show_default=True)
@click.option("--client-secret", default="sandbox-client-secret", show_default=True)
@click.option("--username", default="referrals-admin@partner.example", show_default=True)
@click.option("--password", default="sandbox-password", show_default=True)
@click.option("--token-ttl", default=3600, show_default=True, type=int, help="Seconds.")
@click.option("--state-file", default=None, type=click.Path(path_type=Path))
@click.option(
    "--allow-patch-path",
    "extra_patch_paths",
    multiple=True,
    help="Also accept this JSON Patch path (repeatable), e.g. /customerProfile/name.",
)
def partner_center_command(
    host: str,
    port: int,
    public_url: str | None,
    tenant: str,
    client_id: str,
    client_secret: str,
    username: str,
    password: str,
    token_ttl: int,
    state_file: Path | None,
    extra_patch_paths: tuple[str, ...],
) -> None:
    """Serve a local Partner Center (tokens, referrals, webhooks, /_emulator controls)."""
    import uvicorn

    from cosell.emulators.partner_center import PartnerCenterEmulatorConfig, create_app

    config = PartnerCenterEmulatorConfig(
        tenant=tenant,
        client_id=client_id,
        client_secret=client_secret,
        username=username,
        password=password,
        token_ttl=token_ttl,
        public_url=public_url or f"http://{host}:{port}",
        state_file=state_file,
        extra_patch_paths=extra_patch_paths,
    )
    uvicorn.run(create_app(config), host=host, port=port, log_level="warning")
