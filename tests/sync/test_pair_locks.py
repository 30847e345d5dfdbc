import threading

from engine_world import World

from cosell.sync.pair_locks import PairLocks


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


def test_both_keys_of_a_linked_pair_share_one_lock_name(world: World) -> None:
    referral = world.share_referral()
    world.engine.reconcile_key(f"referral:{referral['id']}")
    link = world.store.link_by_referral(world.tenant, referral["id"])
    assert link is not None
    assert link.opportunity_id
    by_referral = world.engine.pair_name("referral", referral["id"])
    by_opportunity = world.engine.pair_name("opportunity", link.opportunity_id)
    assert by_referral == by_opportunity == f"link:{link.id}"
    assert world.engine.pair_name("opportunity", "006000000000000AAA") != by_referral
