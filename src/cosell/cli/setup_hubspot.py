"""``cosell setup hubspot [--check] [--mapping FILE]``: create or check what the mapping needs
in a HubSpot portal (property group, deal properties, pipeline stages).

Credentials come from the environment: ``COSELL_HS_TOKEN`` (a private app's access token), or
``COSELL_HS_CLIENT_SECRET`` and ``COSELL_HS_REFRESH_TOKEN`` with ``--client-id`` (OAuth).

Exit status: 0 when the portal is ready (after creating what was missing), 1 when something is
missing (``--check``) or differs / could not be created, 2 when cosell could not talk to it.
"""

from __future__ import annotations

import os
from collections.abc import Callable
from pathlib import Path

import click
import httpx
from rich.console import Console
from rich.table import Table

from cosell.cli.setup import STATUS_STYLE
from cosell.clients.hubspot import HubSpotClient
from cosell.clients.hubspot_auth import TOKEN_PATH, HubSpotOAuth, PrivateAppAuth
from cosell.clients.token_store import MemoryTokenStore
from cosell.errors import CosellError
from cosell.orgsetup.hubspot import PortalSetup
from cosell.orgsetup.hubspot_spec import portal_spec_for
from cosell.orgsetup.salesforce import Report
from cosell.sync.core.mapping import load_mapping
from cosell.sync.sides.hubspot.mapping import hubspot_mapping

HttpFactory = Callable[[str], httpx.Client]


def default_http(base_url: str) -> httpx.Client:
    return httpx.Client(base_url=base_url, timeout=60.0)


def portal_auth(client_id: str | None, http: httpx.Client) -> httpx.Auth:
    """A private app's token, or OAuth refresh, from the environment."""
    token = os.environ.get("COSELL_HS_TOKEN")
    if token:
        return PrivateAppAuth(token)
    secret = os.environ.get("COSELL_HS_CLIENT_SECRET")
    refresh = os.environ.get("COSELL_HS_REFRESH_TOKEN")
    if not (client_id and secret and refresh):
        raise click.UsageError(
            "set COSELL_HS_TOKEN (private app), or --client-id with COSELL_HS_CLIENT_SECRET "
            "and COSELL_HS_REFRESH_TOKEN (OAuth)"
        )
    return HubSpotOAuth(
        client_id, secret, MemoryTokenStore(refresh), token_url=TOKEN_PATH, http=http
    )


@click.command("hubspot")
@click.option(
    "--base-url",
    envvar="COSELL_HS_BASE_URL",
    default="https://api.hubapi.com",
    show_default=True,
    help="HubSpot API host (the emulator's URL in a sandbox).",
)
@click.option("--client-id", envvar="COSELL_HS_CLIENT_ID", help="OAuth app client id.")
@click.option("--pipeline", default="default", show_default=True, help="Deal pipeline id.")
@click.option("--check", is_flag=True, help="Change nothing; exit 1 if anything is missing.")
@click.option(
    "--mapping",
    "mapping_file",
    type=click.Path(exists=True, dir_okay=False, path_type=Path),
    help="Field mapping whose properties and stages the portal needs (default: shipped one).",
)
@click.pass_context
def hubspot_command(
    ctx: click.Context,
    base_url: str,
    client_id: str | None,
    pipeline: str,
    check: bool,
    mapping_file: Path | None,
) -> None:
    """Create (or with --check, verify) the property group, properties and stages cosell needs."""
    console = Console()
    if not console.is_terminal:
        console.width = max(console.width, 160)
    obj = ctx.obj if isinstance(ctx.obj, dict) else {}
    factory: HttpFactory = obj.get("http_factory", default_http)
    http = factory(base_url)
    http.auth = portal_auth(client_id, http)
    try:
        mapping = load_mapping(mapping_file) if mapping_file else hubspot_mapping()
        spec = portal_spec_for(mapping, pipeline)
        setup = PortalSetup(HubSpotClient(http), spec)
        report = setup.inspect() if check else setup.apply()
    except CosellError as exc:
        console.print(f"[bold red]error:[/] {exc}", highlight=False)
        ctx.exit(2)
    ctx.exit(render(console, report, check=check))


def render(console: Console, report: Report, *, check: bool) -> int:
    """Print the report; the exit status."""
    if report.unchanged:
        console.print(f"Nothing to change: {len(report.findings)} checks OK", highlight=False)
        return 0
    table = Table(title="HubSpot portal for cosell")
    for column in ("Kind", "Name", "Expected", "Status", "Detail"):
        table.add_column(column, overflow="fold")
    for f in report.findings:
        if f.status != "ok":
            style = STATUS_STYLE[f.status]
            table.add_row(f.kind, f.name, f.expected, f"[{style}]{f.status}[/]", f.detail)
    console.print(table)
    for status in ("created", "missing", "differs", "failed"):
        found = report.with_status(status)
        if found:
            console.print(f"{status.capitalize()}: {len(found)}", highlight=False)
    if check and report.with_status("missing"):
        console.print("Run `cosell setup hubspot` without --check to create what is missing.")
    return 1 if report.with_status("missing", "differs", "failed") else 0
