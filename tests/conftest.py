"""Shared fixtures. Store tests run on SQLite (a temp file) and on PostgreSQL when available."""

from __future__ import annotations

import os
from collections.abc import Iterator
from pathlib import Path

import pytest

from cosell.clock import ManualClock
from cosell.store import Store, sqlite_url
from cosell.store.testing import (
    BACKENDS,
    POSTGRES_URL_ENV,
    empty_all_tables,
    fresh_postgres_database,
)

POSTGRES_BASE = os.environ.get(POSTGRES_URL_ENV)
"""The PostgreSQL server given to this test run, read once: a test that empties its own
environment (the operations tests do) must not make the session's database look absent, and a
skip of the session fixture would be kept for every later test."""


def _no_postgres() -> None:
    """Skip a PostgreSQL test when no server was given; in CI (where ``scripts/test`` always
    starts one) that is a failure, so a run can never pass with its PostgreSQL half skipped."""
    if os.environ.get("CI"):
        pytest.fail(f"{POSTGRES_URL_ENV} is not set in CI")
    pytest.skip(f"{POSTGRES_URL_ENV} is not set")


@pytest.fixture(scope="session")
def postgres_url() -> Iterator[str]:
    """A database of its own for this test session, dropped at the end."""
    if not POSTGRES_BASE:
        _no_postgres()
    with fresh_postgres_database(POSTGRES_BASE) as url:
        yield url


@pytest.fixture(
    params=[
        pytest.param(b, marks=[pytest.mark.postgres] if b == "postgresql" else []) for b in BACKENDS
    ]
)
def backend(request: pytest.FixtureRequest) -> str:
    return str(request.param)


@pytest.fixture
def empty_url(backend: str, tmp_path: Path) -> Iterator[str]:
    """A database with no tables at all."""
    if backend == "sqlite":
        yield sqlite_url(tmp_path)
        return
    if not POSTGRES_BASE:
        _no_postgres()
    with fresh_postgres_database(POSTGRES_BASE) as url:
        yield url


@pytest.fixture
def store_url(backend: str, tmp_path: Path, request: pytest.FixtureRequest) -> str:
    if backend == "sqlite":
        return sqlite_url(tmp_path)
    return str(request.getfixturevalue("postgres_url"))


@pytest.fixture
def clock() -> ManualClock:
    return ManualClock()


@pytest.fixture
def store(store_url: str, clock: ManualClock) -> Iterator[Store]:
    """An open, migrated, empty store on each backend, on a manual clock."""
    opened = Store.open(store_url, clock=clock)
    empty_all_tables(opened.engine)
    yield opened
    opened.close()
