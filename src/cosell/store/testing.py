"""Throwaway databases for tests and benchmarks: a fresh PostgreSQL database, an emptied store."""

from __future__ import annotations

import uuid
from collections.abc import Iterator
from contextlib import contextmanager

import sqlalchemy as sa
from sqlalchemy.engine import make_url

from cosell.store.schema import metadata


@contextmanager
def fresh_postgres_database(
    base_url: str, prefix: str = "cosell_test", *, keep: bool = False
) -> Iterator[str]:
    """Create an empty database next to ``base_url``'s, yield its URL, drop it afterwards
    (``keep``: leave it, to read its audit after a run)."""
    name = f"{prefix}_{uuid.uuid4().hex[:12]}"
    admin = sa.create_engine(base_url, isolation_level="AUTOCOMMIT")
    try:
        with admin.connect() as conn:
            conn.execute(sa.text(f'CREATE DATABASE "{name}"'))
        yield make_url(base_url).set(database=name).render_as_string(hide_password=False)
        if keep:
            return
        with admin.connect() as conn:
            conn.execute(sa.text(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)'))
    finally:
        admin.dispose()


def empty_all_tables(engine: sa.Engine) -> None:
    """Delete every row of cosell's tables (the schema and its revision stay)."""
    with engine.begin() as conn:
        for table in reversed(metadata.sorted_tables):
            conn.execute(table.delete())


BACKENDS = ("sqlite", "postgresql")
POSTGRES_URL_ENV = "COSELL_TEST_POSTGRES_URL"
