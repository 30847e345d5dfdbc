"""Copy a whole store into another database: a SQLite deployment moving to PostgreSQL.

Every cosell table is copied row for row with its ids (links, base snapshots, create intents,
cursors, audit, conflicts, dead letters, users, meters...), parents before children, in one
transaction on the target; PostgreSQL's id sequences are then moved past the copied ids. The
target must hold no cosell data yet, so nothing is ever merged or overwritten. Keys still in
the source's queue table are copied too: on PostgreSQL with procrastinate they are handed over
to the workers on their first round.
"""

from __future__ import annotations

from dataclasses import dataclass

import sqlalchemy as sa

from cosell.errors import ConfigError
from cosell.store.schema import metadata
from cosell.store.sql import Store


@dataclass(frozen=True)
class CopyReport:
    """Rows copied per table."""

    rows: dict[str, int]

    @property
    def total(self) -> int:
        return sum(self.rows.values())


def copy_store(source: Store, target: Store, batch: int = 1000) -> CopyReport:
    """Copy every row of ``source`` into the empty ``target``; ``ConfigError`` if it is not."""
    with target.engine.connect() as conn:
        for table in metadata.sorted_tables:
            if conn.execute(sa.select(sa.func.count()).select_from(table)).scalar_one():
                raise ConfigError(
                    "--to", f"the target database already holds cosell data ({table.name})"
                )
    rows: dict[str, int] = {}
    with source.engine.connect() as read, target.engine.begin() as write:
        for table in metadata.sorted_tables:
            order = list(table.primary_key.columns) or list(table.columns)
            result = read.execution_options(stream_results=True).execute(
                sa.select(table).order_by(*order)
            )
            count = 0
            for chunk in result.mappings().partitions(batch):
                write.execute(table.insert(), [dict(row) for row in chunk])
                count += len(chunk)
            rows[table.name] = count
        if write.dialect.name == "postgresql":
            _advance_sequences(write)
    return CopyReport(rows)


def _advance_sequences(conn: sa.Connection) -> None:
    for table in metadata.sorted_tables:
        for column in table.primary_key.columns:
            if not (column.autoincrement is True or column.autoincrement == "auto"):
                continue
            if not isinstance(column.type, sa.Integer):
                continue
            sequence = conn.execute(
                sa.text("SELECT pg_get_serial_sequence(:t, :c)"),
                {"t": table.name, "c": column.name},
            ).scalar_one_or_none()
            if sequence is None:
                continue
            top = conn.execute(sa.select(sa.func.max(column))).scalar_one_or_none()
            if top is not None:
                conn.execute(sa.text("SELECT setval(:s, :v)"), {"s": sequence, "v": top})
