"""The poller and the sweeper against the emulators: the queries they build are the ones the
services accept, and paging, ordering and stamps come from the real clients."""

from collections.abc import Iterator
from datetime import UTC, datetime, timedelta

import pytest
from signal_fakes import ACME, Cursors, RecordingQueue
from starlette.applications import Starlette
from starlette.testclient import TestClient

from cosell.clients.partner_center import PartnerCenterClient
from cosell.clients.salesforce import SalesforceClient
from cosell.clients.salesforce_auth import TOKEN_PATH, PasswordGrant, SalesforceAuth
from cosell.clock import ManualClock
from cosell.emulators.partner_center import create_app as partner_center_emulator
from cosell.emulators.salesforce.app import create_app as salesforce_emulator
from cosell.emulators.salesforce.config import SalesforceEmulatorConfig
from cosell.signals.feed import FeedWiring
from cosell.signals.poller import opportunity_poller
from cosell.signals.sweeper import referral_sweeper


@pytest.fixture
def partner_center() -> Iterator[TestClient]:
    app = partner_center_emulator()
    yield TestClient(app, base_url="http://pc.test")
    app.state.emulator.close()


def token(http: TestClient) -> None:
    reply = http.post(
        "/common/oauth2/token",
        data={
            "grant_type": "password",
            "client_id": "cosell-sandbox",
            "client_secret": "sandbox-client-secret",
            "username": "referrals-admin@partner.example",
            "password": "sandbox-password",
            "resource": "https://api.partner.microsoft.com",
        },
    )
    http.headers["Authorization"] = f"Bearer {reply.json()['access_token']}"


# Every stamp these tests make is long settled by this clock, so each change is read once; the
# unsettled-second rule has its own test in test_poller.py.
SETTLED = ManualClock(start=datetime(2100, 1, 1, tzinfo=UTC))


def test_sweeper_reads_everything_then_what_changed(partner_center: TestClient) -> None:
    token(partner_center)
    ids = [partner_center.post("/_emulator/referrals", json={"name": n}).json()["id"] for n in "AB"]
    queue, cursors = RecordingQueue(), Cursors()
    sweeper = referral_sweeper(
        PartnerCenterClient(partner_center),
        FeedWiring(queue, cursors, ACME, overlap=timedelta(seconds=30), clock=SETTLED),
    )
    assert sweeper.look() == 2
    assert sorted(queue.keys) == sorted(f"referral:{i}" for i in ids)
    first = sweeper.watermark
    assert first is not None

    partner_center.post("/_emulator/clock", json={"advance_seconds": 120})
    assert sweeper.look() == 0  # older than watermark - overlap: not even read
    partner_center.patch(f"/_emulator/referrals/{ids[0]}", json={"name": "A2"})
    assert sweeper.look() == 1
    assert queue.keys[-1] == f"referral:{ids[0]}"
    assert sweeper.watermark is not None
    assert sweeper.watermark > first


def salesforce(app: Starlette) -> SalesforceClient:
    config = SalesforceEmulatorConfig()
    http = TestClient(app, base_url="http://sf.test")
    grant = PasswordGrant(config.client_id, config.client_secret, config.username, config.password)
    http.auth = SalesforceAuth(grant, f"http://sf.test{TOKEN_PATH}", http=http)
    return SalesforceClient(http)


def test_poller_reads_changed_opportunities_in_stamp_order() -> None:
    app = salesforce_emulator()
    client = salesforce(app)
    fields = {"StageName": "Prospecting", "CloseDate": "2026-12-31"}
    first = client.create("Opportunity", {"Name": "First", **fields})
    app.state.emulator.clock.advance(5)
    second = client.create("Opportunity", {"Name": "Second", **fields})
    queue, cursors = RecordingQueue(), Cursors()
    poller = opportunity_poller(
        client, FeedWiring(queue, cursors, ACME, overlap=timedelta(seconds=60), clock=SETTLED)
    )
    assert poller.look() == 2
    assert queue.keys == [f"opportunity:{first}", f"opportunity:{second}"]
    assert poller.look() == 0

    app.state.emulator.clock.advance(600)
    client.update("Opportunity", first, {"Amount": 1000})
    assert poller.look() == 1
    assert queue.keys[-1] == f"opportunity:{first}"


def test_default_filter_polls_flagged_or_linked_opportunities_only() -> None:
    from cosell.orgsetup.salesforce import OrgSetup
    from cosell.orgsetup.spec import connector_spec
    from cosell.settings import SyncSettings

    app = salesforce_emulator()
    client = salesforce(app)
    OrgSetup(client, connector_spec()).apply()
    fields = {"StageName": "Prospecting", "CloseDate": "2026-12-31"}
    flagged = client.create(
        "Opportunity", {"Name": "Flagged", "Sync_with_Partner_Center__c": True, **fields}
    )
    linked = client.create(
        "Opportunity", {"Name": "Linked", "Referral_Identifier__c": "r-1", **fields}
    )
    client.create("Opportunity", {"Name": "Unrelated", **fields})
    queue = RecordingQueue()
    poller = opportunity_poller(
        client,
        FeedWiring(queue, Cursors(), ACME, overlap=timedelta(seconds=60)),
        where=SyncSettings().poll_filter,
    )
    assert poller.look() == 2
    assert sorted(queue.keys) == sorted([f"opportunity:{flagged}", f"opportunity:{linked}"])
