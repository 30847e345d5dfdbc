"""``cosell retry``: dead letters back onto the queue, by id, by key, or all of them; pairs
parked as loops resumed."""

from ops_world import OpsWorld, dead_letter

from cosell.store import watch
from cosell.store.records import LedgerUpdate, LinkUpdate


def test_retry_by_opportunity_id_requeues_the_linked_referral_key(world: OpsWorld) -> None:
    store, tenant = world.store()
    store.commit_sync(tenant, LinkUpdate(referral_id="R-1", opportunity_id="006A"), [])
    dead_letter(store, tenant, "referral:R-1", "RejectedError: country missing")
    dead_letter(store, tenant, "opportunity:006B", "RejectedError: no contact")

    code, out, err = world.cosell("retry", "006A")

    assert (code, err) == (0, "")
    assert "requeued referral:R-1" in out
    assert [d.key for d in store.dead_letters(tenant)] == ["opportunity:006B"]
    assert store.stats(tenant).queue_depth == 1


def test_retry_by_key_and_unknown_id(world: OpsWorld) -> None:
    store, tenant = world.store()
    dead_letter(store, tenant, "opportunity:006B", "boom")

    assert world.cosell("retry", "opportunity:006B")[0] == 0
    assert store.dead_letters(tenant) == []
    code, _, err = world.cosell("retry", "006Z")
    assert code == 1
    assert "no dead letter for 006Z" in err


def test_retry_all_failed_requeues_every_dead_letter(world: OpsWorld) -> None:
    store, tenant = world.store()
    keys = ["referral:R-1", "referral:R-2", "opportunity:006C"]
    for key in keys:
        dead_letter(store, tenant, key, "ServerError")
    assert store.stats(tenant).queue_depth == 0

    code, out, _ = world.cosell("retry", "--all-failed")

    assert code == 0
    assert all(f"requeued {key}" in out for key in keys)
    assert "3 requeued" in out
    assert store.dead_letters(tenant) == []
    assert store.stats(tenant).queue_depth == 3


def test_retry_needs_an_id_or_all_failed(world: OpsWorld) -> None:
    assert world.cosell("retry")[0] == 2


def test_a_blank_target_names_no_record(world: OpsWorld) -> None:
    from cosell.operations.retry import retry_one

    store, tenant = world.store()
    dead_letter(store, tenant, "opportunity:006B", "boom")
    assert retry_one(store, tenant, "") == []  # was ValueError: not a queue key: 'referral:'
    assert retry_one(store, tenant, "  ") == []
    assert len(store.dead_letters(tenant)) == 1


def test_retry_resumes_a_parked_pair_and_all_failed_resumes_every_one(world: OpsWorld) -> None:
    store, tenant = world.store()
    for n in (1, 2):
        link = store.commit_sync(
            tenant, LinkUpdate(referral_id=f"R-{n}", opportunity_id=f"006{n}"), []
        )
        why = "kept writing without converging"
        store.record_state(tenant, LedgerUpdate("parked", f"R-{n}", f"006{n}", reason=why))
        watch.save(store, tenant, link.id, {"count": 20, "parked": why})

    code, out, err = world.cosell("retry", "0061")
    assert (code, err) == (0, "")
    assert "requeued referral:R-1" in out
    assert "opportunity:0061" in out
    assert sorted(watch.parked(store, tenant)) == [2]
    assert world.cosell("retry", "")[0] != 0  # not an id: nothing resumed, no crash

    assert world.cosell("retry", "--all-failed")[0] == 0
    assert watch.parked(store, tenant) == {}
