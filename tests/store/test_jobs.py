from __future__ import annotations

import threading
from collections import Counter
from datetime import timedelta
from typing import Any

from sqlalchemy import event

from cosell.clock import ManualClock
from cosell.store import Job, Store


def _claim_all(store: Store, owner: str = "w", lease: float = 60, limit: int = 100) -> list[Job]:
    return store.claim(owner, store.clock.now(), lease, limit=limit)


def test_a_hundred_enqueues_of_one_key_make_one_job(store: Store) -> None:
    tenant = store.ensure_tenant("acme")
    for _ in range(100):
        store.enqueue(tenant, "referral:R1")
    assert store.stats(tenant).queue_depth == 1
    assert [j.key for j in _claim_all(store)] == ["referral:R1"]
    assert _claim_all(store, "other") == []


def test_dedupe_keeps_the_earlier_due_time_and_higher_priority(
    store: Store, clock: ManualClock
) -> None:
    tenant = store.ensure_tenant("acme")
    later, sooner = clock.now() + timedelta(minutes=10), clock.now() + timedelta(minutes=1)
    store.enqueue(tenant, "referral:A", later)
    store.enqueue(tenant, "referral:A", sooner, priority=5)
    store.enqueue(tenant, "referral:A", later, priority=1)
    clock.advance(60)
    [job] = _claim_all(store)
    assert (job.due_at, job.priority) == (sooner, 5)


def test_claim_takes_higher_priority_then_earlier_due_first(
    store: Store, clock: ManualClock
) -> None:
    tenant = store.ensure_tenant("acme")
    store.enqueue(tenant, "referral:old")
    clock.advance(1)
    store.enqueue(tenant, "referral:new")
    store.enqueue(tenant, "referral:urgent", priority=9)
    assert [j.key for j in _claim_all(store)] == ["referral:urgent", "referral:old", "referral:new"]


def test_a_key_is_not_claimed_before_it_is_due(store: Store, clock: ManualClock) -> None:
    tenant = store.ensure_tenant("acme")
    store.enqueue(tenant, "referral:R1", clock.now() + timedelta(seconds=30))
    assert _claim_all(store) == []
    assert store.next_due() == clock.now() + timedelta(seconds=30)
    clock.advance(30)
    assert len(_claim_all(store)) == 1


def test_a_leased_key_is_never_leased_twice(store: Store) -> None:
    tenant = store.ensure_tenant("acme")
    store.enqueue(tenant, "referral:R1")
    assert len(_claim_all(store, "a")) == 1
    store.enqueue(tenant, "referral:R1")
    assert _claim_all(store, "b") == []


def test_a_key_enqueued_while_leased_runs_again_exactly_once(store: Store) -> None:
    tenant = store.ensure_tenant("acme")
    store.enqueue(tenant, "referral:R1")
    [job] = _claim_all(store)
    for _ in range(3):
        store.enqueue(tenant, "referral:R1")
    assert store.complete(job)
    [rerun] = _claim_all(store)
    assert (rerun.key, rerun.attempts) == ("referral:R1", 1)
    assert store.complete(rerun)
    assert _claim_all(store) == []
    assert store.stats(tenant).queue_depth == 0


def test_an_expired_lease_is_reclaimed_and_the_old_holder_loses(
    store: Store, clock: ManualClock
) -> None:
    tenant = store.ensure_tenant("acme")
    store.enqueue(tenant, "referral:R1")
    [stale] = _claim_all(store, "crashed", lease=30)
    clock.advance(29)
    assert _claim_all(store, "b") == []
    clock.advance(2)
    [fresh] = _claim_all(store, "b")
    assert (fresh.lease_owner, fresh.attempts) == ("b", 2)
    assert not store.complete(stale)
    assert not store.retry_later(stale, clock.now(), "late")
    assert not store.dead_letter(stale, "late")
    assert store.complete(fresh)


def test_retry_later_releases_the_lease_until_due(store: Store, clock: ManualClock) -> None:
    tenant = store.ensure_tenant("acme")
    store.enqueue(tenant, "referral:R1")
    [job] = _claim_all(store)
    assert store.retry_later(job, clock.now() + timedelta(seconds=20), "boom access_token=s3cr3t")
    assert _claim_all(store) == []
    clock.advance(20)
    [again] = _claim_all(store)
    assert again.attempts == 2
    assert again.last_error is not None
    assert "s3cr3t" not in again.last_error
    assert again.last_error.startswith("boom")


def test_dead_letter_keeps_the_reason_and_can_be_retried(store: Store) -> None:
    tenant = store.ensure_tenant("acme")
    store.enqueue(tenant, "opportunity:006A")
    [job] = _claim_all(store)
    assert store.dead_letter(job, "RejectedError: invalid country")
    assert store.stats(tenant).queue_depth == 0
    [letter] = store.dead_letters(tenant)
    assert (letter.key, letter.reason, letter.attempts) == (
        "opportunity:006A",
        "RejectedError: invalid country",
        1,
    )
    assert store.retry_dead_letter(tenant, "opportunity:006A")
    assert not store.retry_dead_letter(tenant, "opportunity:006A")
    assert store.dead_letters(tenant) == []
    [again] = _claim_all(store)
    assert (again.key, again.attempts) == ("opportunity:006A", 1)


def test_retry_all_dead_letters_requeues_each_once(store: Store) -> None:
    tenant = store.ensure_tenant("acme")
    for key in ("referral:A", "referral:B"):
        store.enqueue(tenant, key)
    for job in _claim_all(store):
        store.dead_letter(job, "nope")
    assert store.retry_all_dead_letters(tenant) == 2
    assert sorted(j.key for j in _claim_all(store)) == ["referral:A", "referral:B"]


def test_a_later_success_clears_the_dead_letter(store: Store) -> None:
    tenant = store.ensure_tenant("acme")
    store.enqueue(tenant, "referral:A")
    [job] = _claim_all(store)
    store.dead_letter(job, "rejected")
    store.enqueue(tenant, "referral:A")
    [fixed] = _claim_all(store)
    assert store.complete(fixed)
    assert store.dead_letters(tenant) == []


def test_a_signal_during_a_failing_run_is_not_lost(store: Store) -> None:
    tenant = store.ensure_tenant("acme")
    store.enqueue(tenant, "referral:A")
    [job] = _claim_all(store)
    store.enqueue(tenant, "referral:A")
    store.dead_letter(job, "rejected")
    assert [j.key for j in _claim_all(store)] == ["referral:A"]


def test_concurrent_claimers_split_the_keys_without_overlap(store: Store) -> None:
    tenant = store.ensure_tenant("acme")
    keys = [f"referral:R{n}" for n in range(40)]
    for key in keys:
        store.enqueue(tenant, key)
    claimed: Counter[str] = Counter()
    lock = threading.Lock()

    def claimer(owner: str) -> None:
        while jobs := store.claim(owner, store.clock.now(), 60, limit=3):
            with lock:
                claimed.update(j.key for j in jobs)

    threads = [threading.Thread(target=claimer, args=(f"w{n}",)) for n in range(4)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(30)
    assert claimed == Counter(keys)


def test_enqueue_many_dedupes_within_and_across_calls(store: Store, clock: ManualClock) -> None:
    tenant = store.ensure_tenant("acme")
    store.enqueue(tenant, "referral:R0", clock.now() + timedelta(hours=1))
    keys = [f"referral:R{n % 700}" for n in range(1400)]
    store.enqueue_many(tenant, keys)
    claimed = _claim_all(store, limit=1000)
    assert sorted(j.key for j in claimed) == sorted(set(keys))
    assert {j.due_at for j in claimed} == {clock.now()}


def test_claim_never_returns_more_than_the_limit_under_contention(store: Store) -> None:
    tenant = store.ensure_tenant("acme")
    store.enqueue_many(tenant, [f"referral:R{n}" for n in range(30)])
    sizes: list[int] = []
    lock = threading.Lock()

    def claimer(owner: str) -> None:
        while jobs := store.claim(owner, store.clock.now(), 60, limit=1):
            with lock:
                sizes.append(len(jobs))
            for job in jobs:
                store.complete(job)

    threads = [threading.Thread(target=claimer, args=(f"w{n}",)) for n in range(4)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(30)
    assert sizes == [1] * 30


def test_a_key_keeps_one_sides_scope_only_while_every_signal_names_that_side(
    store: Store,
) -> None:
    tenant = store.ensure_tenant("acme")
    store.enqueue(tenant, "opportunity:O1", scope="crm")
    store.enqueue_many(tenant, ["opportunity:O1"], scope="crm")
    store.enqueue(tenant, "referral:R1", scope="partner_center")
    store.enqueue(tenant, "referral:R1", scope="crm")
    store.enqueue(tenant, "referral:R2", scope="partner_center")
    store.enqueue(tenant, "referral:R2")  # a retry, a full pass, a person: both sides
    store.enqueue(tenant, "referral:R3")
    store.enqueue(tenant, "referral:R3", scope="partner_center")
    scopes = {j.key: j.scope for j in _claim_all(store)}
    assert scopes == {
        "opportunity:O1": "crm",
        "referral:R1": "both",
        "referral:R2": "both",
        "referral:R3": "both",
    }


def test_a_key_keeps_the_change_its_signals_named_only_while_they_all_named_that_one(
    store: Store,
) -> None:
    """A webhook's change goes with its key, so the run can tell cosell's own write without a
    read; two different changes, or a signal naming none, leave none (the run reads)."""
    tenant = store.ensure_tenant("acme")
    first, later = "2026-12-05T10:00:00.1234567Z", "2026-12-05T10:00:01.7654321Z"
    store.enqueue(tenant, "referral:R1", scope="partner_center", change_time=first)
    store.enqueue(tenant, "referral:R1", scope="partner_center", change_time=first)  # again
    store.enqueue(tenant, "referral:R2", scope="partner_center", change_time=first)
    store.enqueue(tenant, "referral:R2", scope="partner_center", change_time=later)
    store.enqueue(tenant, "referral:R3", scope="partner_center", change_time=first)
    store.enqueue(tenant, "referral:R3", scope="partner_center")  # the sweep: no change named
    store.enqueue(tenant, "referral:R4", scope="partner_center")
    store.enqueue(tenant, "referral:R4", scope="partner_center", change_time=first)
    changes = {j.key: j.change_time for j in _claim_all(store)}
    assert changes == {
        "referral:R1": first,
        "referral:R2": None,
        "referral:R3": None,
        "referral:R4": None,
    }


def test_a_later_change_signalled_during_a_run_is_read_by_the_rerun(store: Store) -> None:
    tenant = store.ensure_tenant("acme")
    first, later = "2026-12-05T10:00:00.1234567Z", "2026-12-05T10:00:01.7654321Z"
    store.enqueue(tenant, "referral:R1", scope="partner_center", change_time=first)
    [job] = _claim_all(store)
    assert job.change_time == first
    store.enqueue(tenant, "referral:R1", scope="partner_center", change_time=later)
    assert store.complete(job)
    [rerun] = _claim_all(store)
    assert (rerun.scope, rerun.change_time) == ("partner_center", None)


def test_a_signal_of_the_other_side_during_a_run_widens_the_rerun(store: Store) -> None:
    tenant = store.ensure_tenant("acme")
    store.enqueue(tenant, "referral:R1", scope="partner_center")
    [job] = _claim_all(store)
    assert job.scope == "partner_center"
    store.enqueue(tenant, "referral:R1", scope="crm")
    assert store.complete(job)
    [rerun] = _claim_all(store)
    assert rerun.scope == "both"


def test_a_key_queued_for_later_while_it_runs_runs_again_then_not_at_once(
    store: Store, clock: ManualClock
) -> None:
    tenant = store.ensure_tenant("acme")
    store.enqueue(tenant, "opportunity:O1")
    [job] = _claim_all(store)
    # A poll's re-check, due when the second of the stamp it saw has settled.
    settled = clock.now() + timedelta(seconds=3)
    store.enqueue(tenant, "opportunity:O1", settled)
    assert store.complete(job)
    assert _claim_all(store) == []  # was: run again at once, before a same-second edit
    clock.advance(3)
    [rerun] = _claim_all(store)
    assert (rerun.key, rerun.due_at) == ("opportunity:O1", settled)


def test_the_earliest_time_asked_while_a_key_runs_wins(store: Store, clock: ManualClock) -> None:
    tenant = store.ensure_tenant("acme")
    store.enqueue(tenant, "opportunity:O1")
    [job] = _claim_all(store)
    store.enqueue(tenant, "opportunity:O1", clock.now() + timedelta(seconds=3))
    store.enqueue(tenant, "opportunity:O1")  # a signal due now: the rerun is due now
    store.enqueue(tenant, "opportunity:O1", clock.now() + timedelta(seconds=9))
    assert store.complete(job)
    assert [j.key for j in _claim_all(store)] == ["opportunity:O1"]


def test_many_keys_are_enqueued_by_one_statement_run_for_each(store: Store) -> None:
    """A backfill batch enqueues hundreds of keys: one prebuilt upsert run with every key's
    parameters, not a statement of hundreds of ``VALUES`` built anew each time (85 µs a key)."""
    tenant = store.ensure_tenant("acme")
    store.enqueue(tenant, "referral:R0")
    [leased] = _claim_all(store)
    calls: list[tuple[str, bool]] = []

    def seen(conn: Any, cursor: Any, statement: str, params: Any, ctx: Any, many: bool) -> None:
        calls.append((" ".join(statement.split()[:3]).upper(), many))

    event.listen(store.engine, "before_cursor_execute", seen)
    keys = ["referral:R0", *(f"referral:R{n}" for n in range(1, 450)), "referral:R1"]
    store.enqueue_many(tenant, keys)
    event.remove(store.engine, "before_cursor_execute", seen)

    assert calls == [("INSERT INTO QUEUE", True)]
    assert store.stats(tenant).queue_depth == 450
    assert store.complete(leased)  # R0 was leased: marked dirty, so it runs once more
    assert len(_claim_all(store, limit=1000)) == 450


def test_a_finished_key_no_signal_came_for_is_gone_in_one_statement(store: Store) -> None:
    """Every synced record completes its job: the queue row goes with the lease check in the
    delete itself (then the key's dead letter, if any), no read first."""
    tenant = store.ensure_tenant("acme")
    store.enqueue(tenant, "referral:R1")
    [job] = _claim_all(store)
    statements: list[str] = []
    event.listen(store.engine, "before_cursor_execute", lambda *a: statements.append(a[2]))
    assert store.complete(job)
    assert [" ".join(s.split()[:3]).upper() for s in statements] == [
        "DELETE FROM QUEUE",
        "DELETE FROM DEAD_LETTERS",
    ]
    assert store.stats(tenant).queue_depth == 0


def test_a_claim_on_a_server_is_one_statement_due_or_not(store: Store) -> None:
    """A worker claims its next key after every job. On PostgreSQL the claim (``SKIP
    LOCKED``) is its own look at what is due: one round trip, and none before it. On SQLite
    a claim takes a writer's turn, so a read looks first and spares it when nothing is due."""
    tenant = store.ensure_tenant("acme")
    store.enqueue(tenant, "referral:R1")
    statements: list[str] = []
    event.listen(store.engine, "before_cursor_execute", lambda *a: statements.append(a[2]))
    assert [j.key for j in _claim_all(store, limit=1)] == ["referral:R1"]
    due = [" ".join(s.split()[:2]).upper() for s in statements]
    statements.clear()
    assert _claim_all(store, limit=1) == []
    nothing_due = [" ".join(s.split()[:2]).upper() for s in statements]
    if store.engine.dialect.name == "postgresql":
        assert (due, nothing_due) == (["WITH PICKED"], ["WITH PICKED"])
    else:
        assert (due, nothing_due) == (["SELECT QUEUE.ID", "WITH PICKED"], ["SELECT QUEUE.ID"])


def test_keys_leased_outside_the_workers_are_not_claimed_until_completed_or_handed_back(
    store: Store, clock: ManualClock
) -> None:
    """A backfill's batched creates lease their keys as a worker does: a worker claims none of
    them meanwhile, one a worker holds is not leased, and at the end the finished keys are gone
    (their dead letters cleared), a signalled one runs again and the rest are due again."""
    tenant = store.ensure_tenant("acme")
    store.enqueue(tenant, "referral:held")
    [held] = _claim_all(store, "service")
    store.enqueue(tenant, "referral:failed-before")
    [earlier] = _claim_all(store, "service")
    store.dead_letter(earlier, "refused")

    leased = store.lease_keys(
        tenant,
        ["referral:done", "referral:signalled", "referral:left", "referral:held"],
        "batch",
        300,
    )
    again = store.lease_keys(tenant, ["referral:failed-before"], "batch", 300)

    assert sorted(j.key for j in leased) == ["referral:done", "referral:left", "referral:signalled"]
    assert _claim_all(store, "worker") == []
    store.enqueue(tenant, "referral:signalled")  # a webhook while the batch holds it
    mine = {j.key: j for j in [*leased, *again]}
    store.complete_many([mine["referral:done"], mine["referral:signalled"], *again])
    store.hand_back_many([mine["referral:left"]])
    assert sorted(j.key for j in _claim_all(store, "worker")) == [
        "referral:left",
        "referral:signalled",
    ]
    assert store.dead_letter_for(tenant, "referral:failed-before") is None
    assert store.complete(held)  # the service's lease was never touched


def test_a_claim_among_keys_leases_only_those_of_that_tenant(store: Store) -> None:
    acme, other = store.ensure_tenant("acme"), store.ensure_tenant("other")
    store.enqueue_many(acme, ["referral:A", "referral:B", "referral:C"])
    store.enqueue(other, "referral:A")
    among = (acme, ["referral:A", "referral:C"])
    claimed = store.claim("w", store.clock.now(), 60, limit=100, among=among)
    assert sorted((j.tenant_id, j.key) for j in claimed) == [
        (acme, "referral:A"),
        (acme, "referral:C"),
    ]
    assert store.claim("w", store.clock.now(), 60, limit=100, among=among) == []
    assert sorted((j.tenant_id, j.key) for j in _claim_all(store)) == [
        (acme, "referral:B"),
        (other, "referral:A"),
    ]


def test_leases_of_named_owners_are_let_go_and_claimed_again(store: Store) -> None:
    tenant = store.ensure_tenant("acme")
    store.enqueue_many(tenant, ["referral:A", "referral:B", "referral:C"])
    [a] = store.claim("dead:1:x", store.clock.now(), 300, limit=1)
    [b] = store.claim("alive:2:y", store.clock.now(), 300, limit=1)
    assert store.lease_owners(tenant) == {"dead:1:x", "alive:2:y"}

    assert store.release_leases(tenant, ["dead:1:x"]) == 1

    assert store.lease_owners(tenant) == {"alive:2:y"}
    again = _claim_all(store, "next")
    assert sorted(j.key for j in again) == sorted(
        {"referral:A", "referral:B", "referral:C"} - {b.key}
    )
    assert [j.attempts for j in again if j.key == a.key] == [1]  # the dead claim not counted
