"""SalesforceAuth: grants, JWT assertions, single-flight re-login after 401."""

from __future__ import annotations

import threading
from datetime import UTC, datetime
from urllib.parse import parse_qs

import httpx
import jwt
import pytest
from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric import rsa

from cosell.clients.salesforce import SalesforceClient
from cosell.clients.salesforce_auth import (
    JWT_BEARER,
    ClientCredentialsGrant,
    Grant,
    JwtBearerGrant,
    PasswordGrant,
    RefreshTokenGrant,
    SalesforceAuth,
)
from cosell.clock import ManualClock
from cosell.errors import AuthError

LOGIN = "https://login.example"
TOKEN_URL = f"{LOGIN}/services/oauth2/token"
INSTANCE = "https://org.example.my.salesforce.com"
INVALID_SESSION = [{"message": "Session expired or invalid", "errorCode": "INVALID_SESSION_ID"}]


class FakeOrg:
    """Token endpoint plus one data resource; counts logins; can revoke every token."""

    def __init__(self, *, barrier: threading.Barrier | None = None) -> None:
        self.lock = threading.Lock()
        self.logins = 0
        self.valid: set[str] = set()
        self.forms: list[dict[str, list[str]]] = []
        self.barrier = barrier

    def revoke(self) -> None:
        with self.lock:
            self.valid.clear()

    def __call__(self, request: httpx.Request) -> httpx.Response:
        if request.url.path == "/services/oauth2/token":
            return self.token(request)
        bearer = request.headers.get("Authorization", "").removeprefix("Bearer ")
        with self.lock:
            ok = bearer in self.valid
        if not ok:
            if self.barrier is not None:
                self.barrier.wait(timeout=10)
            return httpx.Response(401, json=INVALID_SESSION)
        return httpx.Response(200, json={"Id": "006A"})

    def token(self, request: httpx.Request) -> httpx.Response:
        assert "Authorization" not in request.headers
        with self.lock:
            self.logins += 1
            access = f"token-{self.logins}"
            self.valid.add(access)
            self.forms.append(parse_qs(request.content.decode()))
        identity = f"{LOGIN}/id/00D000000000001AAA/005000000000001AAA"
        body = {"access_token": access, "instance_url": INSTANCE, "id": identity}
        return httpx.Response(200, json={**body, "token_type": "Bearer"})


def client_for(org: FakeOrg, grant: Grant | None = None) -> tuple[SalesforceClient, SalesforceAuth]:
    transport = httpx.MockTransport(org)
    login_http = httpx.Client(transport=transport)
    grant = grant or ClientCredentialsGrant("cid", "csecret")
    auth = SalesforceAuth(grant, TOKEN_URL, http=login_http)
    http = httpx.Client(transport=transport, base_url=INSTANCE, auth=auth)
    return SalesforceClient(http), auth


def test_first_call_logs_in_and_token_exposes_instance_url() -> None:
    org = FakeOrg()
    client, auth = client_for(org)
    assert client.get("Opportunity", "006A") == {"Id": "006A"}
    assert org.logins == 1
    assert auth.token is not None
    assert auth.token.instance_url == INSTANCE
    assert auth.token.user_id == "005000000000001AAA"
    assert "token-1" not in repr(auth.token)


def test_concurrent_401s_share_one_relogin() -> None:
    threads = 8
    org = FakeOrg()
    client, auth = client_for(org)
    client.get("Opportunity", "006A")
    org.revoke()
    org.barrier = threading.Barrier(threads)  # every thread holds a 401 before anyone re-logs in
    results: list[dict[str, object]] = []
    errors: list[BaseException] = []

    def call() -> None:
        try:
            results.append(client.get("Opportunity", "006A"))
        except BaseException as exc:
            errors.append(exc)

    workers = [threading.Thread(target=call) for _ in range(threads)]
    for worker in workers:
        worker.start()
    for worker in workers:
        worker.join(timeout=20)
    assert errors == []
    assert results == [{"Id": "006A"}] * threads
    assert org.logins == 2  # the first login plus exactly one re-login
    assert auth.logins == 2


def test_second_401_after_relogin_is_auth_error() -> None:
    class AlwaysExpired(FakeOrg):
        def __call__(self, request: httpx.Request) -> httpx.Response:
            if request.url.path == "/services/oauth2/token":
                return self.token(request)
            return httpx.Response(401, json=INVALID_SESSION)

    org = AlwaysExpired()
    client, _ = client_for(org)
    with pytest.raises(AuthError) as raised:
        client.get("Opportunity", "006A")
    assert raised.value.code == "INVALID_SESSION_ID"
    assert org.logins == 2


def test_jwt_assertion_claims_and_signature() -> None:
    key = rsa.generate_private_key(public_exponent=65537, key_size=2048)
    pem = key.private_bytes(
        serialization.Encoding.PEM,
        serialization.PrivateFormat.PKCS8,
        serialization.NoEncryption(),
    ).decode()
    clock = ManualClock(datetime(2026, 5, 1, 8, 0, tzinfo=UTC))
    grant = JwtBearerGrant("consumer-key", "integration@partner.example", pem, LOGIN, clock=clock)
    org = FakeOrg()
    client, _ = client_for(org, grant)
    client.get("Opportunity", "006A")
    form = org.forms[0]
    assert form["grant_type"] == [JWT_BEARER]
    claims = jwt.decode(
        form["assertion"][0],
        key.public_key(),
        algorithms=["RS256"],
        audience=LOGIN,
        options={"verify_exp": False},
    )
    assert claims["iss"] == "consumer-key"
    assert claims["sub"] == "integration@partner.example"
    assert claims["aud"] == LOGIN
    assert 0 < claims["exp"] - clock.now().timestamp() <= 180
    other = rsa.generate_private_key(public_exponent=65537, key_size=2048)
    with pytest.raises(jwt.InvalidSignatureError):
        jwt.decode(form["assertion"][0], other.public_key(), algorithms=["RS256"], audience=LOGIN)


def test_refresh_token_grant_keeps_a_rotated_token() -> None:
    grant = RefreshTokenGrant("cid", "refresh-1", "secret")
    grant.accept({"access_token": "a", "refresh_token": "refresh-2"})
    assert grant.form()["refresh_token"] == "refresh-2"
    grant.accept({"access_token": "b"})
    assert grant.refresh_token == "refresh-2"


def test_password_grant_form() -> None:
    form = PasswordGrant("cid", "csecret", "user@example", "pw").form()
    assert form == {
        "grant_type": "password",
        "client_id": "cid",
        "client_secret": "csecret",
        "username": "user@example",
        "password": "pw",
    }


def test_refused_login_is_auth_error_without_secrets() -> None:
    def refuse(request: httpx.Request) -> httpx.Response:
        body = {"error": "invalid_grant", "error_description": "authentication failure"}
        return httpx.Response(400, json=body)

    transport = httpx.MockTransport(refuse)
    auth = SalesforceAuth(
        PasswordGrant("cid", "TOPSECRET", "u", "PASSWORD1"),
        TOKEN_URL,
        http=httpx.Client(transport=transport),
    )
    with pytest.raises(AuthError) as raised:
        auth.login()
    text = str(raised.value)
    assert "invalid_grant: authentication failure" in text
    assert "TOPSECRET" not in text
    assert "PASSWORD1" not in text
