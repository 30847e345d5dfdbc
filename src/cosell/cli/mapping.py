"""``cosell mapping``: check a mapping file and show what it syncs."""

from __future__ import annotations

from pathlib import Path

import click
from rich.console import Console
from rich.table import Table

from cosell.cli.lazy import LazyCommand, LazyGroup
from cosell.sync.core.mapping import SyncMapping, default_mapping, load_mapping
from cosell.sync.core.mapping_errors import MappingError

MAPPING_COMMANDS = {
    "preview": LazyCommand(
        "cosell.cli.preview:preview_command",
        "Show, field by field, what syncing one record would write to the other side.",
    ),
}
"""Loaded on first use: ``preview`` reads both sides through the engine (store, clients)."""

_ARROWS = {"both": "⇄", "to_crm": "→", "to_partner_center": "←", "on_create": "create"}


@click.group("mapping", cls=LazyGroup, lazy=MAPPING_COMMANDS)
def mapping_command() -> None:
    """Inspect and validate field mappings."""


@mapping_command.command("check")
@click.argument("file", required=False, type=click.Path(dir_okay=False, path_type=Path))
def check(file: Path | None) -> None:
    """Validate FILE (default: the shipped mapping) and print what it syncs."""
    console = Console(soft_wrap=True)
    try:
        mapping = load_mapping(file) if file else default_mapping()
    except MappingError as exc:
        for problem in exc.problems:
            click.echo(str(problem), err=True)
        raise SystemExit(1) from None
    console.print(summary_table(mapping))
    console.print(f"{len(mapping.fields)} fields OK ({file or 'shipped default mapping'})")


def summary_table(mapping: SyncMapping) -> Table:
    """One row per field: both paths, direction, owner, transform."""
    table = Table(title=f"Partner Center ⇄ {mapping.crm.object}")
    for column in ("field", "Partner Center", "", "CRM", "owner", "transform"):
        table.add_column(column, overflow="fold")
    for name, spec in mapping.fields.items():
        arrow = _ARROWS[spec.direction]
        table.add_row(name, spec.partner_center, arrow, spec.crm, spec.owner, spec.transform)
    return table
