"""``Store``: cosell's state in SQLite (default) or PostgreSQL, behind one small typed API."""

from __future__ import annotations

import itertools
import threading
from collections.abc import Collection, Iterator, Sequence
from contextlib import ExitStack, contextmanager
from datetime import datetime, timedelta
from pathlib import Path
from typing import Any, Literal

import sqlalchemy as sa
from sqlalchemy import Connection, Engine
from sqlalchemy.dialects import postgresql as postgresql_dialect
from sqlalchemy.dialects import sqlite as sqlite_dialect

from cosell import handback
from cosell.clock import Clock, SystemClock
from cosell.store import alerts, conflicts, jobs, ledger, links, prepared
from cosell.store import audit as audit_rows
from cosell.store.advisory_locks import session_engine
from cosell.store.alerts import Alert, StoredAlert
from cosell.store.database import READ_ONLY, make_engine, upgrade_to_head
from cosell.store.records import (
    AuditEntry,
    AuditRecord,
    ConflictState,
    DeadLetter,
    FieldConflict,
    Job,
    LedgerRow,
    LedgerState,
    LedgerUpdate,
    Link,
    LinkUpdate,
    Side,
    SignalScope,
    StoreStats,
    TenantId,
)
from cosell.store.schema import conflicts as conflicts_table
from cosell.store.schema import cursors, dead_letters, queue, tenants
from cosell.store.schema import links as links_table
from cosell.store.turns import WriterTurns

DB_FILENAME = "cosell.db"


def sqlite_url(state_dir: Path) -> str:
    """The default database: a SQLite file in the state directory."""
    return f"sqlite:///{state_dir / DB_FILENAME}"


SPARE_CONNECTIONS = sa.text(
    "SELECT current_setting('max_connections')::int"
    " - current_setting('superuser_reserved_connections')::int"
    " - (SELECT count(*) FROM pg_stat_activity WHERE backend_type = 'client backend')"
)


_CURSOR_WHERE = sa.and_(
    cursors.c.tenant_id == sa.bindparam("tenant"), cursors.c.name == sa.bindparam("cursor")
)
_CURSOR = sa.select(cursors.c.value).where(_CURSOR_WHERE)
_DIALECTS = (("sqlite", sqlite_dialect), ("postgresql", postgresql_dialect))
_CURSOR_ROW: dict[str, Any] = {
    "tenant_id": sa.bindparam("tenant"),
    "name": sa.bindparam("cursor"),
    "value": sa.bindparam("text"),
    "updated_at": sa.bindparam("now"),
}
_CURSOR_KEY = [cursors.c.tenant_id, cursors.c.name]
_PUT_CURSOR = {
    name: dialect.insert(cursors)
    .values(_CURSOR_ROW)
    .on_conflict_do_update(
        index_elements=_CURSOR_KEY,
        set_={"value": sa.bindparam("text"), "updated_at": sa.bindparam("now")},
    )
    for name, dialect in _DIALECTS
}
"""A cursor written is one statement on either database (an insert that updates the row
already there)."""
_ADD_CURSOR = {
    name: dialect.insert(cursors)
    .values(_CURSOR_ROW)
    .on_conflict_do_nothing(index_elements=_CURSOR_KEY)
    .returning(cursors.c.name)
    for name, dialect in _DIALECTS
}
"""A cursor added only where there is none (the first swap of :meth:`Store.swap_cursor`)."""
_DEAD_LETTER = sa.select(dead_letters).where(jobs.ONE_DEAD_LETTER)
"""A reconcile reads and writes these for every record (see :mod:`cosell.store.prepared`)."""


def _cursor_params(tenant: TenantId, name: str, value: str, now: datetime) -> dict[str, Any]:
    return {"tenant": tenant, "cursor": name, "text": value, "now": now}


class BlockRolledBack(RuntimeError):
    """A :meth:`Store.together` block went on after one of its store calls failed: the block
    is rolled back whole (its calls share one transaction, so a failed one cannot be undone
    alone), and this says so instead of committing the rest."""


class Store:
    """Links, base snapshots, cursors, audit, conflicts and the durable queue, per tenant.

    ``Store.open(url)`` migrates the schema to head. Every method runs in its own transaction;
    ``commit_sync`` writes a link, its base, cursors and audit rows in one, and
    :meth:`together` makes one transaction of the calls made inside it.
    """

    def __init__(self, engine: Engine, clock: Clock) -> None:
        self._engine = engine
        self.clock = clock
        self._turns = WriterTurns() if engine.dialect.name == "sqlite" else None
        """SQLite has one writer at a time: this process' transactions take turns (see
        :mod:`cosell.store.turns`); other processes' writers still wait in SQLite's busy
        handler."""
        self._reader = engine.execution_options(**{READ_ONLY: True})
        """The engine for :meth:`reading` (the same pool; its connections come marked)."""
        self._kept: dict[str, Connection] = {}
        """On SQLite, the one connection for reads and the one for writes, kept open: every
        store call takes its turn (:mod:`cosell.store.turns`), so no two threads of this
        process use one at once, and a call skips the pool's checkout and return (measured:
        a link read 106 µs a call from the pool, 66 µs on the kept connection)."""
        self._open = threading.local()
        """The connection of this thread's :meth:`together` block, while one is open."""
        self._sessions: Engine | None = None
        self._sessions_made = threading.Lock()

    @classmethod
    def open(cls, url: str, *, clock: Clock | None = None) -> Store:
        """Connect to ``url`` and upgrade its schema to the newest migration."""
        engine = make_engine(url)
        upgrade_to_head(engine)
        return cls(engine, clock or SystemClock())

    @property
    def engine(self) -> Engine:
        return self._engine

    def close(self) -> None:
        for conn in list(self._kept.values()):
            conn.close()
        self._kept.clear()
        self._engine.dispose()
        if self._sessions is not None:
            self._sessions.dispose()

    def lock_sessions(self) -> Engine:
        """The engine whose pooled sessions hold PostgreSQL's advisory locks for this store's
        reconciles (see :mod:`cosell.store.advisory_locks`): one per store, made when first
        asked for, closed with the store."""
        with self._sessions_made:
            if self._sessions is None:
                self._sessions = session_engine(self._engine)
            return self._sessions

    def spare_connections(self) -> int | None:
        """Connections the database server would still accept now from a role without superuser
        rights (PostgreSQL: ``max_connections`` less those reserved and those open); None on
        SQLite, which has no server to run out of them."""
        if self._engine.dialect.name != "postgresql":
            return None
        with self.reading() as conn:
            found = conn.execute(SPARE_CONNECTIONS).scalar_one()
        return int(found)

    def pool_connections(self) -> int:
        """Connections the store's own pool may open at most (its size and overflow)."""
        pool = self._engine.pool
        size = getattr(pool, "size", None)
        overflow = getattr(pool, "_max_overflow", 0)
        return int(size() if callable(size) else 1) + max(int(overflow), 0)

    @contextmanager
    def together(self) -> Iterator[None]:
        """The store calls this thread makes inside the block share one transaction: committed
        together at its end, rolled back together if anything in it raises. After a store call
        inside failed, the block is undone whole: any further call, and the block's end, raise
        :class:`BlockRolledBack`. Reads see the block's writes. For store work with no remote
        call in between (from its first write on, the block holds the write lock): on SQLite,
        where writers take turns, a reconcile's last few writes then take one turn instead of
        one each. The transaction begins with the block's first write: a block that writes
        nothing takes no turn and no transaction (reads before the first write are ordinary
        reads, so a read-then-write that must be atomic across processes writes first or
        relies on the pair's lock, as every caller does)."""
        if getattr(self._open, "conn", None) is not None or getattr(self._open, "lazy", None):
            yield
            return
        self._open.failed = False
        self._open.audit = []
        self._open.links = []
        self._open.cursors = {}
        self._open.ledger = None
        with ExitStack() as stack:
            self._open.lazy = stack
            try:
                yield
                if not self._open.failed:
                    self._write_links()
                    self._write_cursors()
                    self._write_ledger()
                    self._write_audit()
            finally:
                self._open.conn = None
                self._open.lazy = None
                self._open.audit = None
                self._open.links = None
                self._open.cursors = None
                self._open.ledger = None
        if self._open.failed:
            raise BlockRolledBack("a store call inside the block failed")

    def _write_links(self) -> None:
        """The link updates a together block kept (see :meth:`commit_sync`), written now in
        the order they came: a run of updates setting the same columns is one statement. They
        go at the block's end, before any read in it (reads see the block's writes) and before
        any other write of a link (an insert may meet an id one of them sets); the block's
        other writes (ledger, cursors, audit, conflicts, the queue) neither read links nor
        change them, so they go on meanwhile."""
        kept: list[tuple[tuple[str, ...], dict[str, Any]]] | None = getattr(
            self._open, "links", None
        )
        if not kept:
            return
        self._open.links = []
        with self._tx() as conn:
            for columns, run in itertools.groupby(kept, key=lambda update: update[0]):
                links.write_by_id(conn, columns, [params for _, params in run])

    def _write_cursors(self) -> None:
        """The cursors a together block set (see :meth:`set_cursor`), written now: one
        statement run for each (``executemany``), the last value set of each. They go at the
        block's end, before any read in it and before any other write of a cursor."""
        kept: dict[tuple[TenantId, str], dict[str, Any]] | None = getattr(
            self._open, "cursors", None
        )
        if not kept:
            return
        self._open.cursors = {}
        with self._tx() as conn:
            conn.execute(_PUT_CURSOR[conn.dialect.name], list(kept.values()))

    def _write_ledger(self) -> None:
        """The ledger rows a together block's puts kept (see :meth:`read_ledger_ahead`),
        inserted now in one statement: at the block's end, before any read in it and before
        any other write."""
        ahead: ledger.Ahead | None = getattr(self._open, "ledger", None)
        if ahead is None or not ahead.inserts:
            return
        with self._tx(ledger_kept=True) as conn:
            ledger.insert_kept(conn, ahead)

    def _audit(self, conn: Connection | None, rows: list[dict[str, Any]]) -> None:
        """Audit rows inserted now, or inside a together block kept for its end, where the
        block's rows go in one statement in the order they came (a batch of records appended a
        row or two each, a statement each). Nobody outside the block could see them before its
        end; inside it, a read of the audit writes them first."""
        kept: list[dict[str, Any]] | None = getattr(self._open, "audit", None)
        if kept is None:
            assert conn is not None  # outside a block, the caller's transaction
            audit_rows.insert(conn, rows)
        else:
            kept.extend(rows)

    def _write_audit(self) -> None:
        """The audit rows a together block kept, written now (in its transaction)."""
        kept: list[dict[str, Any]] | None = getattr(self._open, "audit", None)
        if not kept:
            return
        self._open.audit = []
        with self._tx() as conn:
            audit_rows.insert(conn, kept)

    @contextmanager
    def _tx(self, *, urgent: bool = False, ledger_kept: bool = False) -> Iterator[Connection]:
        if not ledger_kept:
            self._write_ledger()  # a write in a block goes after the ledger rows kept before it
        inside: Connection | None = getattr(self._open, "conn", None)
        lazy: ExitStack | None = getattr(self._open, "lazy", None)
        if inside is None and lazy is not None:  # a together block's first write: it begins
            self._open.lazy = None
            inside = self._open.conn = lazy.enter_context(self._tx(urgent=urgent))
            self._open.lazy = lazy
        if inside is not None:  # a call inside a together block: the block's transaction
            self._still_whole()
            try:
                yield inside
            except BaseException:
                self._open.failed = True
                raise
            return
        handback.checkpoint("a store transaction")
        if self._turns is None:
            with self._engine.begin() as conn:
                yield conn
            return
        with self._turns.turn(urgent=urgent), self._on_kept("write") as conn:
            yield conn

    @contextmanager
    def reading(self) -> Iterator[Connection]:
        """A transaction that only reads: on SQLite a deferred one, which in WAL mode neither
        takes nor waits for the write lock (``BEGIN IMMEDIATE`` is for writers, see
        :func:`cosell.store.database.make_engine`); this process' threads take turns at it
        (see :mod:`cosell.store.turns`), other processes' reads go on beside it."""
        self._write_links()  # the block's kept link updates are visible to its reads
        self._write_cursors()  # and its cursors
        self._write_ledger()  # and its ledger rows
        inside: Connection | None = getattr(self._open, "conn", None)
        if inside is not None:  # the block's own writes are visible to its reads
            self._still_whole()
            yield inside
            return
        handback.checkpoint("a store read")
        if self._turns is None:
            with self._reader.connect() as conn, conn.begin():
                yield conn
            return
        with self._turns.turn():
            if getattr(self._open, "reading", False):  # a read inside a read: a pool's own
                with self._reader.connect() as conn, conn.begin():
                    yield conn
                return
            self._open.reading = True
            try:
                with self._on_kept("read") as conn:
                    yield conn
            finally:
                self._open.reading = False

    def _still_whole(self) -> None:
        if getattr(self._open, "failed", False):
            raise BlockRolledBack("an earlier store call of this block failed")

    @contextmanager
    def _on_kept(self, role: str) -> Iterator[Connection]:
        """A transaction on this process' kept connection for ``role`` (SQLite, under a turn).
        A transaction that raises closes the connection: the next call opens a fresh one, so
        a connection left in doubt (an interrupted statement, a lost file) is never reused."""
        conn = self._kept.get(role)
        if conn is None or conn.closed or conn.invalidated:
            engine = self._reader if role == "read" else self._engine
            conn = self._kept[role] = engine.connect()
        try:
            with conn.begin():
                yield conn
        except BaseException:
            self._kept.pop(role, None)
            conn.close()
            raise

    def _now(self) -> datetime:
        return self.clock.now()

    # --- tenants ---------------------------------------------------------------------------------

    def ensure_tenant(self, name: str) -> TenantId:
        """The tenant's id, creating the tenant on first use (safe under concurrency)."""
        with self._tx() as conn:
            insert = prepared.insert_for(conn)(tenants).values(name=name, created_at=self._now())
            conn.execute(insert.on_conflict_do_nothing(index_elements=[tenants.c.name]))
            found = conn.execute(sa.select(tenants.c.id).where(tenants.c.name == name)).scalar_one()
        return TenantId(found)

    # --- links -----------------------------------------------------------------------------------

    def link_by_referral(self, tenant: TenantId, referral_id: str) -> Link | None:
        with self.reading() as conn:
            return links.by_column(conn, tenant, "referral_id", referral_id)

    def link_by_opportunity(self, tenant: TenantId, opportunity_id: str) -> Link | None:
        with self.reading() as conn:
            return links.by_column(conn, tenant, "opportunity_id", opportunity_id)

    def links_by_referral(self, tenant: TenantId, referral_ids: Sequence[str]) -> dict[str, Link]:
        """The links of those referrals that have one, by referral id (one read)."""
        with self.reading() as conn:
            return links.by_ids(conn, tenant, "referral_id", referral_ids)

    def links_by_opportunity(
        self, tenant: TenantId, opportunity_ids: Sequence[str]
    ) -> dict[str, Link]:
        """The links of those opportunities that have one, by opportunity id (one read)."""
        with self.reading() as conn:
            return links.by_ids(conn, tenant, "opportunity_id", opportunity_ids)

    def last_link_id(self, tenant: TenantId) -> int:
        """The highest link id of ``tenant`` (0 with none): links made later have higher ones."""
        stmt = sa.select(sa.func.max(links_table.c.id)).where(links_table.c.tenant_id == tenant)
        with self.reading() as conn:
            found = conn.execute(stmt).scalar_one_or_none()
        return int(found or 0)

    def record_create_intent(
        self,
        tenant: TenantId,
        side: Side,
        local_id: str,
        key: str,
        base: dict[str, Any] | None = None,
    ) -> Link:
        """Record, before the remote call, that ``side`` gets a record for ``local_id`` (and,
        when given, the base it will be created with)."""
        self._write_links()  # an update kept in this block may hold the id it inserts
        with self._tx() as conn:
            return links.record_intent(conn, tenant, side, local_id, key, self._now(), base)

    def record_create_intents(
        self,
        tenant: TenantId,
        side: Side,
        intents: Sequence[tuple[str, str, dict[str, Any] | None]],
    ) -> list[Link]:
        """:meth:`record_create_intent` for each ``(local_id, key, base)`` of a batch, the new
        links in one statement: the links in the order given."""
        self._write_links()  # an update kept in this block may hold an id it inserts
        with self._tx() as conn:
            return links.record_intents(conn, tenant, side, intents, self._now())

    def commit_sync(
        self,
        tenant: TenantId,
        link: LinkUpdate,
        audit: Sequence[AuditEntry],
        cursors: dict[str, str] | None = None,
        current: Link | None = None,
    ) -> Link:
        """One transaction: the link and its base, the audit rows and any cursors move
        together; the link as stored.

        ``current``: the link ``link.link_id`` names, as the caller last read or stored it
        (under the pair's lock, so nobody else changed it since). Inside a together block the
        update of a ``current`` link is kept and written with the block's other kept link
        updates at its end, or sooner before a read in it or another write of a link (see
        :meth:`_write_links`): many records' commits are one statement (``executemany``)
        instead of one each, and the link it answers is :func:`~cosell.store.links.applied`
        to ``current`` (what the statement decides from the row it updates)."""
        now = self._now()
        kept: list[tuple[tuple[str, ...], dict[str, Any]]] | None = getattr(
            self._open, "links", None
        )
        if kept is not None and current is not None and current.id == link.link_id and not cursors:
            self._still_whole()
            kept.append(links.by_id_params(tenant, link, now))
            stored = links.applied(current, link, now)
            ids = {"referral_id": stored.referral_id, "opportunity_id": stored.opportunity_id}
            self._audit(None, audit_rows.rows_of(tenant, audit, now, **ids))
            return stored
        self._write_links()  # in the order they came
        if cursors:
            self._write_cursors()
        with self._tx() as conn:
            stored = links.apply(conn, tenant, link, now)
            ids = {"referral_id": stored.referral_id, "opportunity_id": stored.opportunity_id}
            self._audit(conn, audit_rows.rows_of(tenant, audit, now, **ids))
            for name, value in (cursors or {}).items():
                self._put_cursor(conn, tenant, name, value, now)
        return stored

    # --- ledger ----------------------------------------------------------------------------------

    def record_state(self, tenant: TenantId, record: LedgerUpdate) -> bool:
        """Put a record in a ledger state; True when its state or reason changed. Inside a
        together block whose records' rows were read ahead, it reads none, and a new row is
        inserted with the block's others (see :meth:`read_ledger_ahead`)."""
        ahead: ledger.Ahead | None = getattr(self._open, "ledger", None)
        if ahead is not None and ahead.tenant != tenant:
            ahead = None
        with self._tx(ledger_kept=ahead is not None) as conn:
            return ledger.put(conn, tenant, record, self._now(), ahead)

    def read_ledger_ahead(
        self, tenant: TenantId, ids: Sequence[tuple[str | None, str | None]]
    ) -> None:
        """Inside a together block: the ledger rows of the ``(referral id, opportunity id)``
        pairs read now, in one statement, so the block's :meth:`record_state` for each reads
        none, and the new rows are inserted in one statement at the block's end (or before any
        read or other write in it). Outside a block: nothing."""
        if getattr(self._open, "lazy", None) is None:  # not inside a together block
            return
        with self.reading() as conn:  # (which writes the rows kept so far first)
            self._open.ledger = ledger.read_ahead(conn, tenant, ids)

    def ledger(self, tenant: TenantId) -> list[LedgerRow]:
        """Every record the tenant's connector has seen, with its state."""
        with self.reading() as conn:
            return ledger.all_of(conn, tenant)

    def ledger_for(self, tenant: TenantId, record_id: str) -> LedgerRow | None:
        """The ledger row of a referral or opportunity id."""
        with self.reading() as conn:
            return ledger.for_record(conn, tenant, record_id)

    def ledger_states(
        self, tenant: TenantId, kind: Literal["referral", "opportunity"], ids: Sequence[str]
    ) -> dict[str, LedgerState]:
        """The ledger states of those referrals (or opportunities) that have a row (one read)."""
        with self.reading() as conn:
            return ledger.states_of(conn, tenant, f"{kind}_id", ids)

    def ledger_counts(self, tenant: TenantId) -> dict[str, int]:
        with self.reading() as conn:
            return ledger.counts(conn, tenant)

    # --- cursors ---------------------------------------------------------------------------------

    def get_cursor(self, tenant: TenantId, name: str) -> str | None:
        with self.reading() as conn:
            found = conn.execute(_CURSOR, {"tenant": tenant, "cursor": name})
            value: str | None = found.scalar_one_or_none()
        return value

    def set_cursor(self, tenant: TenantId, name: str, value: str) -> None:
        """Write a cursor; inside a together block, at the block's end (a batch of records
        set one each, a statement each), or before a read in it or another write of a
        cursor."""
        kept: dict[tuple[TenantId, str], dict[str, Any]] | None = getattr(
            self._open, "cursors", None
        )
        if kept is not None:
            self._still_whole()
            kept.pop((tenant, name), None)  # the last set goes last
            kept[(tenant, name)] = _cursor_params(tenant, name, value, self._now())
            return
        with self._tx() as conn:
            self._put_cursor(conn, tenant, name, value, self._now())

    def swap_cursor(self, tenant: TenantId, name: str, expected: str | None, value: str) -> bool:
        """Write ``value`` only if the cursor still holds ``expected`` (``None``: there is
        none); True when written. Processes that share the store take turns by it: of two that
        read the same value, one swaps it."""
        now = self._now()
        self._write_cursors()
        with self._tx() as conn:
            if expected is None:
                params = {"tenant": tenant, "cursor": name, "text": value, "now": now}
                written = conn.execute(_ADD_CURSOR[conn.dialect.name], params)
            else:
                where = sa.and_(_CURSOR_WHERE, cursors.c.value == expected)
                update = sa.update(cursors).where(where).values(value=value, updated_at=now)
                written = conn.execute(
                    update.returning(cursors.c.name), {"tenant": tenant, "cursor": name}
                )
            return written.first() is not None  # psycopg's rowcount is -1 here

    def delete_cursor(self, tenant: TenantId, name: str) -> bool:
        """Delete a cursor; True when there was one."""
        where = sa.and_(cursors.c.tenant_id == tenant, cursors.c.name == name)
        self._write_cursors()
        with self._tx() as conn:
            return bool(conn.execute(sa.delete(cursors).where(where)).rowcount)

    def _put_cursor(
        self, conn: Connection, tenant: TenantId, name: str, value: str, now: datetime
    ) -> None:
        conn.execute(_PUT_CURSOR[conn.dialect.name], _cursor_params(tenant, name, value, now))

    # --- audit -----------------------------------------------------------------------------------

    def record_audit(self, tenant: TenantId, entries: Sequence[AuditEntry]) -> None:
        """Append audit rows that come with no link change (e.g. a rejected record)."""
        with self._tx() as conn:
            self._audit(conn, audit_rows.rows_of(tenant, entries, self._now()))

    def audit_for(self, tenant: TenantId, record_id: str, limit: int = 200) -> list[AuditRecord]:
        """Audit rows about a referral or an opportunity id, newest first."""
        self._write_audit()
        with self.reading() as conn:
            return audit_rows.for_record(conn, tenant, record_id, limit)

    def recent_audit(self, tenant: TenantId, limit: int = 50) -> list[AuditRecord]:
        self._write_audit()
        with self.reading() as conn:
            return audit_rows.recent(conn, tenant, limit)

    # --- queue -----------------------------------------------------------------------------------

    def enqueue(
        self,
        tenant: TenantId,
        key: str,
        due_at: datetime | None = None,
        *,
        priority: int = 0,
        scope: SignalScope = "both",
        change_time: str | None = None,
    ) -> None:
        """Mark ``key`` dirty. Deduplicated: one row per key, the earlier due time wins."""
        self.enqueue_many(
            tenant, [key], due_at, priority=priority, scope=scope, change_time=change_time
        )

    def enqueue_many(
        self,
        tenant: TenantId,
        keys: Sequence[str],
        due_at: datetime | None = None,
        *,
        priority: int = 0,
        scope: SignalScope = "both",
        change_time: str | None = None,
    ) -> None:
        """``enqueue`` for many keys in one transaction (sweeps and backfills): one upsert,
        run with each key's parameters."""
        now = self._now()
        with self._tx() as conn:
            jobs.enqueue(conn, tenant, keys, due_at or now, priority, now, scope, change_time)

    def claim(
        self,
        owner: str,
        now: datetime,
        lease_seconds: float,
        limit: int = 1,
        skip_tenants: Collection[TenantId] = (),
        among: jobs.Among | None = None,
    ) -> list[Job]:
        """Lease up to ``limit`` due keys, none of ``skip_tenants`` (with ``among``, only those
        keys of that tenant); a key is never leased twice at once. On SQLite a claim takes a
        writer's turn, so whether anything is due is learnt by a read first: a worker that
        finds nothing takes no turn. On PostgreSQL the claim (``SKIP LOCKED``) is that read
        too, in one round trip."""
        if self._turns is not None:
            with self.reading() as conn:
                if not jobs.any_claimable(conn, now, skip_tenants, among):
                    return []
        with self._tx(urgent=True) as conn:
            return jobs.claim(conn, owner, now, lease_seconds, limit, skip_tenants, among)

    def lease_keys(
        self, tenant: TenantId, keys: Sequence[str], owner: str, lease_seconds: float
    ) -> list[Job]:
        """Queue ``keys`` (as signals would: a key another worker holds is marked to run
        again) and lease for ``owner`` those nobody holds, in one transaction: work done
        outside the queue's workers is then never done by another worker at the same time."""
        now = self._now()
        with self._tx(urgent=True) as conn:
            jobs.enqueue(conn, tenant, keys, now, 0, now)
            return jobs.lease_keys(conn, tenant, keys, owner, now, lease_seconds)

    def complete_many(self, done: Sequence[Job]) -> None:
        """:meth:`complete` for many jobs, in one transaction."""
        with self._tx() as conn:
            jobs.complete_many(conn, done, self._now())

    def hand_back_many(self, held: Sequence[Job]) -> None:
        """:meth:`hand_back` for many jobs, in one transaction."""
        if not held:
            return
        now = self._now()
        with self._tx() as conn:
            for job in held:
                jobs.hand_back(conn, job, now)

    def lease_owners(self, tenant: TenantId) -> set[str]:
        """Who holds ``tenant``'s live leases (see :mod:`cosell.queue.owners`)."""
        with self.reading() as conn:
            return jobs.lease_owners(conn, tenant, self._now())

    def release_leases(self, tenant: TenantId, owners: Sequence[str]) -> int:
        """Let go of the leases ``owners`` hold (processes that are gone); how many."""
        if not owners:
            return 0
        with self._tx() as conn:
            return jobs.release_leases(conn, tenant, owners, self._now())

    def complete(self, job: Job) -> bool:
        """The run succeeded. False when the lease had been lost to another worker."""
        with self._tx() as conn:
            return jobs.complete(conn, job, self._now())

    def extend_lease(self, job: Job, lease_seconds: float) -> bool:
        """Keep a long run's lease alive for ``lease_seconds`` more; False when it was lost."""
        until = self._now() + timedelta(seconds=lease_seconds)
        with self._tx() as conn:
            return jobs.extend_lease(conn, job, until)

    def hand_back(self, job: Job) -> bool:
        """Release a running job's lease at shutdown so it runs again at once; False when the
        lease was no longer held."""
        with self._tx() as conn:
            return jobs.hand_back(conn, job, self._now())

    def retry_later(self, job: Job, due_at: datetime, error: str) -> bool:
        with self._tx() as conn:
            return jobs.retry_later(conn, job, due_at, error)

    def dead_letter(self, job: Job, reason: str) -> bool:
        with self._tx() as conn:
            return jobs.dead_letter(conn, job, reason, self._now())

    def next_due(self) -> datetime | None:
        """When the next key becomes claimable, if any is queued."""
        with self.reading() as conn:
            return jobs.next_due(conn)

    # --- dead letters ----------------------------------------------------------------------------

    def dead_letters(self, tenant: TenantId, limit: int | None = None) -> list[DeadLetter]:
        """The tenant's dead letters, newest first (at most ``limit``)."""
        stmt = sa.select(dead_letters).where(dead_letters.c.tenant_id == tenant)
        stmt = stmt.order_by(dead_letters.c.failed_at.desc()).limit(limit)
        with self.reading() as conn:
            rows = conn.execute(stmt).mappings().all()
        return [_dead_letter(row) for row in rows]

    def dead_letters_of(self, tenant: TenantId, keys: Sequence[str]) -> list[DeadLetter]:
        """The dead letters of those of ``keys`` that have one (a statement a thousand keys)."""
        found: list[DeadLetter] = []
        with self.reading() as conn:
            for chunk in prepared.in_chunks(keys):
                chosen = dead_letters.c.key.in_(chunk)
                stmt = sa.select(dead_letters).where(dead_letters.c.tenant_id == tenant, chosen)
                found += [_dead_letter(row) for row in conn.execute(stmt).mappings()]
        return found

    def dead_letter_for(self, tenant: TenantId, key: str) -> DeadLetter | None:
        """The dead letter of one key, if it has one."""
        with self.reading() as conn:
            found = conn.execute(_DEAD_LETTER, {"tenant": tenant, "key": key})
            row = found.mappings().first()
        return None if row is None else _dead_letter(row)

    def retry_dead_letter(self, tenant: TenantId, key: str) -> bool:
        """Move one dead letter back onto the queue, due now. False when there was none."""
        where = sa.and_(dead_letters.c.tenant_id == tenant, dead_letters.c.key == key)
        now = self._now()
        with self._tx() as conn:
            if conn.execute(sa.delete(dead_letters).where(where)).rowcount == 0:
                return False
            jobs.enqueue(conn, tenant, [key], now, 0, now)
        return True

    def retry_all_dead_letters(self, tenant: TenantId) -> int:
        """Requeue every dead letter of the tenant; returns how many."""
        return sum(self.retry_dead_letter(tenant, d.key) for d in self.dead_letters(tenant))

    # --- conflicts -------------------------------------------------------------------------------

    def open_conflict(
        self, tenant: TenantId, link_id: int, field: str, base: Any, pc: Any, crm: Any
    ) -> int:
        """Park a field both sides changed differently; returns the conflict id."""
        with self._tx() as conn:
            values = (base, pc, crm)
            return conflicts.open_conflict(conn, tenant, link_id, field, values, self._now())

    def conflicts(
        self, tenant: TenantId, state: ConflictState | None = "open", link_id: int | None = None
    ) -> list[FieldConflict]:
        """The tenant's conflicts in ``state`` (any when None), or only one link's."""
        with self.reading() as conn:
            return conflicts.listed(conn, tenant, state, link_id)

    def resolve_conflict(self, tenant: TenantId, conflict_id: int, resolution: str) -> bool:
        with self._tx() as conn:
            return conflicts.resolve(conn, tenant, conflict_id, resolution, self._now())

    def mark_conflicts_applied(self, tenant: TenantId, conflict_ids: Sequence[int]) -> int:
        """The engine wrote these resolved conflicts' choices to both sides."""
        if not conflict_ids:
            return 0
        with self._tx() as conn:
            return conflicts.mark_applied(conn, tenant, list(conflict_ids))

    # --- alerts ----------------------------------------------------------------------------------

    def add_alert(self, tenant: TenantId, alert: Alert, targets: Sequence[str]) -> bool:
        """Keep an alert for ``targets`` unless its subject's change is kept; True when new."""
        with self._tx() as conn:
            return alerts.add(conn, tenant, alert, targets, self._now())

    def due_alerts(self, tenant: TenantId, limit: int = 50) -> list[StoredAlert]:
        """The tenant's alerts with targets still to reach, due now."""
        with self._tx() as conn:
            return alerts.due(conn, tenant, self._now(), limit)

    def settle_alert(
        self,
        alert_id: int,
        pending: Sequence[str],
        error: str | None = None,
        next_at: datetime | None = None,
    ) -> None:
        with self._tx() as conn:
            alerts.settle(conn, alert_id, pending, error, next_at, self._now())

    def recent_alerts(self, tenant: TenantId, limit: int = 20) -> list[StoredAlert]:
        with self._tx() as conn:
            return alerts.recent(conn, tenant, limit)

    # --- status ----------------------------------------------------------------------------------

    def stats(self, tenant: TenantId) -> StoreStats:
        """Counts for ``cosell status``."""
        with self._tx() as conn:
            return _stats(conn, tenant)


def _count(conn: Connection, table: sa.Table, *where: Any) -> int:
    stmt = sa.select(sa.func.count()).select_from(table).where(*where)
    return int(conn.execute(stmt).scalar_one())


def _stats(conn: Connection, tenant: TenantId) -> StoreStats:
    by_state = (
        sa.select(links_table.c.state, sa.func.count())
        .where(links_table.c.tenant_id == tenant)
        .group_by(links_table.c.state)
    )
    oldest = sa.select(sa.func.min(queue.c.due_at)).where(queue.c.tenant_id == tenant)
    return StoreStats(
        links_by_state={state: int(n) for state, n in conn.execute(by_state).all()},
        queue_depth=_count(conn, queue, queue.c.tenant_id == tenant),
        leased=_count(conn, queue, queue.c.tenant_id == tenant, queue.c.lease_owner.is_not(None)),
        oldest_due=conn.execute(oldest).scalar_one_or_none(),
        dead_letters=_count(conn, dead_letters, dead_letters.c.tenant_id == tenant),
        open_conflicts=_count(
            conn,
            conflicts_table,
            conflicts_table.c.tenant_id == tenant,
            conflicts_table.c.state == "open",
        ),
    )


def _dead_letter(row: Any) -> DeadLetter:
    return DeadLetter(
        tenant_id=TenantId(row["tenant_id"]),
        key=row["key"],
        reason=row["reason"],
        attempts=row["attempts"],
        failed_at=row["failed_at"],
    )
