from __future__ import annotations

import threading

from cosell.clock import ManualClock
from cosell.queue.lease import LeaseKeeper
from cosell.store import Store

WAIT = 20.0


def test_beats_keep_a_running_job_leased_past_its_first_lease(
    store: Store, clock: ManualClock
) -> None:
    tenant = store.ensure_tenant("acme")
    store.enqueue(tenant, "referral:R1")
    [job] = store.claim("worker", clock.now(), 30)
    keeper = LeaseKeeper(store, lease_seconds=30)
    with keeper.holding(job):
        for _ in range(3):
            clock.advance(20)
            assert keeper.beat() == 1
            assert store.claim("intruder", clock.now(), 30) == []
    assert keeper.beat() == 0
    assert store.complete(job)
    assert store.stats(tenant).queue_depth == 0


def test_a_lost_lease_is_not_extended(store: Store, clock: ManualClock) -> None:
    tenant = store.ensure_tenant("acme")
    store.enqueue(tenant, "referral:R1")
    [stale] = store.claim("stalled", clock.now(), 30)
    clock.advance(31)
    [fresh] = store.claim("other", clock.now(), 30)
    keeper = LeaseKeeper(store, lease_seconds=30)
    with keeper.holding(stale):
        assert keeper.beat() == 0
    assert not store.complete(stale)
    assert store.complete(fresh)


def test_the_keeper_thread_beats_until_stopped(store: Store, clock: ManualClock) -> None:
    tenant = store.ensure_tenant("acme")
    store.enqueue(tenant, "referral:R1")
    [job] = store.claim("worker", clock.now(), 30)
    beats = threading.Semaphore(0)

    class CountingKeeper(LeaseKeeper):
        def beat(self) -> int:
            held = super().beat()
            beats.release()
            return held

    keeper = CountingKeeper(store, lease_seconds=30, interval=0.01)
    clock.advance(20)
    with keeper.holding(job):
        keeper.start()
        assert beats.acquire(timeout=WAIT)
        keeper.stop()
    clock.advance(20)
    assert store.claim("intruder", clock.now(), 30) == []
    clock.advance(11)
    assert [j.key for j in store.claim("intruder", clock.now(), 30)] == ["referral:R1"]
