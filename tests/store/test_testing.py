"""The test helpers' fresh PostgreSQL database: dropped afterwards, unless kept to be read."""

from __future__ import annotations

import os

import pytest
import sqlalchemy as sa
from sqlalchemy.engine import make_url

from cosell.store.testing import POSTGRES_URL_ENV, fresh_postgres_database

pytestmark = pytest.mark.postgres


def databases(base: str, name: str) -> int:
    engine = sa.create_engine(base)
    try:
        with engine.connect() as conn:
            found = conn.execute(
                sa.text("SELECT count(*) FROM pg_database WHERE datname = :n"), {"n": name}
            )
            return int(found.scalar_one())
    finally:
        engine.dispose()


@pytest.mark.parametrize("keep", [False, True])
def test_a_fresh_database_is_dropped_unless_kept(keep: bool) -> None:
    base = os.environ.get(POSTGRES_URL_ENV)
    if not base:
        pytest.skip(f"{POSTGRES_URL_ENV} is not set")
    with fresh_postgres_database(base, prefix="cosell_kept", keep=keep) as url:
        name = str(make_url(url).database)
        assert databases(base, name) == 1
    try:
        assert databases(base, name) == (1 if keep else 0)
    finally:
        admin = sa.create_engine(base, isolation_level="AUTOCOMMIT")
        with admin.connect() as conn:
            conn.execute(sa.text(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)'))
        admin.dispose()
