"""HubSpot OAuth: refreshed before expiry, once more after a 401, refusals as AuthError."""

from collections.abc import Iterator
from datetime import UTC, datetime

import pytest
from starlette.testclient import TestClient

from cosell.clients.hubspot import HubSpotClient
from cosell.clients.hubspot_auth import TOKEN_PATH, HubSpotOAuth
from cosell.clients.retry import RetryPolicy
from cosell.clients.token_store import MemoryTokenStore
from cosell.clock import ManualClock
from cosell.emulators.hubspot import HubSpotEmulatorConfig, create_app
from cosell.errors import AuthError

CONFIG = HubSpotEmulatorConfig()


@pytest.fixture
def clock() -> ManualClock:
    return ManualClock(datetime(2026, 3, 2, 9, 0, tzinfo=UTC))


@pytest.fixture
def http(clock: ManualClock) -> Iterator[TestClient]:
    with TestClient(create_app(CONFIG, clock=clock)) as client:
        yield client


def _refresh_token(http: TestClient) -> str:
    redirect = http.get(
        "/oauth/authorize",
        follow_redirects=False,
        params={"client_id": CONFIG.client_id, "redirect_uri": "https://app.example/cb"},
    )
    code = redirect.headers["location"].split("code=")[1]
    grant = http.post(
        TOKEN_PATH,
        data={
            "grant_type": "authorization_code",
            "code": code,
            "redirect_uri": "https://app.example/cb",
            "client_id": CONFIG.client_id,
            "client_secret": CONFIG.client_secret,
        },
    )
    return str(grant.json()["refresh_token"])


def _auth(http: TestClient, clock: ManualClock, token: str | None) -> HubSpotOAuth:
    return HubSpotOAuth(
        CONFIG.client_id,
        CONFIG.client_secret,
        MemoryTokenStore(token),
        token_url=TOKEN_PATH,
        http=http,
        clock=clock,
    )


def test_refreshes_before_the_token_expires(http: TestClient, clock: ManualClock) -> None:
    auth = _auth(http, clock, _refresh_token(http))
    http.auth = auth
    client = HubSpotClient(http, retry=RetryPolicy(clock=clock))
    client.search("deals")
    clock.advance(1700)
    client.search("deals")
    assert auth.refreshes == 1
    clock.advance(60)  # inside the minute before expiry
    client.search("deals")
    assert auth.refreshes == 2


def test_refreshes_once_more_after_a_401(http: TestClient, clock: ManualClock) -> None:
    auth = _auth(http, clock, _refresh_token(http))
    http.auth = auth
    client = HubSpotClient(http, retry=RetryPolicy(clock=clock))
    client.search("deals")
    http.post("/_emulator/faults", json={"kind": "expire_tokens"})
    assert client.search("deals").total == 0
    assert auth.refreshes == 2


@pytest.mark.parametrize("token", [None, "not-a-refresh-token"])
def test_no_or_bad_refresh_token_is_an_auth_error(
    http: TestClient, clock: ManualClock, token: str | None
) -> None:
    http.auth = _auth(http, clock, token)
    with pytest.raises(AuthError) as error:
        HubSpotClient(http, retry=RetryPolicy(clock=clock)).search("deals")
    assert token is None or "BAD_REFRESH_TOKEN" in str(error.value)
    assert "not-a-refresh-token" not in str(error.value)
