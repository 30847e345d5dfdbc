"""``cosell store …``: move a deployment's store to another database."""

from __future__ import annotations

import click

from cosell.errors import ConfigError


@click.group("store")
def store_command() -> None:
    """Migrate the store's schema, or move it to another database."""


@store_command.command("migrate")
@click.option("--from", "source", required=True, help="The current store's URL (e.g. SQLite).")
@click.option("--to", "target", required=True, help="The new, empty database's URL.")
def migrate_command(source: str, target: str) -> None:
    """Copy every link, base snapshot, audit row and dead letter into an empty database.

    Both databases are first brought to the newest schema (procrastinate's tables included on
    PostgreSQL). Stop the service before copying; point service.database_url at the target after.
    """
    from cosell.store.copy import copy_store
    from cosell.store.sql import Store

    try:
        source_store = Store.open(source)
        target_store = Store.open(target)
    except Exception as exc:  # a bad URL or an unreachable server
        click.echo(f"error: cannot open the store: {type(exc).__name__}", err=True)
        raise SystemExit(2) from None
    try:
        report = copy_store(source_store, target_store)
    except ConfigError as exc:
        click.echo(f"error: {exc}", err=True)
        raise SystemExit(2) from None
    finally:
        source_store.close()
        target_store.close()
    for table, count in report.rows.items():
        if count:
            click.echo(f"{table}: {count}")
    click.echo(f"copied {report.total} rows")
