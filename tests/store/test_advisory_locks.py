"""Pair locks across processes: PostgreSQL advisory locks (two ``AdvisoryLocks`` over separate
engines stand for two ``cosell run`` processes sharing one store)."""

from __future__ import annotations

import threading
from collections.abc import Iterator

import pytest
from sqlalchemy import Engine, create_engine, text

from cosell.store.advisory_locks import AdvisoryLocks, lock_id
from support.wait import wait_until

pytestmark = pytest.mark.postgres


@pytest.fixture
def pg_engine(postgres_url: str) -> Iterator[Engine]:
    engine = create_engine(postgres_url)
    yield engine
    engine.dispose()


def waiting_locks(engine: Engine) -> int:
    """Advisory lock requests some session is waiting for (not granted yet)."""
    query = "SELECT count(*) FROM pg_locks WHERE locktype = 'advisory' AND NOT granted"
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
