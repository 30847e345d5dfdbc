"""Change signals about the version the engine already reconciled are not enqueued."""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import replace
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest
from signal_fakes import Cursors, RecordingQueue

from cosell.clock import ManualClock
from cosell.signals.feed import Change, ChangeFeed, FeedWiring, Synced
from cosell.signals.related_rows import CONTACT, CONTACT_ROLE, RelatedRow
from cosell.signals.synced import (
    opportunity_synced,
    referral_event_synced,
    referral_synced,
    related_synced,
)
from cosell.store.records import LinkUpdate, TenantId
from cosell.store.sql import Store, sqlite_url
from cosell.sync.sides.crm_record import row_version, split_row_version


def at(seconds: float) -> datetime:
    return datetime(2026, 3, 2, 9, 0, tzinfo=UTC) + timedelta(seconds=seconds)


@pytest.fixture
def store(tmp_path: Path) -> Iterator[tuple[Store, TenantId, ManualClock]]:
    clock = ManualClock(at(0))
    opened = Store.open(sqlite_url(tmp_path), clock=clock)
    yield opened, opened.ensure_tenant("t"), clock
    opened.close()


def enqueued(queue: RecordingQueue) -> list[tuple[str, datetime | None]]:
    """Each key enqueued with its due time (``None``: now)."""
    return list(zip(queue.keys, queue.due, strict=True))


def link(store: Store, tenant: TenantId, etag: str, modstamp: datetime) -> None:
    stamp = modstamp.strftime("%Y-%m-%dT%H:%M:%S.000+0000")
    update = LinkUpdate(
        referral_id="R1", opportunity_id="006A", base={}, pc_etag=etag, crm_modstamp=stamp
    )
    store.commit_sync(tenant, update, [])


def feed(
    rows: list[Change], queue: RecordingQueue, clock: ManualClock, synced: Synced
) -> ChangeFeed:
    return ChangeFeed(
        source=lambda _since: iter(rows),
        wiring=FeedWiring(queue, Cursors(), TenantId(1), timedelta(seconds=300), clock),
        cursor_name="c",
        key_prefix="k",
        synced=synced,
    )


def test_a_sweep_row_with_the_stored_etag_is_not_enqueued(store) -> None:  # type: ignore[no-untyped-def]
    db, tenant, _ = store
    link(db, tenant, '"e1"', at(0))
    check = referral_synced(db, tenant)
    assert check(Change("R1", at(0), '"e1"'), False) == "synced"
    assert check(Change("R1", at(1), '"e2"'), False) == "new"  # Microsoft changed it since
    assert check(Change("R2", at(1), '"e1"'), False) == "new"  # not ours
    assert check(Change("R1", at(1)), True) == "new"  # no version token: cannot tell


def test_our_own_write_polled_in_its_second_is_reconciled_once_when_settled(store) -> None:  # type: ignore[no-untyped-def]
    db, tenant, clock = store
    clock.advance(0.5)
    link(db, tenant, '"e1"', at(0))  # committed in the stamp's own second
    queue = RecordingQueue()
    poll = feed([Change("006A", at(0))], queue, clock, opportunity_synced(db, tenant))
    assert poll.look() == 0
    # An edit in that same second would hide behind the stamp: one look once it settles.
    assert enqueued(queue) == [("k:006A", at(10))]
    assert poll.look() == 0
    clock.advance(11)
    assert poll.look() == 0
    assert enqueued(queue) == [("k:006A", at(10))]


def test_another_version_in_a_second_already_rechecked_is_looked_at_again(store) -> None:  # type: ignore[no-untyped-def]
    """A version re-checked once its second settles is remembered; a later edit in that same
    second keeps the stamp but not the values, and is looked at again (before, the feed knew
    the row by its stamp and left it to the re-check, which the queue may run early)."""
    db, tenant, clock = store
    clock.advance(0.5)
    link(db, tenant, '"e1"', at(0))
    db.commit_sync(tenant, LinkUpdate(referral_id="R1", crm_fingerprint="v1"), [])
    rows = [Change("006A", at(0), "v2")]
    queue = RecordingQueue()
    poll = feed(rows, queue, clock, opportunity_synced(db, tenant))
    assert poll.look() == 0
    assert poll.look() == 0  # that version is remembered
    rows[0] = Change("006A", at(0), "v3")
    assert poll.look() == 0
    assert enqueued(queue) == [("k:006A", at(10)), ("k:006A", at(10))]


def test_a_stamp_read_after_its_second_settled_is_never_enqueued(store) -> None:  # type: ignore[no-untyped-def]
    db, tenant, clock = store
    clock.advance(20)
    link(db, tenant, '"e1"', at(0))
    queue = RecordingQueue()
    poll = feed([Change("006A", at(0))], queue, clock, opportunity_synced(db, tenant))
    assert poll.look() == 0
    assert enqueued(queue) == []


def test_a_newer_stamp_is_enqueued_at_once(store) -> None:  # type: ignore[no-untyped-def]
    db, tenant, clock = store
    link(db, tenant, '"e1"', at(0))
    clock.advance(2)
    queue = RecordingQueue()
    poll = feed([Change("006A", at(1))], queue, clock, opportunity_synced(db, tenant))
    assert poll.look() == 1
    assert enqueued(queue) == [("k:006A", None)]


def test_a_related_row_version_is_known_only_when_read_at_that_stamp_and_written_by_us(
    store: tuple[Store, TenantId, ManualClock],
) -> None:
    opened, tenant, _ = store
    stamp = "2026-03-02T09:00:05.000+0000"
    rows = {"contact:00K1": stamp, "solution:a0X1": stamp}
    update = LinkUpdate(referral_id="R1", opportunity_id="006A", base={}, crm_rows=rows)
    opened.commit_sync(tenant, update, [])
    known = related_synced(opened, tenant, lambda: "005000000000001AAA")

    def row(row_id: str, seconds: float, by: str | None = "005000000000001AAA") -> RelatedRow:
        return RelatedRow(row_id, at(seconds), "006A", by)

    assert known(CONTACT, row("00K1", 5))
    assert known(CONTACT, row("00K1", 5, by="005000000000001"))  # 15-character form
    assert not known(CONTACT, row("00K1", 6))  # a later version
    assert not known(CONTACT, row("00K1", 5, by="005000000000002AAA"))  # a person, same second
    assert not known(CONTACT_ROLE, row("00K1", 5))  # another signal's version of the row
    assert not known(CONTACT, row("00K2", 5))
    assert not related_synced(opened, tenant, lambda: None)(CONTACT, row("00K1", 5))
    # A commit without a CRM read keeps the versions.
    opened.commit_sync(tenant, LinkUpdate(referral_id="R1", pc_etag="e2"), [])
    assert known(CONTACT, row("00K1", 5))


def test_a_related_row_holding_the_values_read_is_known_whoever_saved_it(
    store: tuple[Store, TenantId, ManualClock],
) -> None:
    opened, tenant, _ = store
    stamp = "2026-03-02T09:00:05.000+0000"
    rows = {"contact:00K1": row_version(stamp, "d1"), "contact_role:00K1": row_version(stamp, "d2")}
    update = LinkUpdate(referral_id="R1", opportunity_id="006A", base={}, crm_rows=rows)
    opened.commit_sync(tenant, update, [])
    known = related_synced(opened, tenant, lambda: "005000000000001AAA")
    person = "005000000000002AAA"

    def row(row_id: str, seconds: float, digest: str, deleted: bool = False) -> RelatedRow:
        return RelatedRow(row_id, at(seconds), "006A", person, digest, deleted)

    assert known(CONTACT, row("00K1", 5, "d1"))  # a person, the same second, the same values
    assert known(CONTACT, row("00K1", 9, "d1"))  # saved again later, nothing read changed
    assert not known(CONTACT, row("00K1", 5, "d3"))  # other values in the same second
    assert not known(CONTACT_ROLE, row("00K1", 9, "d2", deleted=True))
    assert not known(CONTACT, row("00K2", 5, "d1"))
    # Other values through cosell's own user in the second read: not the version read either
    ours = RelatedRow("00K1", at(5), "006A", "005000000000001AAA", "d3")
    assert not known(CONTACT, ours)
    # A link committed before digests keeps stamps alone: the stamp and the user decide.
    assert split_row_version(stamp) == (stamp, None)
    assert split_row_version(rows["contact:00K1"]) == (stamp, "d1")


def test_a_stamp_read_in_its_own_second_and_committed_late_is_still_checked(store) -> None:  # type: ignore[no-untyped-def]
    """A reconcile read the opportunity in the stamp's second, then waited out a Retry-After
    before committing: an edit made after that read, in the same second, shares the stamp."""
    db, tenant, clock = store
    stamp = at(0).strftime("%Y-%m-%dT%H:%M:%S.000+0000")
    clock.advance(20)  # the commit, twenty seconds after the stamp
    update = LinkUpdate(
        referral_id="R1",
        opportunity_id="006A",
        base={},
        pc_etag='"e1"',
        crm_modstamp=stamp,
        crm_read_at=at(0) + timedelta(milliseconds=400),  # the read, in the stamp's second
    )
    db.commit_sync(tenant, update, [])
    check = opportunity_synced(db, tenant)
    assert check(Change("006A", at(0)), True) == "new"  # was "synced": a same-second edit lost
    db.commit_sync(tenant, replace(update, crm_read_at=at(11)), [])  # read once it had settled
    assert check(Change("006A", at(0)), True) == "synced"


def test_a_referral_event_is_cosells_own_write_only_at_the_very_tick_it_was_written(
    store: tuple[Store, TenantId, ManualClock],
) -> None:
    opened, tenant, _ = store
    own = referral_event_synced(opened, tenant)
    assert own("R1", "2026-03-02T09:00:01.1234567+00:00") is False  # no link yet
    update = LinkUpdate(referral_id="R1", opportunity_id="006A", base={}, pc_etag='"e1"')
    opened.commit_sync(tenant, update, [])
    assert own("R1", "2026-03-02T09:00:01.1234567+00:00") is False  # no change time kept
    written = "2026-03-02T09:00:01.1234567Z"  # updatedDateTime as the write returned it
    opened.commit_sync(tenant, LinkUpdate(referral_id="R1", pc_changed_at=written), [])
    assert own("R1", "2026-03-02T09:00:01.1234567+00:00") is True  # the same tick, other zone form
    assert own("R1", "2026-03-02T10:00:01.1234567+01:00") is True
    # One tick (100 ns) apart is another write: the sixth fractional digit alone would not tell.
    assert own("R1", "2026-03-02T09:00:01.1234568+00:00") is False
    assert own("R1", "2026-03-02T09:00:01.123456+00:00") is False
    assert own("R2", "2026-03-02T09:00:01.1234567+00:00") is False  # another referral
    assert own("R1", "yesterday") is False


def test_a_poll_row_holding_the_committed_values_is_known_in_any_second(
    store: tuple[Store, TenantId, ManualClock],
) -> None:
    db, tenant, clock = store
    clock.advance(0.5)
    link(db, tenant, '"e1"', at(0))  # committed in the stamp's own second
    update = LinkUpdate(referral_id="R1", crm_fingerprint="v1")
    db.commit_sync(tenant, update, [])
    check = opportunity_synced(db, tenant)
    # The values of the committed read: that version, unsettled or moved stamp alike.
    assert check(Change("006A", at(0), "v1"), False) == "synced"
    assert check(Change("006A", at(5), "v1"), False) == "synced"
    # Other values in the same second: an edit the stamp hides, looked at once it settles.
    assert check(Change("006A", at(0), "v2"), False) == "recheck"
    assert check(Change("006A", at(3), "v2"), False) == "new"
    assert check(Change("006B", at(0), "v1"), False) == "new"  # not linked
