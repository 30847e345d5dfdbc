"""PartnerCenterClient deal registration: against the emulator, and its wire form and retries."""

from __future__ import annotations

import json
import random
from collections.abc import Iterator
from datetime import UTC, datetime
from typing import Any

import httpx
import pytest
from pydantic import SecretStr
from starlette.testclient import TestClient

from cosell.clients.entra_auth import AppCredentials, Authority, BearerAuth, PasswordGrant
from cosell.clients.partner_center import JsonPatchOp, PartnerCenterClient
from cosell.clients.referral import Referral
from cosell.clients.retry import RetryPolicy
from cosell.clock import ManualClock
from cosell.emulators.partner_center import PartnerCenterEmulatorConfig, create_app
from cosell.errors import RejectedError, ServerError, StaleWrite

CONFIG = PartnerCenterEmulatorConfig(delivery_backoff=0.001)
HOURS_72 = 72 * 3600
REGISTRATION = {
    "type": "AzureIPCoSell",
    "contract": {"value": 1200, "currency": "EUR", "term": "Finite"},
    "solutionDetails": [{"id": "SOL-1", "value": 1200, "pricingModel": "PayAsYouGo"}],
}
VALUE_UPDATE: list[JsonPatchOp] = [
    {"op": "replace", "path": "/registrations/0/contract/value", "value": 1500}
]


class Sandbox:
    """The emulator behind a password-grant client on a manual clock."""

    def __init__(self, http: TestClient, clock: ManualClock) -> None:
        self.http, self.clock = http, clock
        retry = RetryPolicy(attempts=3, clock=clock, rng=random.Random(5))
        self.client = PartnerCenterClient(http, retry=retry)

    def won(self, shared: bool = True) -> Referral:
        """A referral created more than 72 hours ago and closed as Won."""
        body = {
            "name": "Contoso migration",
            "type": "Independent",
            "customerProfile": {"name": "Contoso", "address": {"country": "NL"}},
            "consent": {"consentToShareReferralWithMicrosoftSellers": shared},
            "details": {"requirements": {"solutions": [{"id": "SOL-1", "name": "Ours"}]}},
        }
        created = self.client.create_referral(body)
        assert created.id is not None
        self.clock.advance(HOURS_72 + 60)
        ops: list[JsonPatchOp] = [
            {"op": "replace", "path": "/status", "value": "Closed"},
            {"op": "replace", "path": "/substatus", "value": "Won"},
        ]
        self.client.patch_referral(created.id, ops, created.e_tag)
        return self.client.get_referral(created.id)


@pytest.fixture
def sandbox() -> Iterator[Sandbox]:
    clock = ManualClock(datetime(2026, 3, 1, 12, 0, tzinfo=UTC))
    app = create_app(CONFIG, clock=clock)
    with TestClient(app) as http:
        authority = Authority(tenant=CONFIG.tenant, url="http://testserver")
        credentials = AppCredentials(CONFIG.client_id, SecretStr(CONFIG.client_secret))
        grant = PasswordGrant(
            credentials, CONFIG.username, SecretStr(CONFIG.password), authority=authority
        )
        http.auth = BearerAuth(grant, clock=clock)
        yield Sandbox(http, clock)


def rows(referral: Referral) -> list[dict[str, Any]]:
    extra = referral.model_extra or {}
    registrations: list[dict[str, Any]] = extra["registrations"]
    return registrations


def test_register_then_update_a_won_deal(sandbox: Sandbox) -> None:
    referral = sandbox.won()
    assert referral.id is not None
    registered = sandbox.client.register_deal(referral.id, REGISTRATION, if_match=referral.e_tag)
    [row] = rows(registered)
    assert (row["status"], row["contract"]["value"]) == ("ReviewPending", 1200)
    assert row["solutionDetails"][0]["name"] == "Ours"
    assert (registered.model_extra or {})["registrationStatus"] == "ReviewPending"
    assert registered.e_tag != referral.e_tag
    updated = sandbox.client.update_deal_registration(referral.id, VALUE_UPDATE, registered.e_tag)
    assert rows(updated)[0]["contract"]["value"] == 1500
    assert rows(updated)[0]["id"] == row["id"]
    assert rows(sandbox.client.get_referral(referral.id)) == rows(updated)


def test_a_stale_etag_is_a_stale_write(sandbox: Sandbox) -> None:
    referral = sandbox.won()
    assert referral.id is not None
    registered = sandbox.client.register_deal(referral.id, REGISTRATION)
    with pytest.raises(StaleWrite):
        sandbox.client.update_deal_registration(referral.id, VALUE_UPDATE, referral.e_tag)
    assert rows(sandbox.client.get_referral(referral.id)) == rows(registered)


def test_a_private_deal_is_rejected_naming_the_rule(sandbox: Sandbox) -> None:
    referral = sandbox.won(shared=False)
    assert referral.id is not None
    with pytest.raises(RejectedError) as caught:
        sandbox.client.register_deal(referral.id, REGISTRATION)
    assert caught.value.code == "invalidRequest"
    assert "consentToShareReferralWithMicrosoftSellers" in str(caught.value)


def test_update_refuses_paths_outside_the_registration() -> None:
    def refuse(request: httpx.Request) -> httpx.Response:
        raise AssertionError("no request may be sent")

    http = httpx.Client(base_url="https://pc.example", transport=httpx.MockTransport(refuse))
    ops: list[JsonPatchOp] = [{"op": "replace", "path": "/details/notes", "value": "x"}]
    with pytest.raises(ValueError, match="/details/notes"):
        PartnerCenterClient(http).update_deal_registration("r-1", ops)


class Script:
    """Answers a fixed list of responses and records the requests."""

    def __init__(self, *answers: httpx.Response) -> None:
        self.answers, self.requests = list(answers), list[httpx.Request]()

    def __call__(self, request: httpx.Request) -> httpx.Response:
        self.requests.append(request)
        return self.answers.pop(0)


def scripted(*answers: httpx.Response) -> tuple[PartnerCenterClient, Script]:
    script = Script(*answers)
    http = httpx.Client(base_url="https://pc.example", transport=httpx.MockTransport(script))
    retry = RetryPolicy(attempts=3, clock=ManualClock(), rng=random.Random(1))
    return PartnerCenterClient(http, retry=retry), script


DOC = {"id": "r-1", "eTag": '"e2"', "registrations": [{"id": "g-1", "status": "ReviewPending"}]}


def test_register_sends_one_add_op_guarded_and_asks_for_the_referral() -> None:
    client, script = scripted(httpx.Response(200, json=DOC))
    referral = client.register_deal("r-1", REGISTRATION, if_match='"e1"')
    assert rows(referral) == DOC["registrations"]
    [request] = script.requests
    assert (request.method, request.url.path) == ("PATCH", "/v1.0/engagements/referrals/r-1")
    assert json.loads(request.content) == [
        {"op": "add", "path": "/registrations/-", "value": REGISTRATION}
    ]
    assert request.headers["If-Match"] == '"e1"'
    assert request.headers["Prefer"] == "return=representation"


def test_a_204_without_a_body_reads_the_referral_back() -> None:
    client, script = scripted(httpx.Response(204), httpx.Response(200, json=DOC))
    assert rows(client.update_deal_registration("r-1", VALUE_UPDATE)) == DOC["registrations"]
    assert [r.method for r in script.requests] == ["PATCH", "GET"]


def test_an_unguarded_registration_is_not_resent_after_a_server_error() -> None:
    client, script = scripted(httpx.Response(503), httpx.Response(200, json=DOC))
    with pytest.raises(ServerError):
        client.register_deal("r-1", REGISTRATION)
    assert len(script.requests) == 1


def test_a_guarded_registration_is_retried_after_a_server_error() -> None:
    client, script = scripted(httpx.Response(503), httpx.Response(200, json=DOC))
    assert rows(client.register_deal("r-1", REGISTRATION, if_match='"e1"'))[0]["id"] == "g-1"
    assert len(script.requests) == 2
