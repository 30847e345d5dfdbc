import threading
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest
import sqlalchemy as sa
from engine_world import World, build_world

from cosell.store import Store
from cosell.store.advisory_locks import AdvisoryLocks
from cosell.store.testing import empty_all_tables
from cosell.sync.engine.pair_locks import PairLocks
from cosell.sync.sides.salesforce.accounts import normalise
from support.wait import wait_until

ADVISORY_LOCKS = (
    "FROM pg_locks WHERE locktype = 'advisory'"
    " AND database = (SELECT oid FROM pg_database WHERE datname = current_database())"
)
"""This database's advisory locks (``pg_locks`` shows the whole server's, other test runs'
too)."""


def test_one_name_is_held_by_one_thread_at_a_time() -> None:
    locks = PairLocks()
    inside = threading.Event()
    release = threading.Event()
    order: list[str] = []

    def first() -> None:
        with locks.hold("link:1"):
            order.append("first in")
            inside.set()
            release.wait(5)
            order.append("first out")

    def second() -> None:
        inside.wait(5)
        with locks.hold("link:1"):
            order.append("second in")

    threads = [threading.Thread(target=first), threading.Thread(target=second)]
    for t in threads:
        t.start()
    assert inside.wait(5)
    # "second" is blocked on the name, and another name is free meanwhile.
    with locks.hold("link:2"):
        assert order == ["first in"]
    release.set()
    for t in threads:
        t.join(5)
    assert order == ["first in", "first out", "second in"]
    assert len(locks) == 0  # names are dropped once nobody holds or waits for them


def test_widening_waits_in_order_instead_of_deadlocking() -> None:
    """Two holders each want the other's name: one lets go, so both finish."""
    locks = PairLocks()
    both_hold = threading.Barrier(2, timeout=5)
    waited: dict[str, bool] = {}

    def reconcile(own: str, other: str) -> None:
        with locks.hold(own) as held:
            both_hold.wait()
            waited[own] = held.widen([other])
            assert held.names == {own, other}

    threads = [
        threading.Thread(target=reconcile, args=("opportunity:1", "referral:1")),
        threading.Thread(target=reconcile, args=("referral:1", "opportunity:1")),
    ]
    for t in threads:
        t.start()
    for t in threads:
        t.join(10)
    assert not any(t.is_alive() for t in threads)
    assert True in waited.values()  # at least one had to let go and wait
    assert len(locks) == 0


def test_widening_to_free_names_does_not_wait() -> None:
    locks = PairLocks()
    with locks.hold("referral:1") as held:
        assert held.widen(["referral:1", "opportunity:1"]) is False
        assert held.names == {"referral:1", "opportunity:1"}
        assert locks.users("opportunity:1") == 1
    assert len(locks) == 0


def test_claiming_takes_the_free_names_and_keeps_the_held_ones() -> None:
    """A create claims the key of the record it made: taken when free, skipped (not waited
    for, nothing let go) when another reconcile holds it."""
    locks = PairLocks()
    with locks.hold("referral:2"), locks.hold("opportunity:1") as held:
        assert held.claim(["referral:1", "referral:2"]) == {"referral:1"}
        assert held.names == {"opportunity:1", "referral:1"}
        assert (locks.users("referral:1"), locks.users("referral:2")) == (1, 1)
    assert len(locks) == 0


def test_both_keys_of_a_linked_pair_are_locked_together(world: World) -> None:
    referral = world.share_referral()
    world.engine.reconcile_key(f"referral:{referral['id']}")
    link = world.store.link_by_referral(world.tenant, referral["id"])
    assert link is not None
    assert link.opportunity_id
    keys = {f"referral:{referral['id']}", f"opportunity:{link.opportunity_id}"}
    assert world.engine.pair_keys("referral", referral["id"]) == keys
    assert world.engine.pair_keys("opportunity", link.opportunity_id) == keys
    assert world.engine.pair_keys("opportunity", "006000000000000AAA") == {
        "opportunity:006000000000000AAA"
    }


def test_a_new_opportunitys_own_key_waits_for_the_create_to_commit(world: World) -> None:
    """The poller may see an opportunity we just created before its link is committed. Its
    reconcile learns the referral from the record, waits for the creating reconcile, and then
    sees the link: a change Microsoft made meanwhile reaches the CRM, and the base agrees."""
    pairs = world.engine.pairs
    assert isinstance(pairs, PairLocks)
    race_a_create(world, lambda referral_id: pairs.users(f"referral:{referral_id}") == 2)


@pytest.mark.postgres
def test_on_postgresql_the_wait_is_the_databases(postgres_url: str, tmp_path: Path) -> None:
    """The same race with the store on PostgreSQL: the locks are advisory locks there, which
    every process sharing the store sees."""
    store = Store.open(postgres_url)
    world = build_world(tmp_path, store)
    try:
        assert isinstance(world.engine.pairs, AdvisoryLocks)
        race_a_create(world, lambda _referral_id: waiting_advisory_locks(store) == 1)
    finally:
        empty_all_tables(store.engine)
        store.close()


def race_a_create(world: World, polled_waits: Callable[[str], bool]) -> None:
    referral = world.share_referral(details={"dealValue": 12000, "currency": "EUR"})
    created, resume = threading.Event(), threading.Event()
    crm_create = world.engine.crm.create

    def paused_create(*args: Any, **kwargs: Any) -> str:
        opportunity_id = crm_create(*args, **kwargs)
        created.set()
        assert resume.wait(10)
        return opportunity_id

    world.engine.crm.create = paused_create  # type: ignore[method-assign]
    key = f"referral:{referral['id']}"
    creating = threading.Thread(target=world.engine.reconcile_key, args=(key,))
    creating.start()
    assert created.wait(10)
    opportunity_id = world.engine.crm.find_by_referral(referral["id"])
    assert opportunity_id is not None
    world.microsoft_update(referral["id"], details={"dealValue": 17250})
    key = f"opportunity:{opportunity_id}"
    polled = threading.Thread(target=world.engine.reconcile_key, args=(key,))
    polled.start()
    wait_until(lambda: polled_waits(referral["id"]))
    resume.set()
    for thread in (creating, polled):
        thread.join(10)
    assert world.engine.stats.pair_waits >= 1
    assert world.opp(opportunity_id)["Amount"] == 17250
    link = world.store.link_by_referral(world.tenant, referral["id"])
    assert link is not None
    assert link.base["deal_value"] == "17250.00"


def waiting_advisory_locks(store: Store) -> int:
    query = f"SELECT count(*) {ADVISORY_LOCKS} AND NOT granted"
    with store.engine.connect() as conn:
        return int(conn.execute(sa.text(query)).scalar_one())


def test_a_link_that_turns_up_after_the_sides_were_read_means_reading_them_again(
    world: World,
) -> None:
    """Found only through the other record, a link may have been committed while the sides
    were read, so the sides may predate its base: they are read again after the link."""
    referral = world.share_referral()
    world.engine.reconcile_key(f"referral:{referral['id']}")
    link = world.store.link_by_referral(world.tenant, referral["id"])
    assert link is not None
    assert link.opportunity_id
    reads: list[Any] = []
    read = world.engine.read

    def recorded(kind: Any, record_id: str, given: Any = None) -> Any:
        snapshot = read(kind, record_id, given)
        reads.append(given)
        if len(reads) == 1:  # as if the link had been committed during this read
            snapshot.link_found_late = True
        return snapshot

    world.engine.read = recorded  # type: ignore[method-assign]
    keys = world.engine.pair_keys("opportunity", link.opportunity_id)
    with world.engine.pairs.hold(*keys) as held:
        snapshot = world.engine._read_held("opportunity", link.opportunity_id, held)
    assert len(reads) == 2
    assert reads[0] is None
    assert reads[1] is not None
    assert reads[1].id == link.id
    assert not snapshot.link_found_late


def test_two_referrals_of_one_new_customer_make_one_account(world: World) -> None:
    """Reconciles of two referrals of a customer the CRM does not know yet run one after the
    other: the second matches the account the first created (it used to create a second one,
    and every later referral of that customer then met two accounts and waited as a conflict)."""
    customer = {"name": "Tailwind Outfitters", "address": {"country": "US"}}
    first = world.share_referral(name="First deal", customerProfile=customer)
    second = world.share_referral(name="Second deal", customerProfile=customer)
    created, resume = threading.Event(), threading.Event()
    crm_create = world.engine.crm.create

    def paused_create(*args: Any, **kwargs: Any) -> str:
        if not created.is_set():  # the first has matched no account and is about to create one
            created.set()
            assert resume.wait(10)
        return crm_create(*args, **kwargs)

    world.engine.crm.create = paused_create  # type: ignore[method-assign]
    creating = threading.Thread(
        target=world.engine.reconcile_key, args=(f"referral:{first['id']}",)
    )
    creating.start()
    assert created.wait(10)
    other = threading.Thread(target=world.engine.reconcile_key, args=(f"referral:{second['id']}",))
    other.start()
    pairs = world.engine.pairs
    assert isinstance(pairs, PairLocks)
    waiting = "customer:" + normalise("Tailwind Outfitters")
    wait_until(lambda: pairs.users(waiting) == 2 or not other.is_alive(), what="the second")
    resume.set()
    for thread in (creating, other):
        thread.join(10)
    accounts = world.sf_client.query_all(
        "SELECT Id FROM Account WHERE Name = 'Tailwind Outfitters'"
    )
    assert len(list(accounts)) == 1
    for referral in (first, second):
        link = world.store.link_by_referral(world.tenant, referral["id"])
        assert link is not None
        assert link.opportunity_id
