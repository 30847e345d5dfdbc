"""Statements the sync makes for every record, built once and run with parameters.

Building a SQLAlchemy statement and its cache key costs several times what SQLite takes to run
it (about 70 µs against 20 µs for a lookup by key on this machine), and a reconcile makes dozens.
The fixed ones are module constants where they are used; an update's columns vary with what
changed, so :func:`update_by_id` builds one per table and set of columns, once. Reads of many
keys at once go a thousand to an ``IN`` list (:func:`in_chunks`).
"""

from __future__ import annotations

from collections.abc import Iterator, Mapping, Sequence
from functools import cache
from typing import Any, TypeVar

import sqlalchemy as sa
from sqlalchemy import Connection
from sqlalchemy.dialects import postgresql, sqlite

ID = "id_"
"""The parameter naming the row to update (a column's own name is reserved for its value)."""


def _param(column: str) -> str:
    return f"new_{column}"


@cache
def update_by_id(table: sa.Table, columns: tuple[str, ...], returning: bool = False) -> Any:
    """``UPDATE table SET <columns> WHERE id = :id_`` (``RETURNING *`` when asked)."""
    stmt = (
        sa.update(table)
        .where(table.c.id == sa.bindparam(ID))
        .values({column: sa.bindparam(_param(column)) for column in columns})
    )
    return stmt.returning(table) if returning else stmt


def update_params(row_id: int, values: Mapping[str, Any]) -> dict[str, Any]:
    """The parameters of :func:`update_by_id` for ``values`` on row ``row_id``."""
    return {ID: row_id, **{_param(column): value for column, value in values.items()}}


def columns_of(values: Mapping[str, Any]) -> tuple[str, ...]:
    """The key :func:`update_by_id` is cached by: the columns, in a fixed order."""
    return tuple(sorted(values))


T = TypeVar("T")
KEYS_A_READ = 1000
"""Values at most in one ``IN`` list (SQLite allows 32,766 parameters a statement)."""


def in_chunks(values: Sequence[T]) -> Iterator[Sequence[T]]:
    """``values`` cut to fit an ``IN`` list each (one statement per chunk, in order)."""
    for start in range(0, len(values), KEYS_A_READ):
        yield values[start : start + KEYS_A_READ]


def insert_for(conn: Connection) -> Any:
    """The connection's dialect's ``insert`` construct (with ``on_conflict_*``)."""
    return insert_of(conn.dialect.name)


def insert_of(dialect: str) -> Any:
    """The ``insert`` construct of a dialect (with ``on_conflict_*``)."""
    return postgresql.insert if dialect == "postgresql" else sqlite.insert
