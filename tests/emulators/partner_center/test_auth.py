from pc_helpers import REFERRALS, TOKEN_PATH, password_token
from starlette.testclient import TestClient

from cosell.clock import ManualClock

V2 = "/sandbox-tenant/oauth2/v2.0/token"


def bearer(token: str) -> dict[str, str]:
    return {"Authorization": f"Bearer {token}"}


def test_v1_password_token_shape(client: TestClient) -> None:
    body = password_token(client)
    assert body["token_type"] == "Bearer"
    assert body["resource"] == "https://api.partner.microsoft.com"
    assert body["expires_in"] == 3600
    assert {"access_token", "refresh_token", "expires_on", "ext_expires_in"} <= set(body)


def test_data_api_needs_a_valid_unexpired_token(client: TestClient, clock: ManualClock) -> None:
    missing = client.get(REFERRALS)
    assert missing.status_code == 401
    assert missing.json()["error"]["code"] == "unauthenticated"
    assert client.get(REFERRALS, headers=bearer("forged")).status_code == 401
    token = password_token(client)["access_token"]
    assert client.get(REFERRALS, headers=bearer(token)).status_code == 200
    clock.advance(3601)
    expired = client.get(REFERRALS, headers=bearer(token))
    assert expired.status_code == 401
    assert "expired" in expired.json()["error"]["message"]


def test_the_token_is_checked_before_the_query_options(client: TestClient) -> None:
    """A caller without a valid token learns nothing about its query: 401, not 400."""
    for options in ({"$filter": "nonsense eq"}, {"$select": "noSuchProperty"}, {"$top": "x"}):
        assert client.get(REFERRALS, params=options).status_code == 401
        assert client.get(f"{REFERRALS}/any-id", params=options).status_code == 401


def test_wrong_password_is_an_aad_error(client: TestClient) -> None:
    form = {
        "grant_type": "password",
        "client_id": "cosell-sandbox",
        "username": "x",
        "password": "y",
    }
    response = client.post(TOKEN_PATH, data=form)
    assert response.status_code == 400
    assert response.json()["error"] == "invalid_grant"
    assert response.json()["error_codes"] == [50126]


def test_refresh_tokens_rotate(client: TestClient) -> None:
    first = password_token(client)
    form = {"grant_type": "refresh_token", "client_id": "cosell-sandbox"}
    second = client.post(TOKEN_PATH, data={**form, "refresh_token": first["refresh_token"]})
    assert second.status_code == 200
    assert second.json()["refresh_token"] != first["refresh_token"]
    reused = client.post(TOKEN_PATH, data={**form, "refresh_token": first["refresh_token"]})
    assert reused.status_code == 400
    assert reused.json()["error"] == "invalid_grant"
    assert set(reused.json()) >= {"error", "error_description", "error_codes"}
    token = second.json()["access_token"]
    assert client.get(REFERRALS, headers=bearer(token)).status_code == 200


def test_client_credentials_works_for_webhooks_not_referrals(client: TestClient) -> None:
    form = {
        "grant_type": "client_credentials",
        "client_id": "cosell-sandbox",
        "client_secret": "sandbox-client-secret",
        "scope": "https://api.partnercenter.microsoft.com/.default",
    }
    body = client.post(V2, data=form).json()
    assert "refresh_token" not in body
    headers = bearer(body["access_token"])
    assert client.get("/webhooks/v1/registration/events", headers=headers).status_code == 200
    assert client.get(REFERRALS, headers=headers).status_code == 403
    bad = client.post(V2, data={**form, "client_secret": "nope"})
    assert bad.status_code == 401
    assert bad.json()["error"] == "invalid_client"


def test_device_code_is_pending_until_approved(
    client: TestClient, config: object, clock: ManualClock
) -> None:
    client.app.state.emulator.config.auto_approve_device_codes = False  # type: ignore[attr-defined]
    scope = "https://api.partner.microsoft.com/.default offline_access"
    started = client.post(
        "/sandbox-tenant/oauth2/v2.0/devicecode",
        data={"client_id": "cosell-sandbox", "scope": scope},
    ).json()
    assert {"device_code", "user_code", "verification_uri", "interval", "message"} <= set(started)
    poll = {
        "grant_type": "urn:ietf:params:oauth:grant-type:device_code",
        "client_id": "cosell-sandbox",
        "device_code": started["device_code"],
    }
    pending = client.post(V2, data=poll)
    assert pending.status_code == 400
    assert pending.json()["error"] == "authorization_pending"
    listed = client.get("/_emulator/device-codes").json()["device_codes"]
    assert [c["user_code"] for c in listed] == [started["user_code"]]
    approve = f"/_emulator/device-codes/{started['user_code']}/approve"
    assert client.post(approve).status_code == 200
    granted = client.post(V2, data=poll)
    assert granted.status_code == 200
    assert "refresh_token" in granted.json()
    assert client.get(REFERRALS, headers=bearer(granted.json()["access_token"])).status_code == 200


def test_device_code_auto_approved_by_default(client: TestClient) -> None:
    started = client.post(
        "/common/oauth2/v2.0/devicecode", data={"client_id": "cosell-sandbox", "scope": "openid"}
    ).json()
    poll = {
        "grant_type": "urn:ietf:params:oauth:grant-type:device_code",
        "client_id": "cosell-sandbox",
        "device_code": started["device_code"],
    }
    assert client.post(V2, data=poll).status_code == 200


def test_unknown_tenant_is_rejected(client: TestClient) -> None:
    response = client.post("/other-tenant/oauth2/token", data={"grant_type": "password"})
    assert response.status_code == 400
    assert response.json()["error_codes"] == [90002]
