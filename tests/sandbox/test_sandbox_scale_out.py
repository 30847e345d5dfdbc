"""``cosell sandbox --database-url URL --workers N``: the web shape in the sandbox's process and
N ``cosell worker`` processes reconciling the demo data through procrastinate."""

from __future__ import annotations

import os
from collections.abc import Iterator
from pathlib import Path

import pytest
import sqlalchemy as sa

from cosell.sandbox.stack import Sandbox, SandboxOptions
from cosell.store.testing import POSTGRES_URL_ENV, fresh_postgres_database
from support.wait import wait_until

pytestmark = pytest.mark.postgres


@pytest.fixture
def database() -> Iterator[str]:
    base = os.environ.get(POSTGRES_URL_ENV)
    if not base:
        pytest.skip(f"{POSTGRES_URL_ENV} is not set")
    with fresh_postgres_database(base) as url:
        yield url


def linked(url: str) -> int:
    engine = sa.create_engine(url)
    try:
        with engine.connect() as conn:
            sql = (
                "SELECT count(*) FROM links "
                "WHERE referral_id IS NOT NULL AND opportunity_id IS NOT NULL"
            )
            return int(conn.execute(sa.text(sql)).scalar_one())
    finally:
        engine.dispose()


def test_the_scale_out_sandbox_syncs_the_demo_data_with_worker_processes(
    tmp_path: Path, database: str
) -> None:
    options = SandboxOptions(tmp_path / "state", 0, 0, 0, database_url=database, workers=2)
    sandbox = Sandbox(options)
    try:
        sandbox.start()
        assert sandbox.runtime is not None
        assert sandbox.runtime.signals == []  # the web shape: the workers poll and sweep
        assert len(sandbox.worker_processes) == 2
        wait_until(lambda: linked(database) >= 3, 90, 0.2, "three linked records")
        assert linked(database) >= 3  # two shared referrals and the flagged opportunity
    finally:
        workers = list(sandbox.worker_processes)
        assert sandbox.stop()
    assert all(p.returncode == 0 for p in workers)
