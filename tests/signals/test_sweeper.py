from datetime import UTC, datetime, timedelta

from signal_fakes import ACME, Cursors, FakePartnerCenter, RecordingQueue

from cosell.signals.feed import FeedWiring
from cosell.signals.sweeper import CURSOR_NAME, referral_sweeper

T0 = datetime(2026, 3, 1, 12, 0, tzinfo=UTC)


def at(seconds: float) -> datetime:
    return T0 + timedelta(seconds=seconds)


def test_sweeps_everything_first_then_from_watermark_minus_overlap() -> None:
    client, queue, cursors = FakePartnerCenter(), RecordingQueue(), Cursors()
    client.updated = {"r-1": at(30), "r-2": at(10)}
    sweeper = referral_sweeper(
        client, FeedWiring(queue, cursors, ACME, overlap=timedelta(seconds=60))
    )
    assert sweeper.look() == 2
    assert client.listings[0] is None
    assert queue.keys == ["referral:r-2", "referral:r-1"]
    assert set(queue.scopes) == {"partner_center"}
    assert cursors.values[(ACME, CURSOR_NAME)] == at(30).isoformat()

    client.updated["r-3"] = at(40)
    client.updated["r-4"] = at(-90)  # older than the overlap: not read again
    assert sweeper.look() == 1
    assert client.listings[1] == at(-30)
    assert queue.keys[2:] == ["referral:r-3"]
    assert cursors.values[(ACME, CURSOR_NAME)] == at(40).isoformat()


def test_a_referral_updated_twice_is_enqueued_twice() -> None:
    client, queue, cursors = FakePartnerCenter(), RecordingQueue(), Cursors()
    client.updated = {"r-1": at(30)}
    sweeper = referral_sweeper(
        client, FeedWiring(queue, cursors, ACME, overlap=timedelta(seconds=60))
    )
    sweeper.look()
    client.updated["r-1"] = at(31)
    sweeper.look()
    assert queue.keys == ["referral:r-1", "referral:r-1"]


def test_a_referral_without_a_stamp_is_skipped() -> None:
    from cosell.clients.referral import Referral

    class Listing:
        def changed_since(self, since):  # type: ignore[no-untyped-def]
            yield Referral.model_validate({"id": "r-1"})
            yield Referral.model_validate({"id": "r-2", "updatedDateTime": "2026-03-01T12:00:00Z"})

    queue, cursors = RecordingQueue(), Cursors()
    sweeper = referral_sweeper(
        Listing(), FeedWiring(queue, cursors, ACME, overlap=timedelta(seconds=60))
    )
    assert sweeper.look() == 1
    assert queue.keys == ["referral:r-2"]
