"""``cosell mapping``: check a mapping file and show what it syncs."""

from __future__ import annotations

from collections.abc import Sequence
from pathlib import Path
from typing import TYPE_CHECKING, Any

import click
from rich.console import Console
from rich.table import Table
from rich.text import Text

from cosell.cli.lazy import LazyCommand, LazyGroup
from cosell.errors import ConfigError, CosellError
from cosell.sync.core.mapping import (
    SyncMapping,
    default_mapping,
    default_mapping_text,
    load_mapping,
)
from cosell.sync.core.mapping_changes import FieldChange
from cosell.sync.core.mapping_errors import MappingError, Problem

if TYPE_CHECKING:
    from cosell.operations.mapping_schema import Describe
    from cosell.settings import Settings

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
@click.option(
    "--config",
    "config_path",
    type=click.Path(dir_okay=False, path_type=Path),
    envvar="COSELL_CONFIG",
    help="TOML configuration file (env: COSELL_CONFIG): check its mapping against its org.",
)
def check(file: Path | None, config_path: Path | None) -> None:
    """Validate FILE (default: the configured mapping with --config, else the shipped one)
    against Partner Center's referral schema and, with --config, the org's fields and stages."""
    console = Console(soft_wrap=True)
    settings = _settings(config_path)
    if file is None and settings is not None:
        file = settings.sync.mapping_file
    try:
        mapping = load_mapping(file) if file else _shipped(settings)
    except MappingError as exc:
        for problem in exc.problems:
            click.echo(str(problem), err=True)
        raise SystemExit(1) from None
    problems = _schema_problems(mapping, file, settings)
    if problems:
        for problem in problems:
            click.echo(str(problem), err=True)
        raise SystemExit(1)
    console.print(summary_table(mapping))
    console.print(f"{len(mapping.fields)} fields OK ({file or 'shipped default mapping'})")


@mapping_command.command("diff")
@click.argument("old", required=False, type=click.Path(dir_okay=False, path_type=Path))
@click.argument("new", required=False, type=click.Path(dir_okay=False, path_type=Path))
@click.option(
    "--config",
    "config_path",
    type=click.Path(dir_okay=False, path_type=Path),
    envvar="COSELL_CONFIG",
    help="TOML configuration file (env: COSELL_CONFIG): compare with the mapping last applied "
    "to its store and count its links.",
)
def diff(old: Path | None, new: Path | None, config_path: Path | None) -> None:
    """Show what changing the mapping from OLD to NEW does to existing links.

    With --config and no OLD: the mapping last applied to the store (the service records it)
    against NEW, or against the configured mapping without NEW."""
    from cosell.operations.mapping_diff import diff_mappings

    settings = _settings(config_path)
    if old is not None and new is not None:
        result = diff_mappings(_load(old), _load(new), str(old), str(new))
    elif settings is None:
        raise click.UsageError(
            "give OLD and NEW mapping files, or --config to compare with "
            "the mapping last applied to the store"
        )
    else:
        target = old or settings.sync.mapping_file
        mapping = _load(target) if target else _shipped(settings)
        result = _against_store(settings, mapping, str(target or "the shipped mapping"))
    console = Console(soft_wrap=True)
    if result.changes:
        console.print(diff_table(result.changes))
    console.print(result.summary())


def _against_store(settings: Settings, mapping: SyncMapping, source: str) -> Any:
    from cosell.operations.mapping_diff import diff_against_applied
    from cosell.store.sql import Store

    store = Store.open(settings.database_url)
    try:
        tenant = store.ensure_tenant(settings.tenant.name)
        return diff_against_applied(store, tenant, mapping, source)
    finally:
        store.close()


def _load(path: Path) -> SyncMapping:
    try:
        return load_mapping(path)
    except MappingError as exc:
        for problem in exc.problems:
            click.echo(str(problem), err=True)
        raise SystemExit(1) from None


def diff_table(changes: Sequence[FieldChange]) -> Table:
    table = Table(title="Mapping changes", title_justify="left")
    for column in ("Field", "Change", "Before", "After", "Existing links"):
        table.add_column(column, overflow="fold")
    for change in changes:
        cells = (change.field, change.kind, _shown(change.old), _shown(change.new), change.effect)
        table.add_row(*map(Text, cells))
    return table


def _shown(value: Any) -> str:
    return "—" if value is None else str(value)


def _schema_problems(
    mapping: SyncMapping, file: Path | None, settings: Settings | None
) -> list[Problem]:
    """With --config: the referral schema, and the org's fields and stages when it answers."""
    if settings is None:
        return []
    from cosell.operations.mapping_schema import schema_problems

    text = file.read_text(encoding="utf-8") if file else _shipped_text(settings)
    source = file.name if file else "shipped default mapping"
    return schema_problems(mapping, text, source, _describe(settings))


def _settings(config_path: Path | None) -> Settings | None:
    if config_path is None:
        return None
    from cosell.cli.common import settings_for  # only with --config: keeps the plain check light

    try:
        return settings_for(config_path)
    except ConfigError as exc:
        click.echo(f"error: {exc}", err=True)
        raise SystemExit(2) from None


def _shipped(settings: Settings | None) -> SyncMapping:
    if settings is None:
        return default_mapping()
    from cosell.sync.engine.engine import mapping_from_settings

    return mapping_from_settings(settings)


def _shipped_text(settings: Settings | None) -> str:
    if settings is not None and settings.sync.crm == "hubspot":
        from cosell.sync.sides.hubspot.mapping import hubspot_mapping_text

        return hubspot_mapping_text()
    return default_mapping_text()


def _describe(settings: Settings | None) -> Describe | None:
    """The org's describe when the configuration names a Salesforce org that answers."""
    if settings is None or settings.sync.crm != "salesforce":
        return None
    from cosell.cli.common import CommandDeps
    from cosell.operations.deployment import Deployment

    found = click.get_current_context().find_object(CommandDeps)
    deps = found if found is not None else CommandDeps()
    deployment = Deployment(settings, deps.clock, deps.http)
    client = deployment.salesforce
    cache: dict[str, dict[str, Any]] = {}

    def describe(sobject: str) -> dict[str, Any]:
        if sobject not in cache:
            cache[sobject] = dict(client.describe(sobject))
        return cache[sobject]

    try:
        describe("Opportunity")
    except CosellError as exc:
        click.echo(f"note: the org could not be read ({exc}); CRM fields not checked", err=True)
        deployment.close()
        return None
    return describe


def summary_table(mapping: SyncMapping) -> Table:
    """One row per field: both paths, direction, owner, transform."""
    table = Table(title=f"Partner Center ⇄ {mapping.crm.object}")
    for column in ("field", "Partner Center", "", "CRM", "owner", "transform"):
        table.add_column(column, overflow="fold")
    for name, spec in mapping.fields.items():
        arrow = _ARROWS[spec.direction]
        table.add_row(name, spec.partner_center, arrow, spec.crm, spec.owner, spec.transform)
    return table
