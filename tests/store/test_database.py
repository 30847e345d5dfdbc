from __future__ import annotations

import threading
from pathlib import Path

import sqlalchemy as sa
from alembic.autogenerate import compare_metadata
from alembic.runtime.migration import MigrationContext

from cosell.store import Store
from cosell.store.database import make_engine, schema_revision
from cosell.store.schema import metadata, owned_by_cosell


def test_open_creates_the_schema_from_empty_at_head(empty_url: str) -> None:
    engine = make_engine(empty_url)
    assert schema_revision(engine)[0] is None
    Store.open(empty_url).close()
    current, head = schema_revision(engine)
    assert head is not None
    assert current == head
    with engine.connect() as conn:
        diffs = compare_metadata(
            MigrationContext.configure(conn, opts={"include_name": owned_by_cosell}), metadata
        )
    engine.dispose()
    assert diffs == []


def test_reopening_a_current_store_keeps_its_data(store_url: str) -> None:
    first = Store.open(store_url)
    tenant = first.ensure_tenant("reopen")
    first.set_cursor(tenant, "sf", "2026-01-01T00:00:00Z")
    first.close()
    again = Store.open(store_url)
    assert again.get_cursor(tenant, "sf") == "2026-01-01T00:00:00Z"
    again.close()


def test_sqlite_connections_use_wal_busy_timeout_and_foreign_keys(tmp_path: Path) -> None:
    engine = make_engine(f"sqlite:///{tmp_path}/pragmas.db")
    with engine.connect() as conn:
        mode = conn.exec_driver_sql("PRAGMA journal_mode").scalar()
        timeout = conn.exec_driver_sql("PRAGMA busy_timeout").scalar()
        fks = conn.exec_driver_sql("PRAGMA foreign_keys").scalar()
    engine.dispose()
    assert (mode, fks) == ("wal", 1)
    assert isinstance(timeout, int)
    assert timeout >= 1000


def test_sqlite_store_creates_its_state_directory(tmp_path: Path) -> None:
    url = f"sqlite:///{tmp_path}/state/nested/cosell.db"
    Store.open(url).close()
    assert (tmp_path / "state" / "nested" / "cosell.db").is_file()


def test_sqlite_reads_do_not_wait_for_a_writer(tmp_path: Path) -> None:
    """A store read while another connection holds the write lock answers from its WAL
    snapshot at once; a transaction that writes still queues for the lock (``BEGIN
    IMMEDIATE``). A backfill's many workers read links all the time: behind the writers, each
    read waited for every commit before it."""
    store = Store.open(f"sqlite:///{tmp_path / 'cosell.db'}")
    tenant = store.ensure_tenant("acme")
    answered = threading.Event()
    found: list[object] = []

    def read() -> None:
        found.append(store.link_by_referral(tenant, "r-1"))
        found.append(store.get_cursor(tenant, "backfill"))
        answered.set()

    with store.engine.begin() as writer:  # BEGIN IMMEDIATE: the write lock, held
        writer.execute(sa.text("UPDATE tenants SET name = name"))
        reader = threading.Thread(target=read)
        reader.start()
        assert answered.wait(timeout=10)  # the old reads waited out the 30 s busy timeout
    reader.join()
    assert found == [None, None]
    store.close()
