"""Webhook subscriptions, signed deliveries in arrays of at most 100, change sources."""

import json
from collections.abc import Callable, Iterator

import httpx
import pytest
from hs_api import START, Api
from starlette.applications import Starlette
from starlette.testclient import TestClient

from cosell.clock import ManualClock
from cosell.emulators.hubspot import HubSpotEmulatorConfig, create_app
from cosell.emulators.hubspot.signing import signature_v1, signature_v3
from support.wait import wait_until

TARGET = "https://receiver.example/hooks?portal=1"
REFERENCE_BODY = (
    b'[{"eventId":1,"subscriptionId":12345,"portalId":62515,"occurredAt":1564113600000,'
    b'"subscriptionType":"contact.creation","attemptNumber":0,"objectId":123,'
    b'"changeSource":"CRM","changeFlag":"NEW","appId":54321}]'
)
SECRET = "yyyyyyyy-yyyy-yyyy-yyyy-yyyyyyyyyyyy"


def test_signatures_match_the_documented_vectors() -> None:
    # v1: HubSpot's request-validation page; v3: HubSpot's Python SDK algorithm on the same body.
    assert signature_v1(SECRET, REFERENCE_BODY) == (
        "232db2615f3d666fe21a8ec971ac7b5402d33b9a925784df3ca654d05f4817de"
    )
    v3 = signature_v3(
        SECRET, "POST", "https://www.example.com/webhook_uri", REFERENCE_BODY, "1700000000000"
    )
    assert v3 == "/pXDSgWeGksQpwCsgqd43P0eY6gBIse9UX0tfkudUrE="


class Receiver:
    def __init__(self) -> None:
        self.requests: list[httpx.Request] = []

    def __call__(self, request: httpx.Request) -> httpx.Response:
        self.requests.append(request)
        return httpx.Response(200)

    def wait(self, condition: Callable[[], bool]) -> None:
        wait_until(condition, 5, what="a delivery")

    def events(self) -> list[dict]:
        return [e for r in self.requests for e in json.loads(r.content)]


@pytest.fixture
def receiver() -> Receiver:
    return Receiver()


@pytest.fixture
def app(
    config: HubSpotEmulatorConfig, clock: ManualClock, receiver: Receiver
) -> Iterator[Starlette]:
    delivery = httpx.Client(transport=httpx.MockTransport(receiver))
    yield create_app(config, clock=clock, delivery_client=delivery)
    delivery.close()


def _subscribe(client: TestClient, *subscriptions: dict) -> None:
    body = {"target_url": TARGET, "subscriptions": list(subscriptions)}
    assert client.put("/_emulator/webhooks", json=body).status_code == 200


def test_delivery_is_signed_over_method_uri_body_and_timestamp(
    api: Api, client: TestClient, receiver: Receiver, config: HubSpotEmulatorConfig
) -> None:
    _subscribe(client, {"eventType": "deal.creation"})
    deal = api.deal()
    receiver.wait(lambda: len(receiver.requests) == 1)
    request = receiver.requests[0]
    stamp = request.headers["X-HubSpot-Request-Timestamp"]
    assert stamp == str(int(START.timestamp() * 1000))
    expected = signature_v3(config.client_secret, "POST", TARGET, request.content, stamp)
    assert request.headers["X-HubSpot-Signature-v3"] == expected
    [event] = json.loads(request.content)
    assert (event["subscriptionType"], event["objectId"], event["changeFlag"]) == (
        "deal.creation",
        int(deal["id"]),
        "NEW",
    )
    assert (event["changeSource"], event["sourceId"]) == ("INTEGRATION", str(config.app_id))


def test_property_change_events_name_the_ui_user(
    api: Api, client: TestClient, receiver: Receiver
) -> None:
    _subscribe(client, {"eventType": "deal.propertyChange", "propertyName": "amount"})
    deal = api.deal()
    api.as_user(99).ok(
        "PATCH",
        f"/crm/v3/objects/deals/{deal['id']}",
        json={"properties": {"amount": "12", "description": "ignored"}},
    )
    receiver.wait(lambda: len(receiver.requests) == 1)
    [event] = receiver.events()
    assert (event["propertyName"], event["propertyValue"]) == ("amount", "12")
    assert (event["changeSource"], event["sourceId"]) == ("CRM_UI", "userId:99")


@pytest.mark.parametrize("config", [HubSpotEmulatorConfig(batch_limit=100, burst_limit=1000)])
def test_a_batch_of_changes_arrives_in_arrays_of_at_most_100(
    api: Api, client: TestClient, receiver: Receiver
) -> None:
    _subscribe(client, {"eventType": "deal.creation"})
    for _ in range(2):
        inputs = [{"properties": {"dealname": "n", "dealstage": "closedwon"}}] * 75
        api.ok("POST", "/crm/v3/objects/deals/batch/create", 201, json={"inputs": inputs})
    receiver.wait(lambda: len(receiver.events()) == 150)
    assert sorted(len(json.loads(r.content)) for r in receiver.requests) == [75, 75]
    inputs = [{"properties": {"dealname": "n", "dealstage": "closedwon"}}] * 100
    api.ok("POST", "/crm/v3/objects/deals/batch/create", 201, json={"inputs": inputs})
    receiver.wait(lambda: len(receiver.events()) == 250)
    assert max(len(json.loads(r.content)) for r in receiver.requests) == 100


def test_management_api_needs_the_developer_key(
    client: TestClient, config: HubSpotEmulatorConfig
) -> None:
    base = f"/webhooks/v3/{config.app_id}"
    assert client.get(f"{base}/subscriptions", params={"hapikey": "x"}).status_code == 401
    key = {"hapikey": config.developer_api_key}
    put = client.put(f"{base}/settings", params=key, json={"targetUrl": TARGET})
    assert put.json()["targetUrl"] == TARGET
    made = client.post(
        f"{base}/subscriptions",
        params=key,
        json={"eventType": "deal.propertyChange", "propertyName": "dealstage"},
    )
    assert made.status_code == 201
    refused = client.post(
        f"{base}/subscriptions",
        params=key,
        json={"eventType": "deal.propertyChange", "propertyName": "hs_lastmodifieddate"},
    )
    assert refused.status_code == 400
    assert [s["id"] for s in client.get(f"{base}/subscriptions", params=key).json()["results"]] == [
        made.json()["id"]
    ]
