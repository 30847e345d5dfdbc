from datetime import UTC, datetime, timedelta

import pytest
from signal_fakes import ACME, Cursors, FakeSalesforce, RecordingQueue

from cosell.signals.feed import FeedWiring
from cosell.signals.poller import (
    CURSOR_NAME,
    changed_opportunities_soql,
    opportunity_poller,
)

T0 = datetime(2026, 3, 1, 12, 0, tzinfo=UTC)


def at(seconds: float) -> datetime:
    return T0 + timedelta(seconds=seconds)


@pytest.fixture
def world() -> tuple[FakeSalesforce, RecordingQueue, Cursors]:
    return FakeSalesforce(), RecordingQueue(), Cursors()


def make(world: tuple[FakeSalesforce, RecordingQueue, Cursors], overlap: float = 300.0):  # type: ignore[no-untyped-def]
    client, queue, cursors = world
    return opportunity_poller(
        client, FeedWiring(queue, cursors, ACME, overlap=timedelta(seconds=overlap))
    )


def test_query_orders_by_stamp_and_id_and_filters() -> None:
    soql = changed_opportunities_soql(at(0.75), "Sync__c = true OR Ref__c != null")
    assert soql == (
        "SELECT Id, SystemModstamp FROM Opportunity WHERE (Sync__c = true OR Ref__c != null)"
        " AND SystemModstamp >= 2026-03-01T12:00:00Z ORDER BY SystemModstamp, Id"
    )
    assert "WHERE" not in changed_opportunities_soql(None)


def test_first_poll_reads_everything_and_sets_the_watermark(world) -> None:  # type: ignore[no-untyped-def]
    client, queue, cursors = world
    client.stamps = {"006A": at(10), "006B": at(5), "006C": at(20)}
    poller = make(world)
    assert poller.look() == 3
    assert queue.keys == ["opportunity:006B", "opportunity:006A", "opportunity:006C"]
    assert set(queue.scopes) == {"crm"}  # the CRM's signal: a reconcile looks there first
    assert "SystemModstamp >=" not in client.queries[0]
    assert cursors.values[(ACME, CURSOR_NAME)] == at(20).isoformat()
    assert poller.watermark == at(20)


def test_next_poll_reads_from_watermark_minus_overlap(world) -> None:  # type: ignore[no-untyped-def]
    client, _, _ = world
    client.stamps = {"006A": at(1000)}
    poller = make(world, overlap=300)
    poller.look()
    poller.look()
    assert "SystemModstamp >= 2026-03-01T12:11:40Z" in client.queries[1]


def test_overlap_rereads_but_enqueues_each_change_once(world) -> None:  # type: ignore[no-untyped-def]
    client, queue, cursors = world
    client.stamps = {"006A": at(100), "006B": at(200)}
    poller = make(world)
    assert poller.look() == 2
    assert poller.look() == 0
    client.stamps["006A"] = at(250)
    client.stamps["006L"] = at(150)  # committed late with an earlier stamp: inside the overlap
    assert poller.look() == 2
    assert queue.keys[2:] == ["opportunity:006L", "opportunity:006A"]
    assert cursors.values[(ACME, CURSOR_NAME)] == at(250).isoformat()


def test_watermark_never_moves_back(world) -> None:  # type: ignore[no-untyped-def]
    client, _, cursors = world
    client.stamps = {"006A": at(500)}
    poller = make(world, overlap=1000)
    poller.look()
    client.stamps = {"006A": at(500), "006Z": at(-100)}
    poller.look()
    assert cursors.values[(ACME, CURSOR_NAME)] == at(500).isoformat()


def test_progress_is_kept_when_a_page_fails(world) -> None:  # type: ignore[no-untyped-def]
    client, queue, cursors = world
    client.stamps = {"006A": at(10), "006B": at(20), "006C": at(30)}
    rows = client.query

    def failing(soql: str, *, priority: str | None = None):  # type: ignore[no-untyped-def]
        for index, row in enumerate(rows(soql, priority=priority)):
            if index == 2:
                raise ConnectionError("dropped")
            yield row

    client.query = failing  # type: ignore[method-assign]
    with pytest.raises(ConnectionError):
        make(world).look()
    assert queue.keys == ["opportunity:006A", "opportunity:006B"]
    assert cursors.values[(ACME, CURSOR_NAME)] == at(20).isoformat()


def test_polls_are_background_calls(world) -> None:  # type: ignore[no-untyped-def]
    client, _, _ = world
    make(world).look()
    assert client.priorities == ["background"]


def test_a_change_in_an_unsettled_second_is_read_again(world) -> None:  # type: ignore[no-untyped-def]
    # Stamps have one-second precision: a second edit in the same second keeps the stamp, so a
    # row whose second is not yet settled must be enqueued on every look until it is.
    from cosell.clock import ManualClock

    client, queue, _ = world
    clock = ManualClock(start=at(100))
    client.stamps = {"006A": at(100)}
    poller = opportunity_poller(
        client, FeedWiring(queue, world[2], ACME, overlap=timedelta(seconds=300), clock=clock)
    )
    assert poller.look() == 1
    assert poller.look() == 1  # same stamp, same second: may hide a second edit
    clock.advance(11)
    assert poller.look() == 1  # read once more now that the second has settled ...
    assert poller.look() == 0  # ... and then remembered
    assert queue.keys == ["opportunity:006A"] * 3


def test_a_look_enqueues_its_changes_in_one_write(world) -> None:  # type: ignore[no-untyped-def]
    client, queue, _ = world
    client.stamps = {f"006{n:02d}": at(n) for n in range(40)}
    assert make(world).look() == 40
    assert queue.writes == 1  # one transaction for the round, not one per change
    assert len(queue.keys) == 40


def test_changes_not_enqueued_are_read_again_by_the_next_look(world) -> None:  # type: ignore[no-untyped-def]
    client, queue, cursors = world
    client.stamps = {"006A": at(10), "006B": at(20)}
    poller = make(world)
    real = queue.enqueue_many

    def refused(*args: object, **kwargs: object) -> None:
        raise ConnectionError("the store is gone")

    queue.enqueue_many = refused  # type: ignore[method-assign]
    with pytest.raises(ConnectionError):
        poller.look()
    assert (ACME, CURSOR_NAME) not in cursors.values  # the watermark did not move past them
    queue.enqueue_many = real  # type: ignore[method-assign]
    assert poller.look() == 2  # nor do they count as seen: both come again
    assert queue.keys == ["opportunity:006A", "opportunity:006B"]
