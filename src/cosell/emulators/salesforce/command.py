"""``cosell emulate salesforce``: serve the emulator with uvicorn, over HTTP or HTTPS."""

from __future__ import annotations

import tempfile
from pathlib import Path

import click


@click.command("salesforce")
@click.option("--host", default="127.0.0.1", show_default=True)
@click.option("--port", default=8602, show_default=True, type=int)
@click.option(
    "--public-url", default=None, help="instance_url and link base [default: SCHEME://HOST:PORT]"
)
@click.option("--client-id", default="cosell-sandbox-consumer-key", show_default=True)
@click.option("--client-secret", default="sandbox-consumer-secret", show_default=True)
@click.option("--username", default="integration@partner.example", show_default=True)
@click.option("--password", default="sandbox-password", show_default=True)
@click.option(
    "--jwt-cert",
    default=None,
    type=click.Path(exists=True, dir_okay=False, path_type=Path),
    help="PEM certificate (or public key) that verifies JWT bearer assertions.",
)
@click.option("--tls", is_flag=True, help="Serve HTTPS (a self-signed certificate if none given).")
@click.option("--certfile", default=None, type=click.Path(exists=True, path_type=Path))
@click.option("--keyfile", default=None, type=click.Path(exists=True, path_type=Path))
@click.option("--query-batch-size", default=None, type=int, help="Cap every query page size.")
@click.option("--daily-api-limit", default=100_000, show_default=True, type=int)
@click.option("--single-currency", is_flag=True, help="Turn multi-currency off.")
@click.option(
    "--fls-strict",
    is_flag=True,
    help="Hide custom objects and fields until a permission set grants them.",
)
def salesforce_command(
    host: str,
    port: int,
    public_url: str | None,
    client_id: str,
    client_secret: str,
    username: str,
    password: str,
    jwt_cert: Path | None,
    tls: bool,
    certfile: Path | None,
    keyfile: Path | None,
    query_batch_size: int | None,
    daily_api_limit: int,
    single_currency: bool,
    fls_strict: bool,
) -> None:
    """Serve a local Salesforce org (OAuth, REST, query, Tooling, /_emulator controls)."""
    import uvicorn

    from cosell.emulators.salesforce import SalesforceEmulatorConfig, create_app
    from cosell.emulators.salesforce.tls import write_self_signed

    if tls and (certfile is None) != (keyfile is None):
        raise click.UsageError("--certfile and --keyfile go together")
    if tls and certfile is None:
        certfile, keyfile = write_self_signed(Path(tempfile.mkdtemp(prefix="cosell-sf-tls-")))
        click.echo(f"Self-signed certificate: {certfile} (trust it, e.g. REQUESTS_CA_BUNDLE)")
    scheme = "https" if tls else "http"
    config = SalesforceEmulatorConfig(
        client_id=client_id,
        client_secret=client_secret,
        username=username,
        password=password,
        jwt_cert_pem=jwt_cert.read_bytes() if jwt_cert else None,
        public_url=public_url or f"{scheme}://{host}:{port}",
        query_batch_size=query_batch_size,
        daily_api_limit=daily_api_limit,
        multi_currency=not single_currency,
        fls_strict=fls_strict,
    )
    click.echo(f"Salesforce emulator on {config.public_url}")
    uvicorn.run(
        create_app(config),
        host=host,
        port=port,
        log_level="warning",
        ssl_certfile=str(certfile) if tls and certfile else None,
        ssl_keyfile=str(keyfile) if tls and keyfile else None,
    )
