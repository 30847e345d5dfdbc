"""The HubSpot client against the HubSpot emulator: CRUD, batches in chunks of 100, search
paging, associations, schema calls, errors by category, and retries that honour each 429
window and ``Retry-After`` (the emulator and the retry policy share one manual clock)."""

from collections.abc import Iterator
from datetime import UTC, datetime

import httpx
import pytest
from starlette.testclient import TestClient

from cosell.clients.hubspot import HubSpotClient
from cosell.clients.hubspot_auth import PrivateAppAuth
from cosell.clients.hubspot_errors import PropertiesRejected, holder_of
from cosell.clients.retry import RetryPolicy
from cosell.clock import ManualClock
from cosell.emulators.hubspot import HubSpotEmulator, HubSpotEmulatorConfig, create_app
from cosell.errors import Conflict, NotFound, ServerError, Throttled, TransportError

START = datetime(2026, 3, 2, 9, 0, tzinfo=UTC)


@pytest.fixture
def clock() -> ManualClock:
    return ManualClock(START)


@pytest.fixture
def config() -> HubSpotEmulatorConfig:
    return HubSpotEmulatorConfig()


@pytest.fixture
def http(config: HubSpotEmulatorConfig, clock: ManualClock) -> Iterator[TestClient]:
    with TestClient(create_app(config, clock=clock)) as client:
        client.auth = PrivateAppAuth(config.private_app_token)
        yield client


@pytest.fixture
def hubspot(http: TestClient, clock: ManualClock) -> HubSpotClient:
    return HubSpotClient(http, retry=RetryPolicy(clock=clock, base=0.1))


def _emulator(http: TestClient) -> HubSpotEmulator:
    emulator: HubSpotEmulator = http.app.state.emulator  # type: ignore[attr-defined]
    return emulator


def _calls(http: TestClient) -> dict[str, int]:
    return _emulator(http).calls.snapshot()["calls"]


def _deal(n: int) -> dict:
    return {"properties": {"dealname": f"D{n}", "dealstage": "qualifiedtobuy", "amount": str(n)}}


def test_crud_and_associations(hubspot: HubSpotClient) -> None:
    company = hubspot.create("companies", {"name": "Contoso", "country": "Germany"})
    deal = hubspot.create(
        "deals",
        {"dealname": "Rollout", "dealstage": "contractsent"},
        [
            {
                "to": {"id": company["id"]},
                "types": [{"associationCategory": "HUBSPOT_DEFINED", "associationTypeId": 5}],
            }
        ],
    )
    hubspot.update("deals", deal["id"], {"amount": "12"})
    read = hubspot.get("deals", deal["id"], ["amount"], associations=["companies"])
    assert read["properties"]["amount"] == "12"
    assert {a["id"] for a in read["associations"]["companies"]["results"]} == {company["id"]}
    contact = hubspot.create("contacts", {"email": "ada@contoso.example"})
    hubspot.associate("deals", deal["id"], "contacts", contact["id"])
    assert [r["toObjectId"] for r in hubspot.associations("deals", deal["id"], "contacts")] == [
        int(contact["id"])
    ]
    assert hubspot.batch_associations("deals", "contacts", [deal["id"]]) == {
        deal["id"]: [contact["id"]]
    }
    hubspot.dissociate("deals", deal["id"], "contacts", contact["id"])
    hubspot.archive("deals", deal["id"])
    with pytest.raises(NotFound):
        hubspot.get("deals", deal["id"])


@pytest.mark.parametrize("config", [HubSpotEmulatorConfig(burst_limit=1000)])
def test_batches_go_in_chunks_of_100(hubspot: HubSpotClient, http: TestClient) -> None:
    created = hubspot.batch_create("deals", [_deal(n) for n in range(250)])
    ids = [r["id"] for r in created.results]
    assert len(ids) == 250
    read = hubspot.batch_read("deals", [*ids, "1"], ["amount"])
    assert len(read.results) == 250
    assert read.errors[0]["category"] == "OBJECT_NOT_FOUND"
    hubspot.batch_update("deals", {i: {"amount": "1"} for i in ids})
    calls = _calls(http)
    assert calls["POST /crm/v3/objects/{object_type}/batch/create"] == 3
    assert calls["POST /crm/v3/objects/{object_type}/batch/read"] == 3
    assert calls["POST /crm/v3/objects/{object_type}/batch/update"] == 3


@pytest.mark.parametrize(
    "config", [HubSpotEmulatorConfig(burst_limit=1000, search_per_second=1000)]
)
def test_search_all_follows_after_to_the_end(hubspot: HubSpotClient) -> None:
    hubspot.batch_create("deals", [_deal(n) for n in range(450)])
    flt = [{"filters": [{"propertyName": "amount", "operator": "GTE", "value": "50"}]}]
    found = list(
        hubspot.search_all(
            "deals",
            flt,
            properties=["amount"],
            sorts=[{"propertyName": "amount", "direction": "ASCENDING"}],
        )
    )
    assert [int(r["properties"]["amount"]) for r in found] == list(range(50, 450))


def test_validation_error_names_each_property(hubspot: HubSpotClient) -> None:
    with pytest.raises(PropertiesRejected) as error:
        hubspot.create("deals", {"dealname": "x", "dealstage": "nope", "bogus": "1"})
    assert error.value.problems == {"bogus": "PROPERTY_DOESNT_EXIST"}
    assert error.value.code == "VALIDATION_ERROR"


@pytest.mark.parametrize("config", [HubSpotEmulatorConfig(burst_limit=2)])
def test_burst_429_waits_out_the_ten_second_window(
    hubspot: HubSpotClient, http: TestClient, clock: ManualClock
) -> None:
    """Another client of the same app (a second process) spent the window: this one, which
    has not heard of it yet, is refused and waits the window out."""
    for n in range(2):
        http.post("/crm/v3/objects/deals", json=_deal(n)).raise_for_status()
    hubspot.create("deals", _deal(2)["properties"])
    assert max(clock.slept) >= 10.0
    assert _calls(http)["POST /crm/v3/objects/{object_type}"] == 4  # one refused, then sent


@pytest.mark.parametrize("config", [HubSpotEmulatorConfig(daily_limit=1)])
def test_daily_429_is_raised_for_the_caller_to_reschedule(
    hubspot: HubSpotClient, clock: ManualClock
) -> None:
    hubspot.create("deals", _deal(0)["properties"])
    with pytest.raises(Throttled) as error:
        hubspot.create("deals", _deal(1)["properties"])
    assert error.value.retry_after == 15 * 3600  # until midnight UTC
    assert clock.slept == []


def test_retry_after_and_html_errors_are_retried(
    hubspot: HubSpotClient, http: TestClient, clock: ManualClock
) -> None:
    http.post("/_emulator/faults", json={"kind": "migration", "params": {"retry_after": 30}})
    http.post("/_emulator/faults", json={"kind": "server_error", "params": {"status": 502}})
    assert hubspot.create("deals", _deal(0)["properties"])["id"]
    assert max(clock.slept) >= 30.0
    assert len(clock.slept) == 2


def test_an_html_404_is_not_found(hubspot: HubSpotClient, http: TestClient) -> None:
    http.post("/_emulator/faults", json={"kind": "not_found_html"})
    with pytest.raises(NotFound):
        hubspot.get("deals", "1")


def test_server_errors_give_up_after_the_attempts(hubspot: HubSpotClient, http: TestClient) -> None:
    http.post("/_emulator/faults", json={"kind": "server_error", "count": 10})
    with pytest.raises(ServerError):
        hubspot.get("deals", "1")


def _timing_out(calls: list[str]) -> httpx.Client:
    def handler(request: httpx.Request) -> httpx.Response:
        calls.append(request.url.path)
        raise httpx.ReadTimeout("slow", request=request)

    return httpx.Client(base_url="http://hs.test", transport=httpx.MockTransport(handler))


def test_a_timed_out_create_is_not_resent_but_a_search_is(clock: ManualClock) -> None:
    calls: list[str] = []
    client = HubSpotClient(_timing_out(calls), retry=RetryPolicy(clock=clock, attempts=3))
    with pytest.raises(TransportError):
        client.create("deals", {"dealname": "x"})
    assert calls == ["/crm/v3/objects/deals"]
    calls.clear()
    with pytest.raises(TransportError):
        client.search("deals")
    assert len(calls) == 3


def test_schema_calls(hubspot: HubSpotClient) -> None:
    hubspot.create_property_group("deals", "cosell", "Co-sell")
    assert "cosell" in {g["name"] for g in hubspot.property_groups("deals")}
    made = hubspot.create_property(
        "deals",
        {
            "name": "cosell_referral_id",
            "label": "Referral",
            "type": "string",
            "fieldType": "text",
            "groupName": "cosell",
            "hasUniqueValue": True,
        },
    )
    assert made["hasUniqueValue"] is True
    assert hubspot.update_property("deals", "cosell_referral_id", {"label": "R"})["label"] == "R"
    assert "cosell_referral_id" in {p["name"] for p in hubspot.properties("deals")}
    stage = hubspot.create_stage("default", "Co-sell accepted", 0.5, display_order=9)
    assert stage["id"] in {s["id"] for s in hubspot.pipelines()[0]["stages"]}
    upserted = hubspot.batch_upsert(
        "deals", "cosell_referral_id", {"R1": {"dealname": "u", "dealstage": stage["id"]}}
    )
    assert upserted.results[0]["new"] is True


def test_the_holder_of_a_taken_email_is_read_from_either_refusal(hubspot: HubSpotClient) -> None:
    first = hubspot.create("contacts", {"email": "ada@c.example"})
    with pytest.raises(Conflict) as on_create:
        hubspot.create("contacts", {"email": "ada@c.example"})
    other = hubspot.create("contacts", {"email": "bo@c.example"})
    with pytest.raises(PropertiesRejected) as on_update:
        hubspot.update("contacts", other["id"], {"email": "ada@c.example"})
    assert holder_of(on_create.value) == holder_of(on_update.value) == first["id"]
    with pytest.raises(PropertiesRejected) as bad_value:
        hubspot.update("contacts", other["id"], {"nope": "x"})
    assert holder_of(bad_value.value) is None
