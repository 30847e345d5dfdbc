"""``cosell mapping preview``: what one reconcile would write, without writing it."""

from __future__ import annotations

from pathlib import Path

import click

from cosell.cli.common import command_deps, config_option, fail, reported, settings_for
from cosell.errors import CosellError
from cosell.queue.protocol import KeyKind
from cosell.sync.engine.full_sync import build_engine
from cosell.sync.engine.preview import preview, render


@click.command("preview")
@click.option("--opportunity", "opportunity_id", help="Salesforce opportunity id.")
@click.option("--referral", "referral_id", help="Partner Center referral id.")
@config_option
def preview_command(
    opportunity_id: str | None, referral_id: str | None, config_path: Path | None
) -> None:
    """Show, field by field, what syncing one record would write to the other side.

    Reads both systems now and plans exactly as a sync does; writes nothing anywhere.
    """
    if bool(opportunity_id) == bool(referral_id):
        raise click.UsageError("give exactly one of --opportunity ID or --referral ID")
    kind: KeyKind = "opportunity" if opportunity_id else "referral"
    record_id = str(opportunity_id or referral_id)
    deps = command_deps()
    with reported():
        wiring = build_engine(settings_for(config_path), clock=deps.clock, http=deps.http)
    try:
        click.echo(render(preview(wiring.engine, kind, record_id)))
    except CosellError as exc:
        fail(str(exc), 1)
    finally:
        wiring.close()
