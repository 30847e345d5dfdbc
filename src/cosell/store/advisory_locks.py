"""Per-key locks shared by every process on one PostgreSQL store: session advisory locks.

Several ``cosell run`` processes may share one PostgreSQL database (the queue leases keys with
``SKIP LOCKED``). A reconcile must still hold every record key of its pair (see
:mod:`cosell.sync.engine.pair_locks`), and across processes only the database can hold them.
Each holder takes a connection of its own (autocommit) and session-level advisory locks on it: they
outlive transactions, and they are released by the server if the process dies with its connection.

The sessions are pooled (:func:`session_engine`, one pool per store): a reconcile takes a
session another finished with instead of opening a connection of its own (PostgreSQL starts a
server process for each). A session goes back to the pool holding nothing: its locks are let go
as the holder ends, and a session whose lock statement did not finish, or whose letting go
failed, is closed instead (the server then lets go of whatever it held).

A key becomes a signed 64-bit lock id (BLAKE2b of tenant and key). Blocking waits go in ascending
id order while holding nothing; widening only tries (``pg_try_advisory_lock``) and, when a try
fails, lets go of everything and waits for the whole set in order. So no holders wait in a cycle,
even when two keys share an id. Claiming (a create's new record) only tries, and keeps what it
took.
"""

from __future__ import annotations

import hashlib
from collections.abc import Iterable, Iterator
from contextlib import contextmanager

from sqlalchemy import Connection, Engine, TextClause, create_engine, text

from cosell.store.database import ping_when_idle

_LOCK = text("SELECT pg_advisory_lock(:id)")
_TRY = text("SELECT pg_try_advisory_lock(:id)")
_UNLOCK_ALL = text("SELECT pg_advisory_unlock_all()")
_LOCK_MANY = text(
    "SELECT count(pg_advisory_lock(wanted.id)) FROM "
    "(SELECT unnest(CAST(:ids AS bigint[])) AS id ORDER BY 1) AS wanted"
)
"""Every lock of a list, in ascending id order, in one round trip (a backfill batch's records
hold hundreds)."""


def lock_id(namespace: str, key: str) -> int:
    """A stable signed 64-bit id for ``key`` within ``namespace`` (a tenant)."""
    digest = hashlib.blake2b(f"{namespace}\x00{key}".encode(), digest_size=8).digest()
    return int.from_bytes(digest, "big", signed=True)


def session_engine(engine: Engine) -> Engine:
    """An engine for the holders' sessions, beside ``engine``'s pool (which stays for the
    store's own calls): autocommit, and a pool that keeps every session it opened (as many as
    reconciles ever held locks at once, one per busy worker), pinged as the store's are."""
    sessions = create_engine(
        engine.url,
        isolation_level="AUTOCOMMIT",
        pool_size=0,  # no limit on the sessions kept
        max_overflow=-1,
    )
    ping_when_idle(sessions)
    return sessions


class AdvisoryLocks:
    """Named locks held in PostgreSQL; the same interface as the in-process ``PairLocks``.
    ``engine`` lends the holders' sessions (see :func:`session_engine`)."""

    def __init__(self, engine: Engine, namespace: str) -> None:
        self._engine = engine
        self._namespace = namespace

    @contextmanager
    def hold(self, *names: str) -> Iterator[AdvisoryHeld]:
        """Block until every name is free, then hold them (and any added with ``widen``)."""
        with self._engine.connect() as conn:
            conn = conn.execution_options(isolation_level="AUTOCOMMIT")
            held = AdvisoryHeld(conn, self._namespace)
            try:
                held.take(names)
                yield held
            finally:
                held.let_go()


class AdvisoryHeld:
    """The names one reconcile holds, on its own database session."""

    def __init__(self, conn: Connection, namespace: str) -> None:
        self._conn = conn
        self._namespace = namespace
        self._held: dict[str, int] = {}
        self._unsure = False
        """A lock statement was sent and did not answer: the session may hold a lock that
        ``_held`` does not name."""

    @property
    def names(self) -> frozenset[str]:
        return frozenset(self._held)

    def take(self, names: Iterable[str]) -> None:
        """Wait for ``names`` in ascending lock id order (only while holding nothing)."""
        assert not self._held, "blocking waits happen only with nothing held"
        ids = {name: lock_id(self._namespace, name) for name in set(names)}
        if not ids:
            return
        if len(ids) == 1:
            [(name, value)] = ids.items()
            self._lock(_LOCK, value)
            self._held[name] = value
            return
        self._unsure = True
        self._conn.execute(_LOCK_MANY, {"ids": sorted(set(ids.values()))}).scalar_one()
        self._unsure = False
        self._held.update(ids)

    def widen(self, names: Iterable[str]) -> bool:
        """Hold ``names`` too. False when they were free at once; True when this had to let go
        and wait (another holder may have run meanwhile: what was read may be stale)."""
        new = {name: lock_id(self._namespace, name) for name in set(names) - set(self._held)}
        for name, value in sorted(new.items(), key=lambda item: item[1]):
            if not self._lock(_TRY, value):
                wanted = {*self._held, *new}
                self.release()
                self.take(wanted)
                return True
            self._held[name] = value
        return False

    def claim(self, names: Iterable[str]) -> frozenset[str]:
        """Hold those of ``names`` that are free now, without waiting or letting go of any:
        the names taken."""
        new = {name: lock_id(self._namespace, name) for name in set(names) - set(self._held)}
        taken = []
        for name, value in sorted(new.items(), key=lambda item: item[1]):
            if self._lock(_TRY, value):
                self._held[name] = value
                taken.append(name)
        return frozenset(taken)

    def release(self) -> None:
        if self._held:
            self._conn.execute(_UNLOCK_ALL)
        self._held.clear()

    def let_go(self) -> None:
        """Release everything as the holder ends, so the session goes back to the pool holding
        nothing; a session that may still hold a lock is closed instead."""
        if self._unsure:
            self._conn.invalidate()  # closed: the server lets go of all it held
            return
        try:
            self.release()
        except BaseException:
            self._conn.invalidate()
            raise

    def _lock(self, statement: TextClause, value: int) -> bool:
        self._unsure = True
        taken = self._conn.execute(statement, {"id": value}).scalar_one()
        self._unsure = False
        return bool(taken)
