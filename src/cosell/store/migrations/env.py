"""Alembic environment: cosell runs migrations on a connection it hands over (``Store.open``)."""

from __future__ import annotations

from alembic import context
from sqlalchemy import Connection, create_engine

from cosell.store.schema import metadata, owned_by_cosell


def _run(connection: Connection) -> None:
    context.configure(
        connection=connection,
        target_metadata=metadata,
        render_as_batch=connection.dialect.name == "sqlite",
        compare_type=True,
        include_name=owned_by_cosell,
    )
    with context.begin_transaction():
        context.run_migrations()


def run() -> None:
    """Use the caller's connection, else the ``sqlalchemy.url`` option (``alembic`` CLI)."""
    connection = context.config.attributes.get("connection")
    if connection is not None:
        _run(connection)
        return
    url = context.config.get_main_option("sqlalchemy.url")
    if not url:
        raise RuntimeError("set sqlalchemy.url or pass a connection in config.attributes")
    engine = create_engine(url)
    with engine.connect() as conn:
        _run(conn)
    engine.dispose()


run()
