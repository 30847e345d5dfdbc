"""``cosell setup salesforce [--check] [--mapping FILE]``: create or check what the mapping needs.

The schema comes from the mapping (default: the shipped one): every custom field it syncs, the
fields cosell itself owns, the Microsoft Solutions object, the integration user's access to them
(a permission set with object and field permissions, assigned to the user that logs in), and the
Opportunity stages its stage table names.

Exit status: 0 when the org is ready (after creating what was missing), 1 when something is
missing (``--check``) or differs / could not be created, 2 when cosell could not log in or talk
to the org.
"""

from __future__ import annotations

import os
from pathlib import Path
from typing import Any

import click
from rich.console import Console
from rich.table import Table

from cosell.clients.salesforce import DEFAULT_API_VERSION
from cosell.clients.salesforce_auth import (
    TOKEN_PATH,
    ClientCredentialsGrant,
    Grant,
    JwtBearerGrant,
    PasswordGrant,
)
from cosell.errors import CosellError
from cosell.orgsetup.connect import HttpFactory, connect, default_http
from cosell.orgsetup.salesforce import Finding, Report
from cosell.orgsetup.spec import OrgSpec, connector_spec_for
from cosell.sync.core.mapping import default_mapping, load_mapping

STATUS_STYLE = {
    "ok": "green",
    "created": "bold green",
    "granted": "bold green",
    "missing": "yellow",
    "differs": "bold red",
    "failed": "bold red",
}


def choose_grant(auth: str, client_id: str, username: str | None, audience: str) -> Grant:
    """The OAuth grant from ``--auth`` and the secrets in the environment."""
    key_file = os.environ.get("COSELL_SF_JWT_KEY_FILE")
    secret = os.environ.get("COSELL_SF_CLIENT_SECRET")
    password = os.environ.get("COSELL_SF_PASSWORD")
    if auth == "auto":
        auth = "jwt" if key_file else "password" if password else "client-credentials"
    if auth == "jwt":
        if not key_file or not username:
            raise click.UsageError("JWT login needs --username and COSELL_SF_JWT_KEY_FILE")
        key = Path(key_file).read_text(encoding="utf-8")
        return JwtBearerGrant(client_id, username, key, audience=audience)
    if not secret:
        raise click.UsageError(f"{auth} login needs COSELL_SF_CLIENT_SECRET in the environment")
    if auth == "password":
        if not username or not password:
            raise click.UsageError("password login needs --username and COSELL_SF_PASSWORD")
        return PasswordGrant(client_id, secret, username, password)
    return ClientCredentialsGrant(client_id, secret)


def split_login_url(url: str) -> tuple[str, str]:
    """``(login host, token URL)`` from either form the user may give."""
    url = url.rstrip("/")
    if url.endswith(TOKEN_PATH):
        return url[: -len(TOKEN_PATH)], url
    return url, url + TOKEN_PATH


@click.command("salesforce")
@click.option(
    "--instance-url", envvar="COSELL_SF_INSTANCE_URL", help="Org URL (default: from login)."
)
@click.option(
    "--login-url",
    "--token-url",
    "login_url",
    envvar="COSELL_SF_LOGIN_URL",
    default="https://login.salesforce.com",
    show_default=True,
    help="Login host or its full /services/oauth2/token URL.",
)
@click.option("--client-id", envvar="COSELL_SF_CLIENT_ID", required=True, help="Consumer key.")
@click.option("--username", envvar="COSELL_SF_USERNAME", help="Integration user (JWT, password).")
@click.option(
    "--auth",
    "auth_flow",
    type=click.Choice(["auto", "jwt", "client-credentials", "password"]),
    default="auto",
    show_default=True,
    help="Login flow; auto picks by the secrets present in the environment.",
)
@click.option(
    "--jwt-audience",
    envvar="COSELL_SF_JWT_AUDIENCE",
    help="JWT 'aud' claim (default: the login host; e.g. https://test.salesforce.com).",
)
@click.option("--api-version", default=DEFAULT_API_VERSION, show_default=True)
@click.option("--check", is_flag=True, help="Change nothing; exit 1 if anything is missing.")
@click.option(
    "--mapping",
    "mapping_file",
    type=click.Path(exists=True, dir_okay=False, path_type=Path),
    help="Field mapping whose fields and stages the org needs (default: the shipped one).",
)
@click.pass_context
def salesforce_command(
    ctx: click.Context,
    instance_url: str | None,
    login_url: str,
    client_id: str,
    username: str | None,
    auth_flow: str,
    jwt_audience: str | None,
    api_version: str,
    check: bool,
    mapping_file: Path | None,
) -> None:
    """Create (or with --check, verify) the fields, object, stages and access cosell needs.

    Secrets come from the environment: COSELL_SF_JWT_KEY_FILE (JWT bearer),
    COSELL_SF_CLIENT_SECRET (client credentials, password) and COSELL_SF_PASSWORD.
    """
    console = Console()
    if not console.is_terminal:
        console.width = max(console.width, 160)  # logs and pipes: keep API names on one line
    factory: HttpFactory = _obj(ctx).get("http_factory", default_http)
    login_host, token_url = split_login_url(login_url)
    grant = choose_grant(auth_flow, client_id, username, jwt_audience or login_host)
    try:
        mapping = load_mapping(mapping_file) if mapping_file else default_mapping()
        spec = connector_spec_for(mapping)
        setup = connect(factory, grant, token_url, instance_url, api_version, spec)
        report = setup.inspect() if check else setup.apply()
    except CosellError as exc:
        console.print(f"[bold red]error:[/] {exc}", highlight=False)
        ctx.exit(2)
    ctx.exit(render(console, report, spec, check=check))


def _obj(ctx: click.Context) -> dict[str, Any]:
    return ctx.obj if isinstance(ctx.obj, dict) else {}


def render(console: Console, report: Report, spec: OrgSpec, *, check: bool) -> int:
    """Print the report; the exit status."""
    if report.unchanged:
        console.print(summary_ok(spec), highlight=False)
        return 0
    console.print(findings_table(report))
    pending = report.with_status("missing", "differs", "failed")
    for line in summary_lines(report, check=check):
        console.print(line, highlight=False)
    return 1 if pending else 0


def summary_ok(spec: OrgSpec) -> str:
    objects = len(spec.objects)
    noun = "object" if objects == 1 else "objects"
    stages = f", {len(spec.stages)} stages" if spec.stages else ""
    counts = f"{len(spec.fields)} fields, {objects} {noun}{stages}"
    return f"Nothing to change: {counts}, object and field access OK"


def findings_table(report: Report) -> Table:
    table = Table(title="Salesforce org for cosell")
    for column in ("Kind", "Name", "Expected", "Status", "Detail"):
        table.add_column(column, overflow="fold")
    for f in report.findings:
        style = STATUS_STYLE[f.status]
        table.add_row(f.kind, f.name, f.expected, f"[{style}]{f.status}[/]", f.detail)
    return table


def summary_lines(report: Report, *, check: bool) -> list[str]:
    lines = []
    for status in ("created", "granted", "missing", "differs", "failed"):
        found = report.with_status(status)
        if found:
            lines.append(f"{status.capitalize()}: {_count(found)}")
    if check and report.with_status("missing"):
        lines.append("Run `cosell setup salesforce` without --check to create what is missing.")
    if report.with_status("differs"):
        lines.append("Fields that differ are left as they are: an admin must resolve them.")
    return lines


def _count(findings: list[Finding]) -> str:
    kinds: dict[str, int] = {}
    for f in findings:
        kinds[f.kind] = kinds.get(f.kind, 0) + 1
    return ", ".join(_phrase(kind, n) for kind, n in kinds.items())


def _phrase(kind: str, n: int) -> str:
    if kind == "access":
        return f"access to {n} field{'s' if n != 1 else ''}"
    if kind == "object access":
        return f"access to {n} object{'s' if n != 1 else ''}"
    return f"{n} {kind}{'s' if n != 1 else ''}"
