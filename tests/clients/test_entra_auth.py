"""Entra ID auth flows against httpx.MockTransport: refresh, rotation, 401s, device code."""

from __future__ import annotations

import threading
from concurrent.futures import ThreadPoolExecutor
from urllib.parse import parse_qs

import httpx
import pytest
from pydantic import SecretStr

from cosell.clients.entra_auth import (
    DEVICE_CODE_GRANT,
    AppCredentials,
    Audience,
    Authority,
    BearerAuth,
    ClientCredentialsGrant,
    DeviceCodeLogin,
    PasswordGrant,
    RefreshTokenGrant,
)
from cosell.clients.token_store import MemoryTokenStore
from cosell.clock import ManualClock
from cosell.errors import AuthError, Throttled

AUTHORITY = Authority(tenant="contoso-tenant", url="https://login.example")
APP = AppCredentials("client-1", SecretStr("client-secret-value"))
API = "https://api.partner.microsoft.com/v1.0/engagements/referrals"


def form_of(request: httpx.Request) -> dict[str, str]:
    return {k: v[0] for k, v in parse_qs(request.content.decode()).items()}


class FakeEntra:
    """A token endpoint issuing numbered tokens and rotating refresh tokens, plus an API that
    accepts only the tokens it considers valid."""

    def __init__(self, refresh: str = "refresh-0") -> None:
        self.valid_refresh = refresh
        self.valid_access: set[str] = set()
        self.token_calls: list[dict[str, str]] = []
        self.api_calls = 0
        self.unauthorized = 0
        self.lock = threading.Condition()
        self.hold_refresh_until_401s: int | None = None

    def __call__(self, request: httpx.Request) -> httpx.Response:
        if request.url.host == "login.example":
            return self.token(request)
        return self.api(request)

    def token(self, request: httpx.Request) -> httpx.Response:
        form = form_of(request)
        with self.lock:
            if self.hold_refresh_until_401s is not None:
                want = self.hold_refresh_until_401s
                assert self.lock.wait_for(lambda: self.unauthorized >= want, timeout=10)
            self.token_calls.append(form)
            n = len(self.token_calls)
            if (
                form["grant_type"] == "refresh_token"
                and form["refresh_token"] != self.valid_refresh
            ):
                return httpx.Response(400, json={"error": "invalid_grant", "error_codes": [70008]})
            self.valid_refresh = f"refresh-{n}"
            self.valid_access.add(f"access-{n}")
            body = {"access_token": f"access-{n}", "expires_in": "3600"}
            return httpx.Response(200, json=body | {"refresh_token": self.valid_refresh})

    def api(self, request: httpx.Request) -> httpx.Response:
        token = request.headers.get("Authorization", "").removeprefix("Bearer ")
        with self.lock:
            self.api_calls += 1
            if token not in self.valid_access:
                self.unauthorized += 1
                self.lock.notify_all()
                return httpx.Response(401, json={"error": {"code": "unauthenticated"}})
        return httpx.Response(200, json={"token": token})

    def revoke_access(self) -> None:
        with self.lock:
            self.valid_access.clear()


def refresh_auth(entra: FakeEntra, store: MemoryTokenStore, clock: ManualClock) -> httpx.Client:
    grant = RefreshTokenGrant(APP, store, authority=AUTHORITY)
    auth = BearerAuth(grant, clock=clock, skew=60)
    return httpx.Client(auth=auth, transport=httpx.MockTransport(entra))


def test_first_call_refreshes_and_saves_the_rotated_refresh_token() -> None:
    entra, store, clock = FakeEntra(), MemoryTokenStore("refresh-0"), ManualClock()
    with refresh_auth(entra, store, clock) as http:
        assert http.get(API).json() == {"token": "access-1"}
        assert http.get(API).json() == {"token": "access-1"}
    assert len(entra.token_calls) == 1
    sent = entra.token_calls[0]
    assert sent["grant_type"] == "refresh_token"
    assert sent["refresh_token"] == "refresh-0"
    assert sent["scope"] == "https://api.partner.microsoft.com/.default offline_access"
    assert store.load() == "refresh-1"


def test_expiry_on_the_clock_triggers_a_refresh_with_the_rotated_token() -> None:
    entra, store, clock = FakeEntra(), MemoryTokenStore("refresh-0"), ManualClock()
    with refresh_auth(entra, store, clock) as http:
        http.get(API)
        clock.advance(3600 - 30)  # inside the skew window
        assert http.get(API).json() == {"token": "access-2"}
    assert [c["refresh_token"] for c in entra.token_calls] == ["refresh-0", "refresh-1"]
    assert store.load() == "refresh-2"


def test_401_refreshes_once_and_resends() -> None:
    entra, store, clock = FakeEntra(), MemoryTokenStore("refresh-0"), ManualClock()
    with refresh_auth(entra, store, clock) as http:
        http.get(API)
        entra.revoke_access()
        response = http.get(API)
    assert response.status_code == 200
    assert response.json() == {"token": "access-2"}
    assert len(entra.token_calls) == 2
    assert entra.unauthorized == 1


def test_a_second_401_after_refresh_is_an_auth_error_without_secrets() -> None:
    entra, store, clock = FakeEntra(), MemoryTokenStore("refresh-0"), ManualClock()

    def refuse_all(request: httpx.Request) -> httpx.Response:
        if request.url.host == "login.example":
            return entra.token(request)
        return httpx.Response(401)

    grant = RefreshTokenGrant(APP, store, authority=AUTHORITY)
    with (
        httpx.Client(
            auth=BearerAuth(grant, clock=clock), transport=httpx.MockTransport(refuse_all)
        ) as http,
        pytest.raises(AuthError) as caught,
    ):
        http.get(API)
    assert len(entra.token_calls) == 2
    text = f"{caught.value} {caught.value!r}"
    for secret in ("access-", "refresh-", "client-secret-value"):
        assert secret not in text


def test_concurrent_401s_share_one_refresh() -> None:
    entra, store, clock = FakeEntra(), MemoryTokenStore("refresh-0"), ManualClock()
    workers = 6
    with refresh_auth(entra, store, clock) as http:
        http.get(API)
        entra.revoke_access()
        entra.hold_refresh_until_401s = workers
        with ThreadPoolExecutor(workers) as pool:
            results = list(pool.map(lambda _: http.get(API).json(), range(workers)))
    assert results == [{"token": "access-2"}] * workers
    assert len(entra.token_calls) == 2
    assert store.load() == "refresh-2"
    assert store.saves == 2


def test_refused_refresh_is_an_auth_error_naming_the_entra_code() -> None:
    entra, store, clock = FakeEntra(), MemoryTokenStore("stale-refresh-secret"), ManualClock()
    with refresh_auth(entra, store, clock) as http, pytest.raises(AuthError) as caught:
        http.get(API)
    error = caught.value
    assert error.code == "invalid_grant"
    assert "AADSTS70008" in str(error)
    assert "stale-refresh-secret" not in f"{error} {error!r}"
    assert "client-secret-value" not in f"{error} {error!r}"
    assert store.load() == "stale-refresh-secret"


def test_missing_refresh_token_asks_for_sign_in() -> None:
    http = refresh_auth(FakeEntra(), MemoryTokenStore(), ManualClock())
    with pytest.raises(AuthError, match="device code"):
        http.get(API)


def test_throttled_token_endpoint_is_retryable() -> None:
    def throttle(request: httpx.Request) -> httpx.Response:
        return httpx.Response(429, headers={"Retry-After": "9"}, json={"error": "throttled"})

    grant = ClientCredentialsGrant(APP, authority=AUTHORITY)
    http = httpx.Client(auth=BearerAuth(grant), transport=httpx.MockTransport(throttle))
    with pytest.raises(Throttled) as caught:
        http.get(API)
    assert caught.value.retry_after == 9


def test_password_grant_uses_the_v1_resource_form() -> None:
    entra = FakeEntra()
    grant = PasswordGrant(APP, "admin@partner.example", SecretStr("pw-value"), authority=AUTHORITY)
    with httpx.Client(auth=BearerAuth(grant), transport=httpx.MockTransport(entra)) as http:
        assert http.get(API).status_code == 200
    request_form = entra.token_calls[0]
    assert request_form["grant_type"] == "password"
    assert request_form["resource"] == "https://api.partner.microsoft.com"
    assert request_form["username"] == "admin@partner.example"
    assert request_form["password"] == "pw-value"
    assert "pw-value" not in repr(grant)
    assert "client-secret-value" not in repr(grant)


@pytest.mark.parametrize(
    ("audience", "expected"),
    [
        (Audience(), {"scope": "https://api.partner.microsoft.com/.default"}),
        (Audience(version="v1"), {"resource": "https://api.partner.microsoft.com"}),
    ],
)
def test_client_credentials_form(audience: Audience, expected: dict[str, str]) -> None:
    grant = ClientCredentialsGrant(APP, authority=AUTHORITY, audience=audience)
    request = grant.request()
    form = form_of(request)
    assert (
        form.items()
        >= ({"grant_type": "client_credentials", "client_id": "client-1"} | expected).items()
    )
    version = "oauth2/token" if audience.version == "v1" else "oauth2/v2.0/token"
    assert str(request.url) == f"https://login.example/contoso-tenant/{version}"


class DeviceEntra:
    """A device-code endpoint: pending twice, then slow_down, then tokens."""

    def __init__(self, answers: list[str]) -> None:
        self.answers = answers
        self.polls: list[dict[str, str]] = []

    def __call__(self, request: httpx.Request) -> httpx.Response:
        if request.url.path.endswith("/devicecode"):
            body = {"device_code": "dev-1", "user_code": "ABC", "interval": 3, "expires_in": 60}
            return httpx.Response(200, json=body | {"message": "Enter ABC at https://x"})
        self.polls.append(form_of(request))
        answer = self.answers.pop(0)
        if answer == "ok":
            return httpx.Response(200, json={"access_token": "a", "refresh_token": "first-rt"})
        return httpx.Response(400, json={"error": answer})


def device_login(entra: DeviceEntra, clock: ManualClock, shown: list[str]) -> DeviceCodeLogin:
    http = httpx.Client(transport=httpx.MockTransport(entra))
    store = MemoryTokenStore()
    return DeviceCodeLogin(http, APP, store, shown.append, authority=AUTHORITY, clock=clock)


def test_device_code_polls_honouring_interval_and_slow_down() -> None:
    entra, clock, shown = (
        DeviceEntra(["authorization_pending", "slow_down", "ok"]),
        ManualClock(),
        [],
    )
    login = device_login(entra, clock, shown)
    tokens = login.run()
    assert shown == ["Enter ABC at https://x"]
    assert clock.slept == [3, 3, 8]
    assert tokens.refresh_token is not None
    assert login.store.load() == "first-rt"
    assert {p["grant_type"] for p in entra.polls} == {DEVICE_CODE_GRANT}
    assert entra.polls[0]["device_code"] == "dev-1"


def test_device_code_expiry_and_refusal_are_auth_errors() -> None:
    clock = ManualClock()
    with pytest.raises(AuthError, match="expired"):
        device_login(DeviceEntra(["authorization_pending"] * 30), clock, []).run()
    with pytest.raises(AuthError) as caught:
        device_login(DeviceEntra(["expired_token"]), ManualClock(), []).run()
    assert caught.value.code == "expired_token"
    with pytest.raises(AuthError) as denied:
        device_login(DeviceEntra(["authorization_declined"]), ManualClock(), []).run()
    assert denied.value.code == "authorization_declined"


def test_reprs_hide_secrets() -> None:
    auth = BearerAuth(RefreshTokenGrant(APP, MemoryTokenStore("rt-secret")))
    assert "client-secret-value" not in repr(APP)
    assert "rt-secret" not in repr(auth)
