"""The /_emulator controls: faults, clock, calls, reset, users, search lag; the CLI entry."""

import pytest
from click.testing import CliRunner
from hs_api import Api
from starlette.testclient import TestClient

from cosell.cli.main import main
from cosell.emulators.hubspot import HubSpotEmulatorConfig, create_app

DEALS = "/crm/v3/objects/deals"


@pytest.mark.parametrize(
    ("rule", "status", "check"),
    [
        ({"kind": "server_error", "params": {"status": 503}}, 503, "text/html"),
        ({"kind": "not_found_html"}, 404, "text/html"),
        ({"kind": "rate_limited"}, 429, "TEN_SECONDLY_ROLLING"),
        ({"kind": "daily_limit"}, 429, "DAILY"),
        ({"kind": "locked"}, 423, "LOCKED"),
        ({"kind": "migration", "params": {"retry_after": 30}}, 477, "30"),
    ],
)
def test_fault_kinds(api: Api, client: TestClient, rule: dict, status: int, check: str) -> None:
    assert client.post("/_emulator/faults", json={**rule, "path": DEALS}).status_code == 201
    response = api.call("GET", DEALS)
    assert response.status_code == status
    seen = (
        response.headers.get("content-type", "")
        + response.text
        + response.headers.get("Retry-After", "")
    )
    assert check in seen
    assert api.call("GET", DEALS).status_code == 200  # count 1: the next call is clean


def test_expire_tokens_fault_expires_oauth_tokens_only(api: Api, client: TestClient) -> None:
    client.post("/_emulator/faults", json={"kind": "expire_tokens"})
    assert api.call("GET", DEALS).status_code == 200


def test_calls_are_counted_by_route_template(api: Api, client: TestClient) -> None:
    deal = api.deal()
    api.call("GET", f"{DEALS}/{deal['id']}")
    calls = client.get("/_emulator/calls").json()["calls"]
    assert calls == {
        "GET /crm/v3/objects/{object_type}/{object_id}": 1,
        "POST /crm/v3/objects/{object_type}": 1,
    }
    assert client.delete("/_emulator/calls").json()["total"] == 0


def test_clock_advance_and_reset(api: Api, client: TestClient) -> None:
    before = client.get("/_emulator/clock").json()["now"]
    after = client.post("/_emulator/clock", json={"advance_seconds": 60}).json()["now"]
    assert before < after
    assert client.post("/_emulator/clock", json={"advance_seconds": -1}).status_code == 400
    api.deal()
    client.post("/_emulator/reset")
    assert api.ok("GET", DEALS)["results"] == []


def test_user_tokens_need_a_positive_user_id(client: TestClient) -> None:
    assert client.post("/_emulator/users", json={"user_id": "x"}).status_code == 400


def test_search_lag_is_adjustable(client: TestClient) -> None:
    assert client.put("/_emulator/search-lag", json={"seconds": 3}).json() == {"seconds": 3.0}


def test_search_lag_changes_one_portal_not_the_config_others_share() -> None:
    config = HubSpotEmulatorConfig()
    with TestClient(create_app(config)) as one, TestClient(create_app(config)) as other:
        one.put("/_emulator/search-lag", json={"seconds": 60}).raise_for_status()
        assert other.get("/_emulator/search-lag").json() == {"seconds": 0.0}
        with TestClient(create_app(config)) as later:
            assert later.get("/_emulator/search-lag").json() == {"seconds": 0.0}
        one.post("/_emulator/reset").raise_for_status()
        assert one.get("/_emulator/search-lag").json() == {"seconds": 60.0}


def test_emulate_group_lists_hubspot() -> None:
    result = CliRunner().invoke(main, ["emulate", "--help"])
    assert "hubspot" in result.output
    detail = CliRunner().invoke(main, ["emulate", "hubspot", "--help"])
    assert "--search-lag" in detail.output
