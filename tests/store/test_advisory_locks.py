"""Pair locks across processes: PostgreSQL advisory locks (two ``AdvisoryLocks``, each holding
its sessions, stand for two ``cosell run`` processes sharing one store)."""

from __future__ import annotations

import threading
from collections.abc import Iterator

import pytest
from sqlalchemy import Engine, create_engine, event, text

from cosell.store import database
from cosell.store.advisory_locks import AdvisoryLocks, lock_id, session_engine
from cosell.store.sql import Store
from cosell.sync.engine.pair_locks import key_locks_for
from support.wait import wait_until

pytestmark = pytest.mark.postgres

ADVISORY_LOCKS = (
    "FROM pg_locks WHERE locktype = 'advisory'"
    " AND database = (SELECT oid FROM pg_database WHERE datname = current_database())"
)
"""This database's advisory locks (``pg_locks`` shows the whole server's, other test runs'
too)."""


@pytest.fixture
def pg_engine(postgres_url: str) -> Iterator[Engine]:
    engine = create_engine(postgres_url)
    yield engine
    engine.dispose()


@pytest.fixture
def sessions(pg_engine: Engine) -> Iterator[Engine]:
    """The sessions of one process's locks."""
    engine = session_engine(pg_engine)
    yield engine
    engine.dispose()


@pytest.fixture
def other_sessions(pg_engine: Engine) -> Iterator[Engine]:
    """Another process's."""
    engine = session_engine(pg_engine)
    yield engine
    engine.dispose()


def holding_sessions(engine: Engine) -> list[int]:
    """The server processes of the sessions holding an advisory lock now."""
    query = f"SELECT DISTINCT pid {ADVISORY_LOCKS} AND granted"
    with engine.connect() as conn:
        return sorted(int(pid) for pid in conn.execute(text(query)).scalars())


def open_sessions(engine: Engine) -> set[int]:
    query = "SELECT pid FROM pg_stat_activity WHERE datname = current_database()"
    with engine.connect() as conn:
        return {int(pid) for pid in conn.execute(text(query)).scalars()}


def waiting_locks(engine: Engine) -> int:
    """Advisory lock requests some session is waiting for (not granted yet)."""
    query = f"SELECT count(*) {ADVISORY_LOCKS} AND NOT granted"
    with engine.connect() as conn:
        return int(conn.execute(text(query)).scalar_one())


def test_a_key_held_by_one_process_makes_the_other_wait(pg_engine: Engine) -> None:
    first, second = AdvisoryLocks(pg_engine, "t1"), AdvisoryLocks(pg_engine, "t1")
    order: list[str] = []
    with first.hold("referral:1") as held:
        assert held.names == {"referral:1"}

        def other() -> None:
            with second.hold("opportunity:1", "referral:1"):
                order.append("second in")

        thread = threading.Thread(target=other)
        thread.start()
        wait_until(lambda: waiting_locks(pg_engine) == 1)
        order.append("first out")
    thread.join(10)
    assert order == ["first out", "second in"]


def test_many_names_are_taken_in_one_round_trip_and_all_held(pg_engine: Engine) -> None:
    """A backfill batch holds hundreds of names: one statement takes them all, and another
    process can take none of them until they are let go."""
    locks, other = AdvisoryLocks(pg_engine, "t1"), AdvisoryLocks(pg_engine, "t1")
    names = [f"referral:{n}" for n in range(300)] + [f"customer:c{n}" for n in range(100)]
    statements: list[str] = []

    def seen(*args: object) -> None:
        statements.append(str(args[2]))

    event.listen(pg_engine, "before_cursor_execute", seen)
    try:
        with locks.hold(*names) as held, other.hold() as elsewhere:
            assert len([s for s in statements if "pg_advisory_lock" in s]) == 1
            assert held.names == set(names)
            with pg_engine.connect() as conn:
                granted = conn.execute(text(f"SELECT count(*) {ADVISORY_LOCKS} AND granted"))
                assert granted.scalar_one() == len(names)
            assert elsewhere.claim(["referral:7", "customer:c99"]) == frozenset()
    finally:
        event.remove(pg_engine, "before_cursor_execute", seen)
    with other.hold() as elsewhere:
        assert elsewhere.claim(["referral:7"]) == {"referral:7"}


def test_tenants_do_not_share_locks(pg_engine: Engine) -> None:
    first, second = AdvisoryLocks(pg_engine, "t1"), AdvisoryLocks(pg_engine, "t2")
    with first.hold("referral:1"), second.hold("referral:1") as other:
        assert other.names == {"referral:1"}
    assert lock_id("t1", "referral:1") != lock_id("t2", "referral:1")


def test_widening_waits_in_order_instead_of_deadlocking(pg_engine: Engine) -> None:
    locks = [AdvisoryLocks(pg_engine, "t1"), AdvisoryLocks(pg_engine, "t1")]
    both_hold = threading.Barrier(2, timeout=10)
    waited: dict[str, bool] = {}

    def reconcile(index: int, own: str, other: str) -> None:
        with locks[index].hold(own) as held:
            both_hold.wait()
            waited[own] = held.widen([other])
            assert held.names == {own, other}

    threads = [
        threading.Thread(target=reconcile, args=(0, "opportunity:1", "referral:1")),
        threading.Thread(target=reconcile, args=(1, "referral:1", "opportunity:1")),
    ]
    for t in threads:
        t.start()
    for t in threads:
        t.join(20)
    assert not any(t.is_alive() for t in threads)
    assert sorted(waited) == ["opportunity:1", "referral:1"]
    assert True in waited.values()


def test_widening_to_free_names_does_not_wait(pg_engine: Engine) -> None:
    locks = AdvisoryLocks(pg_engine, "t1")
    with locks.hold("referral:1") as held:
        assert held.widen(["referral:1", "opportunity:1"]) is False
        assert held.names == {"referral:1", "opportunity:1"}
    # Released on leaving, even after a failure inside the block.
    with pytest.raises(RuntimeError), locks.hold("referral:1"):
        raise RuntimeError("reconcile failed")
    with AdvisoryLocks(pg_engine, "t1").hold("referral:1", "opportunity:1") as again:
        assert again.names == {"referral:1", "opportunity:1"}


def test_claiming_takes_the_free_names_and_keeps_the_held_ones(pg_engine: Engine) -> None:
    """A create claims the key of the record it made: taken when free, skipped (not waited
    for, nothing let go) when another process holds it."""
    mine, theirs = AdvisoryLocks(pg_engine, "t1"), AdvisoryLocks(pg_engine, "t1")
    with theirs.hold("referral:2"), mine.hold("opportunity:1") as held:
        assert held.claim(["referral:1", "referral:2"]) == {"referral:1"}
        assert held.names == {"opportunity:1", "referral:1"}
        assert waiting_locks(pg_engine) == 0
    with mine.hold("opportunity:1", "referral:1", "referral:2") as again:
        assert again.names == {"opportunity:1", "referral:1", "referral:2"}


def test_a_reconcile_holds_its_locks_on_a_session_another_finished_with(
    postgres_url: str,
) -> None:
    """A store's reconciles lend each other their lock sessions: PostgreSQL starts a server
    process for each new connection, which cost a backfill more CPU a record than all else on
    its store. The session goes back holding nothing, and stays open for the next one."""
    store = Store.open(postgres_url)
    try:
        locks = key_locks_for(store, store.ensure_tenant("pooled"))
        used: list[int] = []
        for n in range(3):
            with locks.hold(f"referral:{n}", f"opportunity:{n}"):
                used += holding_sessions(store.engine)
        assert len(used) == 3
        assert len(set(used)) == 1
        assert holding_sessions(store.engine) == []
        assert used[0] in open_sessions(store.engine)
    finally:
        store.close()


def test_a_session_whose_lock_wait_was_cancelled_is_closed_not_lent_again(
    pg_engine: Engine, sessions: Engine, other_sessions: Engine
) -> None:
    """What a session holds after a lock statement that did not answer is not known: it is
    closed (the server lets go of all it held) instead of going back to the pool."""
    mine, theirs = AdvisoryLocks(sessions, "t1"), AdvisoryLocks(other_sessions, "t1")
    errors: list[Exception] = []

    def wait_for_it() -> None:
        try:
            with mine.hold("referral:1"):
                pass
        except Exception as exc:  # the cancelled statement's error, kept for the assert
            errors.append(exc)

    with theirs.hold("referral:1"):
        thread = threading.Thread(target=wait_for_it)
        thread.start()
        wait_until(lambda: waiting_locks(pg_engine) == 1)
        query = f"SELECT pid {ADVISORY_LOCKS} AND NOT granted"
        with pg_engine.connect() as conn:
            waiting = int(conn.execute(text(query)).scalar_one())
            conn.execute(text("SELECT pg_cancel_backend(:pid)"), {"pid": waiting})
        thread.join(10)
    assert errors, "the cancelled wait raised"
    wait_until(lambda: waiting not in open_sessions(pg_engine))
    with mine.hold("referral:1") as held:
        assert held.names == {"referral:1"}
        assert waiting not in holding_sessions(pg_engine)


def test_a_session_the_server_ended_is_not_lent_again(
    pg_engine: Engine, sessions: Engine, monkeypatch: pytest.MonkeyPatch
) -> None:
    """A session that rested is pinged before it is lent (here every one: the rest allowed is
    set to none, see :func:`cosell.store.database.ping_when_idle`)."""
    monkeypatch.setattr(database, "PING_AFTER", 0.0)
    locks = AdvisoryLocks(sessions, "t1")
    with locks.hold("referral:1"):
        (ended,) = holding_sessions(pg_engine)
    with pg_engine.connect() as conn:
        conn.execute(text("SELECT pg_terminate_backend(:pid)"), {"pid": ended})
    wait_until(lambda: ended not in open_sessions(pg_engine))
    with locks.hold("referral:1") as held:
        assert held.names == {"referral:1"}
        assert holding_sessions(pg_engine) != [ended]
