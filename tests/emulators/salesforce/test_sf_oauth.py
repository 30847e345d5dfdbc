import base64
import hashlib
import hmac
from typing import Any

import jwt
import pytest
from sf_api import Api, TestClient, V, login
from starlette.applications import Starlette

from cosell.clock import ManualClock
from cosell.emulators.salesforce import SalesforceEmulatorConfig, create_app
from cosell.emulators.salesforce.oauth import JWT_GRANT
from cosell.emulators.salesforce.tls import self_signed_certificate

TOKEN = "/services/oauth2/token"
KEYS = self_signed_certificate("cosell-jwt")
OTHER_KEYS = self_signed_certificate("someone-else")


@pytest.fixture
def config() -> SalesforceEmulatorConfig:
    return SalesforceEmulatorConfig(jwt_cert_pem=KEYS[0])


def assertion(clock: ManualClock, key: bytes = KEYS[1], **claims: Any) -> str:
    body = {
        "iss": "cosell-sandbox-consumer-key",
        "sub": "integration@partner.example",
        "aud": "https://login.salesforce.com",
        "exp": int(clock.now().timestamp()) + 180,
        **claims,
    }
    return jwt.encode(body, key, algorithm="RS256")


def jwt_login(client: TestClient, token: str) -> Any:
    return client.post(TOKEN, data={"grant_type": JWT_GRANT, "assertion": token})


def test_jwt_bearer_success_shape(client: TestClient, clock: ManualClock) -> None:
    response = jwt_login(client, assertion(clock))
    assert response.status_code == 200
    body = response.json()
    assert body["token_type"] == "Bearer"
    assert body["instance_url"] == "http://127.0.0.1:8602"
    assert body["issued_at"] == str(int(clock.now().timestamp() * 1000))
    assert "expires_in" not in body
    assert "refresh_token" not in body
    org_id, user_id = body["id"].rsplit("/", 2)[-2:]
    assert org_id.startswith("00D")
    assert user_id.startswith("005")
    expected = hmac.new(
        b"sandbox-consumer-secret", (body["id"] + body["issued_at"]).encode(), hashlib.sha256
    ).digest()
    assert body["signature"] == base64.b64encode(expected).decode()
    data = client.get(f"{V}/limits", headers={"Authorization": f"Bearer {body['access_token']}"})
    assert data.status_code == 200


@pytest.mark.parametrize(
    ("claims", "key", "error", "description"),
    [
        ({"aud": "https://evil.example"}, KEYS[1], "invalid_grant", "audience is invalid"),
        ({"exp_offset": 600}, KEYS[1], "invalid_grant", "invalid assertion expiration time"),
        ({"exp_offset": -120}, KEYS[1], "invalid_grant", "expired authorization code"),
        ({"iss": "someone-else"}, KEYS[1], "invalid_client_id", "client identifier invalid"),
        (
            {"sub": "stranger@partner.example"},
            KEYS[1],
            "invalid_grant",
            "user hasn't approved this consumer",
        ),
        ({}, OTHER_KEYS[1], "invalid_grant", "invalid assertion"),
    ],
)
def test_jwt_rules(
    client: TestClient,
    clock: ManualClock,
    claims: dict[str, Any],
    key: bytes,
    error: str,
    description: str,
) -> None:
    offset = claims.pop("exp_offset", None)
    if offset is not None:
        claims["exp"] = int(clock.now().timestamp()) + offset
    response = jwt_login(client, assertion(clock, key, **claims))
    assert response.status_code == 400
    assert response.json() == {"error": error, "error_description": description}


def test_jwt_audience_may_be_the_emulator_url(client: TestClient, clock: ManualClock) -> None:
    response = jwt_login(client, assertion(clock, aud="http://127.0.0.1:8602"))
    assert response.status_code == 200


def test_client_credentials_basic_and_bad_secret(client: TestClient) -> None:
    basic = base64.b64encode(b"cosell-sandbox-consumer-key:sandbox-consumer-secret").decode()
    ok = client.post(
        TOKEN,
        data={"grant_type": "client_credentials"},
        headers={"Authorization": f"Basic {basic}"},
    )
    assert ok.status_code == 200
    assert "refresh_token" not in ok.json()
    bad = client.post(
        TOKEN,
        data={
            "grant_type": "client_credentials",
            "client_id": "cosell-sandbox-consumer-key",
            "client_secret": "wrong",
        },
    )
    assert bad.status_code == 400
    assert bad.json()["error"] == "invalid_client"


def test_password_grant_and_wrong_password(client: TestClient) -> None:
    form = {
        "grant_type": "password",
        "client_id": "cosell-sandbox-consumer-key",
        "client_secret": "sandbox-consumer-secret",
        "username": "integration@partner.example",
        "password": "sandbox-password",
    }
    assert client.post(TOKEN, data=form).status_code == 200
    refused = client.post(TOKEN, data={**form, "password": "nope"})
    assert refused.json() == {
        "error": "invalid_grant",
        "error_description": "authentication failure",
    }


@pytest.mark.parametrize("rotate", [False, True])
def test_refresh_token_grant(app: Starlette, client: TestClient, rotate: bool) -> None:
    app.state.emulator.config.rotate_refresh_tokens = rotate
    refresh = client.post("/_emulator/refresh-tokens").json()["refresh_token"]
    form = {
        "grant_type": "refresh_token",
        "refresh_token": refresh,
        "client_id": "cosell-sandbox-consumer-key",
        "client_secret": "sandbox-consumer-secret",
    }
    first = client.post(TOKEN, data=form)
    assert first.status_code == 200
    assert ("refresh_token" in first.json()) is rotate
    again = client.post(TOKEN, data=form)
    assert again.status_code == (400 if rotate else 200)
    revoked = client.post("/services/oauth2/revoke", data={"token": refresh})
    assert revoked.status_code == (400 if rotate else 200)


def test_session_expires_when_idle_and_use_extends_it(api: Api, clock: ManualClock) -> None:
    for _ in range(3):
        clock.advance(7000)
        assert api.get("limits").status_code == 200
    clock.advance(7201)
    expired = api.get("limits")
    assert expired.status_code == 401
    assert expired.json() == [
        {"message": "Session expired or invalid", "errorCode": "INVALID_SESSION_ID"}
    ]


def test_revoke_endpoint_and_control_kill_sessions(
    api: Api, client: TestClient, config: SalesforceEmulatorConfig
) -> None:
    assert client.post("/services/oauth2/revoke", data={"token": api.token}).status_code == 200
    assert api.get("limits").status_code == 401
    api.relogin()
    assert client.post("/_emulator/sessions/revoke").json() == {"revoked": 1}
    assert api.get("limits").status_code == 401
    other = Api(client, api.app, login(client, config))
    assert other.get("limits").status_code == 200


def test_missing_cert_refuses_jwt(clock: ManualClock) -> None:
    with TestClient(create_app(clock=clock)) as client:
        response = jwt_login(client, assertion(clock))
    assert response.status_code == 400
    assert response.json()["error"] == "invalid_grant"
