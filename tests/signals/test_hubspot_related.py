"""HubSpot's related-record poll: an edited company or contact marks the deals cosell cares
about, known versions (those the link's read saw) cost nothing, and a deal nobody flagged is
left alone. The engine, both emulators and the store are the scenario suite's (``crm_worlds``);
the poll is wired as the service wires it."""

from __future__ import annotations

from datetime import datetime, timedelta
from typing import Any

import pytest
from crm_worlds import HS_BASE, CrmWorld, hubspot_side
from starlette.testclient import TestClient

from cosell.signals.feed import FeedWiring
from cosell.signals.hubspot import deal_poller
from cosell.signals.hubspot_related import (
    Cared,
    RecordsPoll,
    hubspot_related_poller,
    watched_records,
)
from cosell.signals.synced import opportunity_synced, related_synced
from cosell.sync.engine.record_status import NotReady
from cosell.sync.sides.hubspot.side import HubSpotSide
from support.queues import RecordingQueue

SETTLE = timedelta(seconds=10)
OVERLAP = timedelta(seconds=60)


@pytest.fixture
def world(hubspot_world: CrmWorld) -> CrmWorld:
    return hubspot_world


def side(world: CrmWorld) -> HubSpotSide:
    return hubspot_side(world)


def wiring(world: CrmWorld, queue: RecordingQueue) -> FeedWiring:
    return FeedWiring(queue, world.store, world.tenant, OVERLAP, world.emulator_clock, SETTLE)


def records(world: CrmWorld, queue: RecordingQueue) -> RecordsPoll:
    """The related-record poll as the service wires it, past its first look."""
    deals = side(world)

    def linked(deal_id: str) -> bool:
        return world.store.link_by_opportunity(world.tenant, deal_id) is not None

    poll = hubspot_related_poller(
        deals.client,
        lambda: watched_records(deals.company_properties, syncs_contacts=True),
        wiring(world, queue),
        Cared(deals.client, linked, deals.flag_property, deals.referral_property),
        known=related_synced(world.store, world.tenant, lambda: None),
    )
    assert poll.look() == 0  # the first look records where to start
    return poll


def settled_look(world: CrmWorld, poll: RecordsPoll) -> int:
    world.emulator_clock.advance(SETTLE.total_seconds() + 1)
    return poll.look()


def ui(world: CrmWorld) -> Any:
    return world.seller.ui  # type: ignore[attr-defined]


def associated(world: CrmWorld, deal_id: str, to_type: str) -> str:
    [found] = side(world).client.associations("deals", deal_id, to_type)
    return str(found["toObjectId"])


def calls(world: CrmWorld) -> dict[str, int]:
    control = TestClient(world.seller.app, base_url=HS_BASE)  # type: ignore[attr-defined]
    counted: dict[str, int] = control.get("/_emulator/calls").json()["calls"]
    control.delete("/_emulator/calls")
    return counted


def test_a_contact_or_company_edit_marks_its_linked_deal(world: CrmWorld) -> None:
    queue = RecordingQueue()
    deal = world.seller.flagged_record()
    poll = records(world, queue)
    world.sync(f"opportunity:{deal}")
    [referral] = world.referrals()
    # The company and contact the seller saved with the deal are what the link's read saw.
    assert settled_look(world, poll) == 0

    contact = associated(world, deal, "contacts")
    ui(world).update("contacts", contact, {"email": "jo.buyer@northwind.example"})
    assert settled_look(world, poll) == 1
    assert queue.keys == [f"opportunity:{deal}"]
    world.sync(f"opportunity:{deal}")
    team = world.referral(referral["id"])["customerProfile"]["team"]
    assert [m["email"] for m in team] == ["jo.buyer@northwind.example"]
    assert settled_look(world, poll) == 0  # that version is the link's now

    # The customer's fields go to Partner Center when the referral is made; an edit of one is
    # still a version the link has not seen, read once.
    ui(world).update("companies", associated(world, deal, "companies"), {"city": "Seattle"})
    assert settled_look(world, poll) == 1
    assert queue.keys == [f"opportunity:{deal}"] * 2


def test_an_edit_of_nothing_read_or_of_a_deal_nobody_flagged_is_not_enqueued(
    world: CrmWorld,
) -> None:
    queue = RecordingQueue()
    deal = world.seller.flagged_record()
    world.sync(f"opportunity:{deal}")
    company = associated(world, deal, "companies")
    other = ui(world).create("companies", {"name": "Tailspin Toys", "country": "FR"})
    ui(world).create(
        "deals",
        {"dealname": "Tailspin: not for co-sell", "dealstage": "qualifiedtobuy"},
        [
            {
                "to": {"id": other["id"]},
                "types": [{"associationCategory": "HUBSPOT_DEFINED", "associationTypeId": 5}],
            }
        ],
    )
    world.emulator_clock.advance(OVERLAP.total_seconds() + 1)  # nothing left to re-read
    poll = records(world, queue)
    calls(world)

    ui(world).update("companies", company, {"industry": "Retail"})  # not read
    ui(world).update("companies", str(other["id"]), {"name": "Tailspin Group"})
    assert settled_look(world, poll) == 0
    assert queue.keys == []
    # Companies: a search, their deals, and the unlinked deal's flag; contacts: a search.
    assert calls(world) == {
        "POST /crm/v3/objects/{object_type}/search": 2,
        "POST /crm/v4/associations/{from_type}/{to_type}/batch/read": 1,
        "POST /crm/v3/objects/{object_type}/batch/read": 1,
    }
    edited = side(world).client.get("companies", str(other["id"]), ["hs_lastmodifieddate"])
    stamp = edited["properties"]["hs_lastmodifieddate"].replace("Z", "+00:00")
    assert poll.feeds is not None
    assert poll.feeds[0].watermark == datetime.fromisoformat(stamp)  # past what no deal needed
    calls(world)
    assert settled_look(world, poll) == 0
    # The overlap re-reads them; versions already resolved cost no call.
    assert calls(world) == {"POST /crm/v3/objects/{object_type}/search": 2}


def test_a_country_fixed_on_the_company_of_a_refused_deal_reaches_partner_center(
    world: CrmWorld,
) -> None:
    """The flagged deal's company has no country: cosell refuses it and says why. The seller
    fixes the company. The deal's own values are those cosell refused, so the deal poll has
    nothing new; only the company tells the fix."""
    queue = RecordingQueue()
    deals = deal_poller(
        side(world).client,
        wiring(world, queue),
        synced=opportunity_synced(world.store, world.tenant, SETTLE),
        version=lambda: side(world).version,
    )
    deals.look()
    made = world.seller.flagged_record(company_values={"name": "Litware"})  # type: ignore[call-arg]
    for _ in range(2):  # refused, and the refusal written on the deal read once more
        with pytest.raises(NotReady, match="Customer country is required"):
            world.sync(f"opportunity:{made}")
        deals.look()
    assert world.referrals() == []
    poll = records(world, queue)
    queue.keys.clear()

    ui(world).update("companies", associated(world, made, "companies"), {"country": "FR"})
    world.emulator_clock.advance(SETTLE.total_seconds() + 1)
    assert deals.look() == 0  # the deal is as cosell refused it
    assert poll.look() >= 1  # the company, and the contact no link knows yet
    assert set(queue.keys) == {f"opportunity:{made}"}
    world.sync(queue.keys[-1])
    [referral] = world.referrals()
    assert referral["externalReferenceId"] == made
    assert referral["customerProfile"]["address"]["country"] == "FR"


def test_the_company_and_contact_cosell_made_for_a_deal_cost_no_reconcile(
    world: CrmWorld, monkeypatch: pytest.MonkeyPatch
) -> None:
    """A shared referral becomes a deal with its company and contact, and the poll looks just
    before cosell's reconcile commits its link. Each version waits until it has settled (its
    deals not even resolved), and by then the link knows it. (Taken at once, each cost a
    reconcile of the deal.)"""
    queue = RecordingQueue()
    poll = records(world, queue)
    referral = world.share_referral(
        name="Fabrikam data platform",
        details={"dealValue": 48000, "closingDateTime": "2026-12-31T00:00:00Z"},
        customerProfile={
            "name": "Fabrikam",
            "address": {"country": "DE"},
            "team": [{"firstName": "Rui", "lastName": "Costa", "email": "rui@fabrikam.example"}],
        },
    )
    commit, looked = world.store.commit_sync, []

    def look_first(*args: Any, **kwargs: Any) -> Any:
        if not looked:
            calls(world)
            looked.append(poll.look())
            looked.append(calls(world))
            looked.append(poll.due_in())
        return commit(*args, **kwargs)

    monkeypatch.setattr(world.store, "commit_sync", look_first)
    world.sync(f"referral:{referral['id']}")
    # Both wait, costing the searches alone; the loop is told when the first has settled.
    assert looked == [0, {"POST /crm/v3/objects/{object_type}/search": 2}, pytest.approx(10, abs=1)]
    assert queue.keys == []
    assert settled_look(world, poll) == 0
    assert queue.keys == []
