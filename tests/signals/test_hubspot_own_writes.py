"""cosell's own writes to a HubSpot deal come back through the deal poll known by their values:
no reconcile reads the deal, its company, its contacts and the referral again only to plan
nothing. A person's edit, in the same millisecond or not, is still a change.

The engine, Partner Center's and HubSpot's emulators and the store are those of the scenario
suite (``crm_worlds``); the poll is the service's (``deal_poller`` with the portal's deal
version and the store's ``opportunity_synced``)."""

from __future__ import annotations

from datetime import timedelta
from typing import Any

import pytest
from crm_worlds import HS_BASE, CrmWorld, hubspot_side
from starlette.testclient import TestClient

from cosell.signals.feed import ChangeFeed, FeedWiring
from cosell.signals.hubspot import deal_poller
from cosell.signals.synced import opportunity_synced
from cosell.sync.sides.hubspot.side import HubSpotSide
from support.queues import RecordingQueue

SETTLE = timedelta(seconds=10)


@pytest.fixture
def world(hubspot_world: CrmWorld) -> CrmWorld:
    return hubspot_world


def side(world: CrmWorld) -> HubSpotSide:
    return hubspot_side(world)


def poll(world: CrmWorld, queue: RecordingQueue) -> ChangeFeed:
    overlap = timedelta(seconds=60)
    wiring = FeedWiring(queue, world.store, world.tenant, overlap, world.clock, SETTLE)
    synced = opportunity_synced(world.store, world.tenant, SETTLE)
    deals = side(world)
    return deal_poller(deals.client, wiring, synced=synced, version=lambda: deals.version)


def shared(world: CrmWorld) -> str:
    body: dict[str, Any] = {
        "name": "Fabrikam data platform",
        "details": {"dealValue": 48000, "closingDateTime": "2026-12-31T00:00:00Z"},
        "customerProfile": {
            "name": "Fabrikam",
            "address": {"country": "DE"},
            "team": [{"firstName": "Rui", "lastName": "Costa", "email": "rui@fabrikam.example"}],
        },
    }
    return str(world.share_referral(**body)["id"])


@pytest.mark.parametrize("direction", ["to_crm", "to_partner_center"])
def test_the_deal_poll_knows_cosells_own_writes_by_their_values(
    world: CrmWorld, direction: str
) -> None:
    queue = RecordingQueue()
    feed = poll(world, queue)
    feed.look()  # the first look only records the time
    if direction == "to_crm":  # a shared referral: cosell creates the deal, then writes it
        world.sync(f"referral:{shared(world)}")
        link = world.store.link_by_referral(world.tenant, world.referrals()[0]["id"])
    else:  # a flagged deal: cosell creates the referral and writes its id back to the deal
        deal = world.seller.flagged_record()
        world.sync(f"opportunity:{deal}")
        link = world.store.link_by_opportunity(world.tenant, deal)
    assert link is not None
    assert link.opportunity_id
    world.clock.advance(1)
    assert feed.look() == 0, queue.keys
    assert queue.keys == []

    world.seller.edit(link.opportunity_id, deal_value=52000)
    world.clock.advance(1)
    assert feed.look() == 1
    assert queue.keys == [f"opportunity:{link.opportunity_id}"]


def test_an_edit_in_the_same_millisecond_as_cosells_write_is_a_change(
    world: CrmWorld, monkeypatch: pytest.MonkeyPatch
) -> None:
    """With HubSpot's clock standing still, the person's edit carries the very stamp of
    cosell's write-back: only the values tell them apart."""
    queue = RecordingQueue()
    feed = poll(world, queue)
    feed.look()
    deal = world.seller.flagged_record()
    frozen = world.emulator_clock.now()
    monkeypatch.setattr(world.emulator_clock, "now", lambda: frozen)
    world.engine.reconcile_key(f"opportunity:{deal}")
    link = world.store.link_by_opportunity(world.tenant, deal)
    assert link is not None
    world.seller.edit(deal, deal_value=99000)
    stamp = side(world).client.get("deals", deal, ["hs_lastmodifieddate"])["properties"]
    assert stamp["hs_lastmodifieddate"] == link.crm_modstamp
    feed.look()  # enqueued at once, or due when its stamp has settled
    assert queue.keys == [f"opportunity:{deal}"]


def search_lag(world: CrmWorld, seconds: float) -> None:
    control = TestClient(world.seller.app, base_url=HS_BASE)
    control.put("/_emulator/search-lag", json={"seconds": seconds}).raise_for_status()


def test_the_version_a_write_back_was_planned_on_seen_late_is_not_a_change(
    world: CrmWorld,
) -> None:
    """The seller's new deal reaches cosell by webhook; the poll's index still shows the deal
    as the seller saved it, after cosell has written the referral id back. That version is the
    one the write-back was planned on: nothing in it is new."""
    queue = RecordingQueue()
    feed = poll(world, queue)
    feed.look()
    deal = world.seller.flagged_record()
    search_lag(world, 60)  # what is written from now on is not searchable for a minute
    world.sync(f"opportunity:{deal}")
    link = world.store.link_by_opportunity(world.tenant, deal)
    assert link is not None
    assert link.referral_id
    world.clock.advance(1)
    assert feed.look() == 0, queue.keys
    assert queue.keys == []


def test_a_person_setting_back_what_cosell_wrote_is_a_change(world: CrmWorld) -> None:
    """The deal's values return to the version cosell's write was planned on, but after the
    write: a person undid it, and the pair no longer agrees."""
    queue = RecordingQueue()
    feed = poll(world, queue)
    feed.look()
    rid = shared(world)
    world.sync(f"referral:{rid}")
    link = world.store.link_by_referral(world.tenant, rid)
    assert link is not None
    assert link.opportunity_id
    deal = link.opportunity_id
    before = side(world).read(deal)
    assert before is not None
    assert before.raw is not None
    world.microsoft_update(rid, details={"dealValue": 50000})
    world.sync(f"referral:{rid}")
    after = side(world).read(deal)
    assert after is not None
    assert after.raw is not None
    undone = {
        k: before.raw.get(k) or ""
        for k in after.raw
        if k != "hs_lastmodifieddate" and after.raw.get(k) != before.raw.get(k)
    }
    assert "amount" in undone
    world.clock.advance(1)
    feed.look()
    queue.calls.clear()
    world.seller.ui.update("deals", deal, undone)
    undone_read = side(world).read(deal)
    assert undone_read is not None
    assert undone_read.fingerprint == before.fingerprint
    world.clock.advance(1)
    feed.look()
    assert queue.keys == [f"opportunity:{deal}"]
