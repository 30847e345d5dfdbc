"""Opening a database: engine settings per backend and migrating to the newest schema."""

from __future__ import annotations

import time
from pathlib import Path
from typing import Any

from alembic import command
from alembic.config import Config
from alembic.runtime.migration import MigrationContext
from alembic.script import ScriptDirectory
from sqlalchemy import Connection, Engine, create_engine, event, make_url, text
from sqlalchemy.exc import DisconnectionError
from sqlalchemy.pool import ConnectionPoolEntry

from cosell import json_codec
from cosell.private_files import private_dir, private_file, tighten

SCRIPT_LOCATION = "cosell.store:migrations"
SQLITE_BUSY_TIMEOUT_MS = 30_000
SQLITE_CACHE_KIB = 16_384
"""SQLite's page cache a connection, at most (its default is 2 MB). A store past tens of
thousands of records no longer had its indexes' pages in 2 MB: a 100,000-referral backfill
spent a tenth more CPU a record than a 10,000 one, reading pages back from the file."""
# Serialises concurrent `Store.open` migrations across processes sharing one PostgreSQL.
_PG_MIGRATION_LOCK = 0x636F73656C6C


READ_ONLY = "cosell_reads_only"
"""Execution option of a connection whose transaction only reads (see ``Store.reading``)."""


SERVER_CONNECTIONS = 15
"""Connections the store's pool keeps to a database server, at most: SQLAlchemy's default
maximum (5 kept and 10 more), all kept. The 10 more were closed as they came back while 5 were
idle, and under a backfill's workers (each a store call at a time) the pool opened a connection,
a server process on PostgreSQL, every three records."""


def make_engine(url: str) -> Engine:
    """An engine for ``url``; SQLite gets WAL, a busy timeout, foreign keys and write locks."""
    if url.startswith("sqlite"):
        return _sqlite_engine(url)
    engine = create_engine(
        url,
        pool_size=SERVER_CONNECTIONS,
        max_overflow=0,
        json_serializer=json_codec.dumps_text,
        json_deserializer=json_codec.loads,
    )
    ping_when_idle(engine)
    return engine


PING_AFTER = 1.0
"""Seconds a pooled server connection may rest before it is pinged as it is lent again."""


def ping_when_idle(engine: Engine) -> None:
    """Ping a pooled connection as it is lent, when it has rested ``PING_AFTER`` seconds or
    more since it was given back; one that fails is replaced before anyone uses it (a
    restarted server, a connection an idle timeout closed). SQLAlchemy's ``pool_pre_ping``
    pings every time, a round trip beside each store call's one or two: on a backfill's
    PostgreSQL store a quarter of all round trips. A connection given back less than a second
    ago was just answering; should the server have ended it meanwhile, the call on it fails
    as it would have a moment later, SQLAlchemy drops the pool's older connections, and the
    work queue tries the job again."""

    @event.listens_for(engine, "checkin")
    def _given_back(_dbapi_connection: Any, entry: ConnectionPoolEntry) -> None:
        entry.info["given_back"] = time.monotonic()

    @event.listens_for(engine, "checkout")
    def _lent(dbapi_connection: Any, entry: ConnectionPoolEntry, _proxy: Any) -> None:
        given_back = entry.info.get("given_back")
        if given_back is None or time.monotonic() - given_back < PING_AFTER:
            return  # just made, or just used
        try:
            engine.dialect.do_ping(dbapi_connection)
        except Exception as exc:  # any failure of the ping: the connection is not lent
            raise DisconnectionError(f"a pooled connection failed its ping: {exc}") from exc


def _sqlite_engine(url: str) -> Engine:
    database = make_url(url).database
    if database and database != ":memory:" and not database.startswith("file:"):
        path = Path(database)
        if not path.parent.exists():
            private_dir(path.parent)
        private_file(path)  # SQLite gives its -wal and -shm files the database file's mode
        for companion in ("-wal", "-shm", "-journal"):
            tighten(path.with_name(path.name + companion))
    engine = create_engine(
        url,
        connect_args={"check_same_thread": False},
        json_serializer=json_codec.dumps_text,
        json_deserializer=json_codec.loads,
    )

    @event.listens_for(engine, "connect")
    def _on_connect(dbapi_connection: Any, _record: Any) -> None:
        # Take over transaction control from the driver so BEGIN IMMEDIATE can be issued.
        dbapi_connection.isolation_level = None
        cursor = dbapi_connection.cursor()
        cursor.execute(f"PRAGMA busy_timeout = {SQLITE_BUSY_TIMEOUT_MS}")
        cursor.execute("PRAGMA journal_mode = WAL")
        cursor.execute("PRAGMA synchronous = NORMAL")
        cursor.execute("PRAGMA foreign_keys = ON")
        cursor.execute(f"PRAGMA cache_size = -{SQLITE_CACHE_KIB}")
        cursor.close()

    @event.listens_for(engine, "begin")
    def _on_begin(conn: Connection) -> None:
        # Writers queue on the busy timeout up front instead of failing a lock upgrade mid-way;
        # a transaction that only reads (Store.reading) reads its WAL snapshot without waiting.
        # Sent on the driver's connection: through exec_driver_sql it cost as much as the
        # statement the transaction is for (SQLAlchemy's execution machinery and events).
        reads_only = conn.get_execution_options().get(READ_ONLY, False)
        driver = conn.connection.dbapi_connection
        assert driver is not None  # a connection being begun is open
        driver.cursor().execute("BEGIN" if reads_only else "BEGIN IMMEDIATE")

    return engine


def alembic_config(connection: Connection | None = None) -> Config:
    """The Alembic configuration for cosell's shipped migrations."""
    config = Config()
    config.set_main_option("script_location", SCRIPT_LOCATION)
    if connection is not None:
        config.attributes["connection"] = connection
    return config


def upgrade_to_head(engine: Engine) -> None:
    """Apply every pending migration (a no-op when the schema is current)."""
    with engine.connect() as conn:
        if conn.dialect.name == "postgresql":
            conn.execute(text("SELECT pg_advisory_lock(:k)"), {"k": _PG_MIGRATION_LOCK})
            conn.commit()
        try:
            command.upgrade(alembic_config(conn), "head")
            conn.commit()
        finally:
            if conn.dialect.name == "postgresql":
                conn.execute(text("SELECT pg_advisory_unlock(:k)"), {"k": _PG_MIGRATION_LOCK})
                conn.commit()


def schema_revision(engine: Engine) -> tuple[str | None, str | None]:
    """The database's current revision and the newest shipped one."""
    head = ScriptDirectory.from_config(alembic_config()).get_current_head()
    with engine.connect() as conn:
        current = MigrationContext.configure(conn).get_current_revision()
    return current, head
