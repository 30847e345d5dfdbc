from __future__ import annotations

from datetime import UTC, datetime, timedelta
from typing import Any

from signal_fakes import ACME, RecordingQueue

from cosell.clock import ManualClock
from cosell.signals.expiry import INCOMING_NEW, ExpiryWatch

START = datetime(2026, 3, 2, 9, 0, tzinfo=UTC)


class Listed:
    def __init__(self, body: dict[str, Any]) -> None:
        self.body = body

    @property
    def id(self) -> str | None:
        return str(self.body["id"])

    def to_wire(self) -> dict[str, Any]:
        return dict(self.body)


class Unanswered:
    """Partner Center's listing of incoming New referrals."""

    def __init__(self) -> None:
        self.referrals: dict[str, dict[str, Any]] = {}
        self.filters: list[str | None] = []

    def add(self, referral_id: str, expires: datetime) -> None:
        self.referrals[referral_id] = {
            "id": referral_id,
            "direction": "Incoming",
            "status": "New",
            "expirationDateTime": expires.strftime("%Y-%m-%dT%H:%M:%SZ"),
        }

    def list_referrals(self, filter: str | None = None) -> list[Listed]:
        self.filters.append(filter)
        return [Listed(r) for r in self.referrals.values()]


def watch(linked: set[str]) -> tuple[ExpiryWatch, Unanswered, RecordingQueue, ManualClock]:
    client, queue, clock = Unanswered(), RecordingQueue(), ManualClock(START)
    return ExpiryWatch(client, queue, ACME, linked.__contains__, clock), client, queue, clock


def test_a_linked_referral_is_queued_when_its_warning_is_due_and_again_as_days_run_down() -> None:
    expiry, client, queue, clock = watch({"r-1", "r-2"})
    client.add("r-1", START + timedelta(days=10))
    client.add("r-2", START + timedelta(days=3, hours=12))
    assert expiry.look() == 0  # no warning due yet: nothing queued
    assert client.filters == [INCOMING_NEW]

    clock.advance(timedelta(hours=13).total_seconds())  # r-2: 2 days 23 hours left
    assert expiry.look() == 1
    assert queue.keys == ["referral:r-2"]
    assert queue.scopes == ["both"]  # the record's warning needs Partner Center's read
    assert expiry.look() == 0  # the same warning ("3 days"): not queued again

    clock.advance(timedelta(hours=23).total_seconds())  # 2 days left: the count moved
    assert expiry.look() == 1
    assert queue.keys == ["referral:r-2", "referral:r-2"]


def test_unlinked_answered_and_expired_referrals_are_not_queued() -> None:
    expiry, client, queue, _clock = watch({"r-1"})
    client.add("r-1", START + timedelta(days=1))
    client.add("r-9", START + timedelta(days=1))  # not ours (yet): the webhook or sweep makes it
    client.add("r-gone", START - timedelta(hours=1))  # past its expiry
    assert expiry.look() == 1
    assert queue.keys == ["referral:r-1"]

    del client.referrals["r-1"]  # accepted: no longer listed, and forgotten
    assert expiry.look() == 0
    client.add("r-1", START + timedelta(days=1))
    assert expiry.look() == 1
