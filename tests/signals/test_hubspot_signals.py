"""HubSpot change signals against the emulator: the deal poll (search on
hs_lastmodifieddate with an overlap window, robust to the index's lag) and webhook deliveries
(signed v3, our own writes skipped)."""

import json
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from typing import Any

import pytest
from signal_fakes import Cursors, RecordingQueue
from starlette.testclient import TestClient

from cosell.clients.hubspot import HubSpotClient
from cosell.clients.hubspot_auth import PrivateAppAuth
from cosell.clients.retry import RetryPolicy
from cosell.clock import ManualClock
from cosell.emulators.hubspot import HubSpotEmulator, HubSpotEmulatorConfig, create_app
from cosell.signals.feed import FeedWiring
from cosell.signals.hubspot import deal_poller
from cosell.store.records import TenantId
from cosell.web.hubspot_receiver import HubSpotWebhookReceiver

CONFIG = HubSpotEmulatorConfig(burst_limit=10_000, search_per_second=10_000)
TENANT = TenantId("t1")
TARGET = "https://cosell.example/webhooks/hubspot"


@pytest.fixture
def clock() -> ManualClock:
    return ManualClock(datetime(2026, 3, 2, 9, 0, tzinfo=UTC))


@pytest.fixture
def http(clock: ManualClock) -> Iterator[TestClient]:
    with TestClient(create_app(CONFIG, clock=clock)) as client:
        client.auth = PrivateAppAuth(CONFIG.private_app_token)
        yield client


@pytest.fixture
def hubspot(http: TestClient, clock: ManualClock) -> HubSpotClient:
    return HubSpotClient(http, retry=RetryPolicy(clock=clock))


def _deal(hubspot: HubSpotClient, name: str) -> str:
    return str(hubspot.create("deals", {"dealname": name, "dealstage": "closedwon"})["id"])


@pytest.mark.parametrize(("overlap", "found"), [(60, True), (0, False)])
def test_poll_catches_a_change_the_index_showed_late_only_with_an_overlap(
    hubspot: HubSpotClient, http: TestClient, clock: ManualClock, overlap: int, found: bool
) -> None:
    queue, cursors = RecordingQueue(), Cursors()
    feed = deal_poller(
        hubspot, FeedWiring(queue, cursors, TENANT, overlap=timedelta(seconds=overlap), clock=clock)
    )
    first = _deal(hubspot, "A")
    assert feed.look() == 1
    clock.advance(11)  # past the settle window: the pair is remembered after this look
    feed.look()
    assert feed.look() == 0  # re-read in the overlap, not enqueued again
    http.put("/_emulator/search-lag", json={"seconds": 20})
    clock.advance(1)
    late = _deal(hubspot, "late")  # indexed 20 s from now
    clock.advance(15)
    http.put("/_emulator/search-lag", json={"seconds": 0})
    fast = _deal(hubspot, "fast")  # indexed at once, stamped after the late one
    feed.look()
    assert f"opportunity:{late}" not in queue.keys
    clock.advance(10)
    feed.look()  # the late deal surfaces now, stamped before the watermark
    assert (f"opportunity:{late}" in queue.keys) is found
    assert {f"opportunity:{first}", f"opportunity:{fast}"} <= set(queue.keys)


def _emulator(http: TestClient) -> HubSpotEmulator:
    emulator: HubSpotEmulator = http.app.state.emulator  # type: ignore[attr-defined]
    return emulator


def _delivered(http: TestClient, monkeypatch: pytest.MonkeyPatch) -> list[Any]:
    sent: list[Any] = []
    monkeypatch.setattr(_emulator(http).dispatcher, "emit", sent.append)
    subscriptions = [
        {"eventType": "deal.creation"},
        {"eventType": "deal.propertyChange", "propertyName": "amount"},
    ]
    http.put("/_emulator/webhooks", json={"target_url": TARGET, "subscriptions": subscriptions})
    return sent


def _receiver(queue: RecordingQueue, clock: ManualClock) -> HubSpotWebhookReceiver:
    return HubSpotWebhookReceiver(
        client_secret=CONFIG.client_secret,
        target_url=TARGET,
        app_id=CONFIG.app_id,
        queue=queue,
        tenant=TENANT,
        now=clock.now,
    )


def test_webhooks_enqueue_user_changes_and_skip_our_own(
    hubspot: HubSpotClient, http: TestClient, clock: ManualClock, monkeypatch: pytest.MonkeyPatch
) -> None:
    sent = _delivered(http, monkeypatch)
    ours = _deal(hubspot, "ours")
    token = http.post("/_emulator/users", json={"user_id": 9}).json()["token"]
    http.patch(
        f"/crm/v3/objects/deals/{ours}",
        json={"properties": {"amount": "5"}},
        auth=PrivateAppAuth(token),
    )
    queue = RecordingQueue()
    receiver = _receiver(queue, clock)
    done = [receiver.handle(d.headers, d.body) for d in sent]
    assert [(d.status, d.keys, d.skipped_own) for d in done] == [
        (200, (), 1),
        (200, (f"opportunity:{ours}",), 0),
    ]
    assert queue.keys == [f"opportunity:{ours}"]


def test_a_tampered_or_stale_delivery_is_refused(
    hubspot: HubSpotClient, http: TestClient, clock: ManualClock, monkeypatch: pytest.MonkeyPatch
) -> None:
    sent = _delivered(http, monkeypatch)
    _deal(hubspot, "x")
    queue = RecordingQueue()
    receiver = _receiver(queue, clock)
    delivery = sent[0]
    forged = json.dumps([{**json.loads(delivery.body)[0], "objectId": 1}]).encode()
    assert receiver.handle(delivery.headers, forged).status == 401
    clock.advance(301)
    assert receiver.handle(delivery.headers, delivery.body).status == 401
    assert queue.keys == []


def test_receiver_endpoint_answers_in_starlette(
    hubspot: HubSpotClient, http: TestClient, clock: ManualClock, monkeypatch: pytest.MonkeyPatch
) -> None:
    from starlette.applications import Starlette
    from starlette.routing import Route

    sent = _delivered(http, monkeypatch)
    token = http.post("/_emulator/users", json={"user_id": 3}).json()["token"]
    http.post(
        "/crm/v3/objects/deals",
        json={"properties": {"dealname": "u", "dealstage": "closedwon"}},
        auth=PrivateAppAuth(token),
    )
    queue = RecordingQueue()
    app = Starlette(
        routes=[Route("/webhooks/hubspot", _receiver(queue, clock).endpoint, methods=["POST"])]
    )
    with TestClient(app, base_url="https://cosell.example") as client:
        answer = client.post("/webhooks/hubspot", content=sent[0].body, headers=sent[0].headers)
    assert answer.status_code == 200
    assert len(queue.keys) == 1
