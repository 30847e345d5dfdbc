"""``cosell store migrate``: a SQLite deployment moved to PostgreSQL keeps every row."""

from __future__ import annotations

import os
from collections.abc import Iterator
from pathlib import Path

import pytest
import sqlalchemy as sa
from click.testing import CliRunner

from cosell.cli.main import main
from cosell.store import Store, sqlite_url
from cosell.store import jobs as store_jobs
from cosell.store.records import AuditEntry, LinkUpdate
from cosell.store.schema import metadata
from cosell.store.testing import POSTGRES_URL_ENV, fresh_postgres_database

pytestmark = pytest.mark.postgres


@pytest.fixture
def target() -> Iterator[str]:
    base = os.environ.get(POSTGRES_URL_ENV)
    if not base:
        pytest.skip(f"{POSTGRES_URL_ENV} is not set")
    with fresh_postgres_database(base) as url:
        yield url


def filled_sqlite(tmp_path: Path) -> str:
    url = sqlite_url(tmp_path)
    store = Store.open(url)
    tenant = store.ensure_tenant("acme")
    store.commit_sync(
        tenant,
        LinkUpdate(referral_id="R1", opportunity_id="O1", base={"name": "Contoso", "value": 5}),
        [AuditEntry(direction="to_crm", outcome="synced", field="name", old=None, new="Contoso")],
        {"salesforce": "2026-12-01T00:00:00Z"},
    )
    store.record_create_intent(tenant, "partner_center", "O2", "idem-1")
    with store.engine.begin() as conn:
        store_jobs.put_dead_letter(
            conn, tenant, "opportunity:O3", "rejected: no country", 2, store.clock.now()
        )
    store.enqueue(tenant, "referral:R9")
    store.close()
    return url


def contents(url: str) -> dict[str, list[tuple[object, ...]]]:
    store = Store.open(url)
    with store.engine.connect() as conn:
        found = {
            t.name: sorted((tuple(r) for r in conn.execute(sa.select(t))), key=repr)
            for t in metadata.sorted_tables
        }
    store.close()
    return found


def test_a_sqlite_store_moves_to_postgresql_with_every_row(tmp_path: Path, target: str) -> None:
    source = filled_sqlite(tmp_path)
    result = CliRunner().invoke(main, ["store", "migrate", "--from", source, "--to", target])
    assert result.exit_code == 0, result.output
    assert "links: 2" in result.output
    before, after = contents(source), contents(target)
    assert after == before
    assert after["links"]
    assert after["audit"]
    assert after["dead_letters"]
    assert after["cursors"]
    moved = Store.open(target)  # new rows get fresh ids after the copied ones
    tenant = moved.ensure_tenant("acme")
    link = moved.commit_sync(tenant, LinkUpdate(referral_id="R7", opportunity_id="O7", base={}), [])
    assert link.id > max(row[0] for row in before["links"])  # type: ignore[operator]
    moved.close()


def test_a_target_with_data_is_refused(tmp_path: Path, target: str) -> None:
    source = filled_sqlite(tmp_path)
    first = CliRunner().invoke(main, ["store", "migrate", "--from", source, "--to", target])
    assert first.exit_code == 0
    again = CliRunner().invoke(main, ["store", "migrate", "--from", source, "--to", target])
    assert again.exit_code == 2
    assert "already holds cosell data" in again.stderr
