"""Tokens (private app, OAuth, UI users), the burst and daily limits, and their headers."""

import pytest
from hs_api import Api
from starlette.testclient import TestClient

from cosell.clock import ManualClock
from cosell.emulators.hubspot import HubSpotEmulatorConfig

DEALS = "/crm/v3/objects/deals"


def _oauth(client: TestClient, config: HubSpotEmulatorConfig) -> dict:
    location = client.get(
        "/oauth/authorize",
        params={"client_id": config.client_id, "redirect_uri": "https://a.example/cb"},
        follow_redirects=False,
    ).headers["location"]
    code = location.split("code=")[1]
    return client.post(
        "/oauth/v1/token",
        data={
            "grant_type": "authorization_code",
            "code": code,
            "redirect_uri": "https://a.example/cb",
            "client_id": config.client_id,
            "client_secret": config.client_secret,
        },
    ).json()


@pytest.mark.parametrize(
    ("header", "category"),
    [
        (None, "INVALID_AUTHENTICATION"),
        ("Bearer wrong", "INVALID_AUTHENTICATION"),
        ("Basic abc", "INVALID_AUTHENTICATION"),
    ],
)
def test_unknown_credentials_are_401(client: TestClient, header: str | None, category: str) -> None:
    response = client.get(DEALS, headers={"Authorization": header} if header else {})
    assert response.status_code == 401
    assert response.json()["category"] == category


def test_oauth_token_expires_and_refreshes(
    client: TestClient, config: HubSpotEmulatorConfig, clock: ManualClock
) -> None:
    grant = _oauth(client, config)
    assert grant["expires_in"] == 1800
    bearer = {"Authorization": f"Bearer {grant['access_token']}"}
    assert client.get(DEALS, headers=bearer).status_code == 200
    clock.advance(1875)
    expired = client.get(DEALS, headers=bearer).json()
    assert expired["category"] == "EXPIRED_AUTHENTICATION"
    assert expired["message"] == "The OAuth token used to make this call expired 75 second(s) ago."
    fresh = client.post(
        "/oauth/v1/token",
        data={
            "grant_type": "refresh_token",
            "refresh_token": grant["refresh_token"],
            "client_id": config.client_id,
            "client_secret": config.client_secret,
        },
    ).json()
    assert (
        client.get(DEALS, headers={"Authorization": f"Bearer {fresh['access_token']}"}).status_code
        == 200
    )


def test_bad_refresh_token_is_invalid_grant(
    client: TestClient, config: HubSpotEmulatorConfig
) -> None:
    response = client.post(
        "/oauth/v1/token",
        data={
            "grant_type": "refresh_token",
            "refresh_token": "nope",
            "client_id": config.client_id,
            "client_secret": config.client_secret,
        },
    )
    assert response.status_code == 400
    assert (response.json()["error"], response.json()["status"]) == (
        "invalid_grant",
        "BAD_REFRESH_TOKEN",
    )


def test_oauth_calls_carry_no_daily_headers(
    client: TestClient, config: HubSpotEmulatorConfig, api: Api
) -> None:
    grant = _oauth(client, config)
    oauth = client.get(DEALS, headers={"Authorization": f"Bearer {grant['access_token']}"})
    private = api.call("GET", DEALS)
    assert "X-HubSpot-RateLimit-Daily" not in oauth.headers
    assert oauth.headers["X-HubSpot-RateLimit-Max"] == "100"
    assert private.headers["X-HubSpot-RateLimit-Daily"] == "250000"


@pytest.mark.parametrize("config", [HubSpotEmulatorConfig(burst_limit=3)])
def test_burst_limit_is_a_rolling_ten_seconds(api: Api, clock: ManualClock) -> None:
    answers = [api.call("GET", DEALS) for _ in range(4)]
    assert [a.headers.get("X-HubSpot-RateLimit-Remaining") for a in answers[:3]] == ["2", "1", "0"]
    assert answers[3].status_code == 429
    assert answers[3].json()["policyName"] == "TEN_SECONDLY_ROLLING"
    clock.advance(10)
    assert api.call("GET", DEALS).status_code == 200


@pytest.mark.parametrize("config", [HubSpotEmulatorConfig(daily_limit=2)])
def test_daily_limit_resets_at_midnight(api: Api, clock: ManualClock) -> None:
    assert [api.call("GET", DEALS).status_code for _ in range(3)] == [200, 200, 429]
    assert api.call("GET", DEALS).json()["policyName"] == "DAILY"
    clock.advance(24 * 3600)
    assert api.call("GET", DEALS).status_code == 200


@pytest.mark.parametrize("config", [HubSpotEmulatorConfig(burst_limit=1)])
def test_ui_users_are_neither_counted_nor_limited(api: Api, client: TestClient) -> None:
    user = api.as_user(7)
    assert [user.call("GET", DEALS).status_code for _ in range(3)] == [200] * 3
    assert client.get("/_emulator/calls").json()["total"] == 0
