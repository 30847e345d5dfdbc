"""``cosell status | audit | retry | conflicts | doctor``: day-2 operations from the shell.

Each reads the same configuration as ``cosell run`` (``--config`` plus the environment). A bad
configuration ends the command with one line naming the key and exit status 2.
"""

from __future__ import annotations

import json
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

import click
from rich.console import Console

from cosell.cli.common import command_deps, config_option, fail, reported, settings_for
from cosell.operations import console as views
from cosell.operations.audit_view import history, record_id_of
from cosell.operations.checks import exit_status
from cosell.operations.conflicts import ConflictView, Resolution, open_conflicts, resolve
from cosell.operations.deployment import Deployment
from cosell.operations.doctor import Doctor
from cosell.operations.records_view import find_record
from cosell.operations.retry import retry_all, retry_one
from cosell.operations.status import build_status, jsonable

WIDE = 160


@contextmanager
def _deployment(config_path: Path | None) -> Iterator[Deployment]:
    """The deployment, closed afterwards; cosell's errors become one line and an exit status."""
    deps = command_deps()
    with reported(), Deployment(settings_for(config_path), deps.clock, deps.http) as deployment:
        yield deployment


def _console() -> Console:
    console = Console()
    if not console.is_terminal:
        console.width = max(console.width, WIDE)  # pipes and logs: keep ids on one line
    return console


def _print_json(data: Any) -> None:
    click.echo(json.dumps(data, indent=2, sort_keys=True))


json_option = click.option("--json", "as_json", is_flag=True, help="Print JSON instead.")


# --- status ------------------------------------------------------------------------------------


@click.command("status")
@config_option
@json_option
@click.option(
    "--expiring-days",
    type=click.FloatRange(min=0),
    default=3.0,
    show_default=True,
    help="Show incoming referrals this close to their 14-day expiry.",
)
@click.option("--offline", is_flag=True, help="Only the store: no Partner Center or CRM calls.")
def status_command(
    config_path: Path | None, as_json: bool, expiring_days: float, offline: bool
) -> None:
    """Links by state, the queue, dead letters, conflicts, expiring referrals, API budgets."""
    with _deployment(config_path) as d:
        report = build_status(
            d.store,
            d.tenant,
            d.settings.tenant.name,
            partner_center=None if offline else d.partner_center,
            salesforce=None if offline else d.salesforce,
            expiring_within_days=expiring_days,
        )
    if as_json:
        _print_json(report.to_json())
    else:
        _console().print(views.status_table(report))
        if report.failed:
            _console().print(views.dead_letter_table(report.failed))
        if report.attention:
            _console().print(views.attention_table(report.attention))
        if report.not_imported:
            _console().print(views.not_imported_table(report.not_imported))


# --- audit -------------------------------------------------------------------------------------


@click.command("audit")
@click.argument("record")
@config_option
@json_option
@click.option("--limit", type=click.IntRange(min=1), default=50, show_default=True)
def audit_command(record: str, config_path: Path | None, as_json: bool, limit: int) -> None:
    """The history of one referral or opportunity (either id), newest first."""
    with _deployment(config_path) as d:
        rows = history(d.store, d.tenant, record, limit)
        state = find_record(d.store, d.tenant, record_id_of(record))
    if as_json:
        _print_json(jsonable(rows))
        return
    if not rows and state is None:
        fail(f"no audit rows for {record_id_of(record)}", 1)
    if state is not None:
        _console().print(views.record_state_line(state))
    if rows:
        _console().print(views.audit_table(record_id_of(record), rows))


# --- retry -------------------------------------------------------------------------------------


@click.command("retry")
@click.argument("record", required=False)
@click.option("--all-failed", is_flag=True, help="Requeue every dead letter.")
@config_option
def retry_command(record: str | None, all_failed: bool, config_path: Path | None) -> None:
    """Put a dead letter (by referral/opportunity id or queue key) back on the queue.

    The running service, or the next `cosell sync`, reconciles it.
    """
    if bool(record) == all_failed:
        raise click.UsageError("give an ID or --all-failed (not both)")
    with _deployment(config_path) as d:
        if record is None:
            keys = retry_all(d.store, d.tenant)
        else:
            keys = retry_one(d.store, d.tenant, record)
    if record is not None and not keys:
        fail(f"no dead letter for {record}", 1)
    for key in keys:
        click.echo(f"requeued {key}")
    click.echo(f"{len(keys)} requeued")


# --- conflicts ---------------------------------------------------------------------------------


@click.group("conflicts", invoke_without_command=True)
@config_option
@json_option
@click.pass_context
def conflicts_command(ctx: click.Context, config_path: Path | None, as_json: bool) -> None:
    """List open conflicts: fields both sides changed differently."""
    if ctx.invoked_subcommand is not None:
        return
    with _deployment(config_path) as d:
        views_ = open_conflicts(d.store, d.tenant)
    if as_json:
        _print_json([_conflict_json(v) for v in views_])
    elif not views_:
        click.echo("no open conflicts")
    else:
        _console().print(views.conflicts_table(views_))


def _conflict_json(view: ConflictView) -> dict[str, Any]:
    c = view.conflict
    return {
        "id": c.id,
        "referral_id": view.referral_id,
        "opportunity_id": view.opportunity_id,
        "field": c.field,
        "base": c.base,
        "partner_center": c.pc,
        "crm": c.crm,
        "opened_at": c.opened_at.isoformat(),
    }


@conflicts_command.command("resolve")
@click.argument("conflict_id", type=int)
@click.option(
    "--take",
    required=True,
    help="partner_center, crm, or value=<JSON or text> (the value both sides get).",
)
@config_option
def resolve_command(conflict_id: int, take: str, config_path: Path | None) -> None:
    """Record how to settle a conflict; the link's next reconcile applies it."""
    try:
        resolution = Resolution.parse(take)
    except ValueError as exc:
        raise click.BadParameter(str(exc), param_hint="--take") from None
    with _deployment(config_path) as d:
        try:
            view = resolve(d.store, d.tenant, conflict_id, resolution)
        except LookupError as exc:
            fail(str(exc.args[0]), 1)
        except ValueError as exc:
            fail(str(exc), 2)
    c = view.conflict
    click.echo(f"conflict {c.id} on {c.field}: take {resolution.describe()}")
    click.echo(f"enqueued {view.key}" if view.key else "the link is gone; nothing to enqueue")


# --- doctor ------------------------------------------------------------------------------------


@click.command("doctor")
@config_option
@json_option
def doctor_command(config_path: Path | None, as_json: bool) -> None:
    """Check both connections, tokens, the org setup, the webhook registration and the store.

    Exit status 1 when any check fails; every problem is shown with its fix.
    """
    with _deployment(config_path) as d:
        checks = Doctor(d).run()
    if as_json:
        _print_json(jsonable(checks))
    else:
        _console().print(views.checks_table(checks))
        for check in checks:
            if check.level == "fail":
                click.echo(f"FAIL {check.name}: {check.detail}\n  fix: {check.fix}")
    raise SystemExit(exit_status(checks))
