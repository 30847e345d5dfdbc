"""The Partner Center client, Entra auth and webhook verification against the emulator."""

from __future__ import annotations

import random
import threading
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import Any

import httpx
import pytest
from pydantic import SecretStr
from starlette.testclient import TestClient

from cosell.clients.entra_auth import (
    AppCredentials,
    Authority,
    BearerAuth,
    DeviceCodeLogin,
    PasswordGrant,
    RefreshTokenGrant,
)
from cosell.clients.partner_center import PartnerCenterClient
from cosell.clients.retry import RetryPolicy
from cosell.clients.token_store import MemoryTokenStore
from cosell.clock import ManualClock
from cosell.emulators.partner_center import PartnerCenterEmulatorConfig
from cosell.emulators.partner_center.app import create_app
from cosell.errors import AuthError, StaleWrite
from cosell.webhooks import CertificateCache, TrustPolicy, WebhookVerifier
from support.wait import wait_until

CONFIG = PartnerCenterEmulatorConfig(delivery_backoff=0.001)
AUTHORITY = Authority(tenant=CONFIG.tenant, url="http://testserver")
APP = AppCredentials(CONFIG.client_id, SecretStr(CONFIG.client_secret))
HOOK_URL = "https://receiver.example/hooks/partner-center"
EVENTS = ["referral-created", "referral-updated", "test-created"]


@dataclass
class Receiver:
    """The webhook endpoint the emulator delivers to."""

    requests: list[httpx.Request] = field(default_factory=list)
    lock: threading.Lock = field(default_factory=threading.Lock)

    def __call__(self, request: httpx.Request) -> httpx.Response:
        request.read()
        with self.lock:
            self.requests.append(request)
        return httpx.Response(200)

    def wait_for(self, count: int, timeout: float = 5.0) -> list[httpx.Request]:
        return wait_until(lambda: self._at_least(count), timeout, what=f"{count} deliveries")

    def _at_least(self, count: int) -> list[httpx.Request]:
        with self.lock:
            return list(self.requests) if len(self.requests) >= count else []


@dataclass
class Sandbox:
    http: TestClient
    clock: ManualClock
    receiver: Receiver
    store: MemoryTokenStore

    @property
    def emulator(self) -> Any:
        return self.http.app.state.emulator  # type: ignore[attr-defined]

    def client(self) -> PartnerCenterClient:
        retry = RetryPolicy(attempts=4, clock=self.clock, rng=random.Random(3))
        return PartnerCenterClient(self.http, retry=retry)


@pytest.fixture
def sandbox() -> Iterator[Sandbox]:
    clock = ManualClock(datetime(2026, 3, 1, 12, 0, tzinfo=UTC))
    receiver = Receiver()
    delivery = httpx.Client(transport=httpx.MockTransport(receiver))
    app = create_app(CONFIG, clock=clock, delivery_client=delivery)
    with TestClient(app) as http:
        store = MemoryTokenStore()
        DeviceCodeLogin(http, APP, store, lambda _: None, authority=AUTHORITY, clock=clock).run()
        http.auth = BearerAuth(RefreshTokenGrant(APP, store, authority=AUTHORITY), clock=clock)
        yield Sandbox(http, clock, receiver, store)
    delivery.close()


def new_referral(n: int) -> dict[str, Any]:
    return {
        "name": f"Rollout {n}",
        "externalReferenceId": f"006{n:012d}",
        "type": "Independent",
        "status": "New",
        "substatus": "Pending",
        "customerProfile": {
            "name": "Fabrikam",
            "address": {"city": "Lyon", "country": "FR"},
            "team": [{"firstName": "Ana", "lastName": "Lopez", "email": "ana@fabrikam.example"}],
        },
        "consent": {"consentToShareReferralWithMicrosoftSellers": False},
        "details": {
            "dealValue": "1500.25",
            "currency": "EUR",
            "requirements": {"solutions": [{"id": "SOL-1", "name": "Sample"}]},
        },
        "customField": {"kept": [1, 2]},
    }


def test_paging_through_more_than_250_referrals(sandbox: Sandbox) -> None:
    client = sandbox.client()
    created = {client.create_referral(new_referral(n)).id for n in range(260)}
    listed = [r.id for r in client.list_referrals(orderby="createdDateTime asc")]
    assert len(listed) == 260
    assert set(listed) == created
    pages = list(client.list_pages())
    assert [len(p.referrals) for p in pages] == [100, 100, 60]


def test_guarded_patch_and_stale_write(sandbox: Sandbox) -> None:
    client = sandbox.client()
    referral = client.create_referral(new_referral(1))
    assert referral.id is not None
    assert referral.e_tag is not None
    ops: Any = [{"op": "replace", "path": "/details/notes", "value": "first"}]
    updated = client.patch_referral(referral.id, ops, referral.e_tag, return_representation=True)
    assert updated is not None
    assert updated.details is not None
    assert updated.details.notes == "first"
    with pytest.raises(StaleWrite):
        client.patch_referral(referral.id, ops, if_match=referral.e_tag)
    again = client.get_referral(referral.id)
    assert again.e_tag == updated.e_tag


def test_expired_access_token_is_refreshed_and_the_rotated_token_stored(sandbox: Sandbox) -> None:
    client = sandbox.client()
    next(client.list_pages())
    first_refresh = sandbox.store.load()
    sandbox.clock.advance(CONFIG.token_ttl + 1)
    next(client.list_pages())
    rotated = sandbox.store.load()
    assert rotated is not None
    assert rotated != first_refresh
    # the emulator retires a used refresh token: only the stored one still works
    stale = RefreshTokenGrant(APP, MemoryTokenStore(first_refresh), authority=AUTHORITY)
    sandbox.http.auth = BearerAuth(stale, clock=sandbox.clock)
    with pytest.raises(AuthError) as caught:
        next(client.list_pages())
    assert caught.value.code == "invalid_grant"


def test_throttling_fault_is_waited_out(sandbox: Sandbox) -> None:
    client = sandbox.client()
    next(client.list_pages())
    sandbox.emulator.faults.add({"kind": "throttle", "params": {"retry_after": 7}, "count": 1})
    next(client.list_pages())
    assert max(sandbox.clock.slept) >= 7


def test_password_grant_against_the_emulator(sandbox: Sandbox) -> None:
    grant = PasswordGrant(APP, CONFIG.username, SecretStr(CONFIG.password), authority=AUTHORITY)
    sandbox.http.auth = BearerAuth(grant, clock=sandbox.clock)
    assert list(sandbox.client().list_referrals()) == []


def verifier_for(sandbox: Sandbox) -> WebhookVerifier:
    ca_pem = sandbox.http.get("/_emulator/ca.pem").content
    host = httpx.URL(CONFIG.public_url).host
    policy = TrustPolicy.sandbox_mode(ca_pem, hosts=[host])
    # the emulator's certificates are valid in real time, not on the emulator's clock
    return WebhookVerifier(CertificateCache(sandbox.http, policy))


def headers_of(request: httpx.Request) -> dict[str, str]:
    return dict(request.headers.items())


def test_registration_and_signed_deliveries_verify(sandbox: Sandbox) -> None:
    client = sandbox.client()
    assert "referral-created" in client.supported_events()
    client.register_or_overwrite(HOOK_URL, EVENTS, overwrite=False)
    again = client.register_or_overwrite(
        HOOK_URL, EVENTS[:2], overwrite=True, signature_in_ms_header=True
    )
    assert again.webhook_events == EVENTS[:2]
    client.update_registration(HOOK_URL, EVENTS)
    registration = client.get_registration()
    assert registration is not None
    assert registration.webhook_url == HOOK_URL

    verify: Callable[[dict[str, str], bytes], Any] = verifier_for(sandbox)
    referral = client.create_referral(new_referral(5))
    delivered = sandbox.receiver.wait_for(1)[0]
    callback = verify(headers_of(delivered), delivered.content)
    assert callback.event_name == "referral-created"
    assert callback.referral_id == referral.id

    correlation = client.send_validation_event()
    test_event = sandbox.receiver.wait_for(2)[1]
    callback = verify(headers_of(test_event), test_event.content)
    assert callback.is_test
    assert callback.correlation_id == correlation
    assert client.get_validation_event(correlation).correlation_id == correlation
