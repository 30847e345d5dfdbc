from __future__ import annotations

import threading
from pathlib import Path

import pytest
import sqlalchemy as sa
from alembic.autogenerate import compare_metadata
from alembic.runtime.migration import MigrationContext

from cosell.store import Store, database
from cosell.store.database import make_engine, schema_revision
from cosell.store.schema import metadata, owned_by_cosell
from support.wait import wait_until


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


def _pings(store: Store, monkeypatch: pytest.MonkeyPatch) -> list[object]:
    """The pings the store's pool sends from now on."""
    pings: list[object] = []
    dialect = store.engine.dialect
    ping = dialect.do_ping

    def counted(dbapi_connection: object) -> bool:
        pings.append(dbapi_connection)
        return ping(dbapi_connection)

    monkeypatch.setattr(dialect, "do_ping", counted)
    return pings


def _sessions(admin: sa.Engine) -> list[int]:
    """The database's sessions but the asking one's."""
    query = (
        "SELECT pid FROM pg_stat_activity WHERE datname = current_database()"
        " AND pid <> pg_backend_pid()"
    )
    with admin.connect() as conn:
        return [int(pid) for pid in conn.execute(sa.text(query)).scalars()]


@pytest.mark.postgres
def test_a_busy_pool_lends_its_connections_without_a_ping(
    postgres_url: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    """A connection given back a moment ago costs no round trip of its own to be lent again:
    pinging every time was a quarter of a backfill's round trips to PostgreSQL."""
    store = Store.open(postgres_url)
    try:
        tenant = store.ensure_tenant("busy")
        pings = _pings(store, monkeypatch)
        for n in range(10):
            store.set_cursor(tenant, "sf", f"2026-01-01T00:00:0{n}Z")
            assert store.get_cursor(tenant, "sf") == f"2026-01-01T00:00:0{n}Z"
        assert pings == []
    finally:
        store.close()


@pytest.mark.postgres
def test_a_rested_connection_the_server_ended_is_replaced_before_it_is_used(
    postgres_url: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    """A connection that rested is pinged as it is lent (here every one: the rest allowed is
    set to none), and one the server ended (a restart, an idle timeout) is replaced: the store
    call does not fail."""
    monkeypatch.setattr(database, "PING_AFTER", 0.0)
    admin = sa.create_engine(postgres_url, poolclass=sa.NullPool)
    store = Store.open(postgres_url)
    try:
        tenant = store.ensure_tenant("rested")
        store.set_cursor(tenant, "sf", "2026-01-01T00:00:00Z")
        ended = _sessions(admin)
        assert ended
        pings = _pings(store, monkeypatch)
        with admin.connect() as conn:
            for pid in ended:
                conn.execute(sa.text("SELECT pg_terminate_backend(:pid)"), {"pid": pid})
        wait_until(lambda: not set(ended) & set(_sessions(admin)))
        assert store.get_cursor(tenant, "sf") == "2026-01-01T00:00:00Z"
        assert len(pings) == 1  # the ended connection; the new one is lent as made
    finally:
        store.close()
        admin.dispose()
