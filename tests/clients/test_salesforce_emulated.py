"""SalesforceClient against the in-process Salesforce emulator (TestClient as the httpx.Client)."""

from __future__ import annotations

import random
import threading
from datetime import date, datetime
from typing import Any

import httpx
import pytest
from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric import rsa
from starlette.testclient import TestClient

from cosell.clients.retry import RetryPolicy
from cosell.clients.salesforce import SalesforceClient
from cosell.clients.salesforce_auth import (
    TOKEN_PATH,
    JwtBearerGrant,
    PasswordGrant,
    SalesforceAuth,
)
from cosell.clock import ManualClock, OffsetClock
from cosell.emulators.salesforce import SalesforceEmulatorConfig, create_app
from cosell.errors import Ambiguous, APIError, AuthError, NotFound, StaleWrite, Throttled

BASE = "http://127.0.0.1:8602"


class Org:
    """An emulated org plus an authenticated client and an unauthenticated control client."""

    def __init__(self, config: SalesforceEmulatorConfig | None = None) -> None:
        self.config = config or SalesforceEmulatorConfig()
        self.clock = OffsetClock()
        self.app = create_app(self.config, clock=self.clock)
        self.control = TestClient(self.app, base_url=BASE)
        grant = PasswordGrant(
            self.config.client_id,
            self.config.client_secret,
            self.config.username,
            self.config.password,
        )
        self.auth = SalesforceAuth(grant, BASE + TOKEN_PATH, http=self.control)
        http = TestClient(self.app, base_url=BASE)
        http.auth = self.auth
        self.requests: list[httpx.Request] = []
        http.event_hooks = {"request": [self.requests.append]}
        self.sleeps = ManualClock()
        retry = RetryPolicy(attempts=4, clock=self.sleeps, rng=random.Random(3))
        self.client = SalesforceClient(http, retry=retry)

    def fault(self, kind: str, **rule: Any) -> None:
        response = self.control.post("/_emulator/faults", json={"kind": kind, **rule})
        assert response.status_code == 201, response.text


def opportunity(i: int, **extra: Any) -> dict[str, Any]:
    close = date(2026, 6, 30).isoformat()
    return {"Name": f"Deal {i}", "StageName": "Prospecting", "CloseDate": close, **extra}


def test_query_2500_rows_across_pages() -> None:
    org = Org(SalesforceEmulatorConfig(query_batch_size=1000))
    results = org.client.create_many("Opportunity", [opportunity(i) for i in range(2500)])
    assert all(r.success for r in results)
    org.requests.clear()
    rows = list(org.client.query("SELECT Id, Name FROM Opportunity"))
    assert len(rows) == 2500
    assert len({r["Id"] for r in rows}) == 2500
    assert {r["Id"] for r in rows} == {r.id for r in results}
    paths = [r.url.path for r in org.requests]
    assert len(paths) == 3
    assert paths[0] == "/services/data/v62.0/query"
    assert all(p.startswith("/services/data/v62.0/query/") for p in paths[1:])


def test_collections_450_records_make_three_calls() -> None:
    org = Org()
    org.requests.clear()
    results = org.client.create_many("Opportunity", [opportunity(i) for i in range(450)])
    writes = [r for r in org.requests if r.url.path.endswith("/composite/sobjects")]
    assert len(writes) == 3
    assert len(results) == 450
    assert all(r.success and r.id for r in results)


def test_upsert_created_updated_ambiguous_and_not_found() -> None:
    org = Org()
    org.client.create_custom_field(
        "Opportunity.Referral_Identifier__c",
        {"label": "Referral", "type": "Text", "length": 100, "externalId": True, "unique": True},
    )
    first = org.client.upsert("Opportunity", "Referral_Identifier__c", "r-1", opportunity(1))
    again = org.client.upsert("Opportunity", "Referral_Identifier__c", "r-1", {"Name": "Renamed"})
    assert first.created
    assert first.id is not None
    assert (again.id, again.created) == (first.id, False)
    assert org.client.get("Opportunity", first.id, ["Name"])["Name"] == "Renamed"
    org.client.create_custom_field(
        "Opportunity.Loose_Key__c",
        {"label": "Loose", "type": "Text", "length": 50, "externalId": True},
    )
    org.client.create("Opportunity", opportunity(2, Loose_Key__c="dup"))
    org.client.create("Opportunity", opportunity(3, Loose_Key__c="dup"))
    with pytest.raises(Ambiguous):
        org.client.upsert("Opportunity", "Loose_Key__c", "dup", {"Name": "x"})
    with pytest.raises(NotFound):
        org.client.upsert("Opportunity", "Name", "x", {"StageName": "Prospecting"})


def test_conditional_update_after_a_later_edit_is_stale() -> None:
    org = Org()
    record_id = org.client.create("Opportunity", opportunity(1))
    seen = org.client.get("Opportunity", record_id, ["LastModifiedDate"])["LastModifiedDate"]
    org.clock.advance(5)
    org.client.update("Opportunity", record_id, {"Name": "Someone else"})

    with pytest.raises(StaleWrite):
        org.client.update(
            "Opportunity",
            record_id,
            {"Name": "Mine"},
            if_unmodified_since=datetime.fromisoformat(seen),
        )
    assert org.client.get("Opportunity", record_id, ["Name"])["Name"] == "Someone else"


@pytest.mark.parametrize("kind", ["unable_to_lock_row", "server_error"])
def test_transient_faults_are_retried(kind: str) -> None:
    org = Org()
    record_id = org.client.create("Opportunity", opportunity(1))
    org.fault(kind, count=1, method="PATCH", status=503)
    org.client.update("Opportunity", record_id, {"Name": "After retry"})
    assert len(org.sleeps.slept) == 1
    assert org.client.get("Opportunity", record_id, ["Name"])["Name"] == "After retry"


def test_revoked_tokens_cause_one_relogin() -> None:
    org = Org()
    org.client.create("Opportunity", opportunity(1))
    assert org.auth.logins == 1
    org.control.post("/_emulator/sessions/revoke")
    org.client.create("Opportunity", opportunity(2))
    assert org.auth.logins == 2


def test_exhausted_daily_limit_is_throttled_without_spinning() -> None:
    org = Org()
    org.client.create("Opportunity", opportunity(1))
    org.fault("limit_exhausted", count=1)
    with pytest.raises(Throttled) as raised:
        list(org.client.query("SELECT Id FROM Opportunity"))
    assert raised.value.retry_after is not None
    assert raised.value.retry_after >= 3600
    assert org.sleeps.slept == []


def test_budget_follows_the_emulator_usage_header() -> None:
    org = Org(SalesforceEmulatorConfig(daily_api_limit=5000))
    org.client.describe("Opportunity")
    usage = org.client.budget.usage
    assert usage is not None
    assert usage.max == 5000
    assert usage.used >= 1


def test_every_write_reaches_the_org_with_call_options() -> None:
    org = Org()
    record_id = org.client.create("Opportunity", opportunity(1))
    org.client.update("Opportunity", record_id, {"Name": "2"})
    org.client.create_many("Opportunity", [opportunity(3)])
    org.client.delete("Opportunity", record_id)
    seen = org.control.get("/_emulator/call-options").json()["calls"]
    assert len(seen) == 4
    assert {c["client"] for c in seen} == {"cosell"}


def test_jwt_bearer_login_is_accepted_by_the_emulator() -> None:
    key = rsa.generate_private_key(public_exponent=65537, key_size=2048)
    private = key.private_bytes(
        serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8, serialization.NoEncryption()
    ).decode()
    public = key.public_key().public_bytes(
        serialization.Encoding.PEM, serialization.PublicFormat.SubjectPublicKeyInfo
    )
    config = SalesforceEmulatorConfig(jwt_cert_pem=public)
    app = create_app(config)
    grant = JwtBearerGrant(config.client_id, config.username, private, audience=BASE)
    auth = SalesforceAuth(grant, BASE + TOKEN_PATH, http=TestClient(app, base_url=BASE))
    http = TestClient(app, base_url=BASE)
    http.auth = auth
    client = SalesforceClient(http)
    assert client.describe("Opportunity")["name"] == "Opportunity"
    assert auth.token is not None
    assert auth.token.instance_url == BASE


def test_jwt_signed_with_another_key_is_refused() -> None:
    key, other = (rsa.generate_private_key(public_exponent=65537, key_size=2048) for _ in "ab")
    public = key.public_key().public_bytes(
        serialization.Encoding.PEM, serialization.PublicFormat.SubjectPublicKeyInfo
    )
    wrong = other.private_bytes(
        serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8, serialization.NoEncryption()
    ).decode()
    config = SalesforceEmulatorConfig(jwt_cert_pem=public)
    app = create_app(config)
    grant = JwtBearerGrant(config.client_id, config.username, wrong, audience=BASE)
    auth = SalesforceAuth(grant, BASE + TOKEN_PATH, http=TestClient(app, base_url=BASE))
    with pytest.raises(AuthError) as raised:
        auth.login()
    assert "invalid_grant" in str(raised.value)


def test_threads_after_revocation_share_one_relogin() -> None:
    org = Org()
    record_id = org.client.create("Opportunity", opportunity(1))
    org.control.post("/_emulator/sessions/revoke")
    errors: list[BaseException] = []

    def read() -> None:
        try:
            org.client.get("Opportunity", record_id, ["Name"])
        except BaseException as exc:
            errors.append(exc)

    workers = [threading.Thread(target=read) for _ in range(8)]
    for worker in workers:
        worker.start()
    for worker in workers:
        worker.join(timeout=30)
    assert errors == []
    assert org.auth.logins == 2


def test_queries_read_together_take_one_composite_call_and_keep_their_own_pages() -> None:
    org = Org(SalesforceEmulatorConfig(query_batch_size=200))
    org.client.create_many("Opportunity", [opportunity(i) for i in range(450)])
    org.client.create_many("Account", [{"Name": f"Customer {i}"} for i in range(3)])
    reads = [
        ("query", "SELECT Id FROM Opportunity"),
        ("queryAll", "SELECT Id, Name FROM Account WHERE Name LIKE 'Customer%'"),
        ("query", "SELECT Id FROM Opportunity WHERE Name = 'Deal 7'"),
    ]
    org.requests.clear()
    found = org.client.query_together(reads)
    assert [r.url.path for r in org.requests] == ["/services/data/v62.0/composite"]
    assert len(list(found[0])) == 450  # the first page came in the composite, two more follow
    assert sorted(r["Name"] for r in found[1]) == ["Customer 0", "Customer 1", "Customer 2"]
    assert [r["Id"] for r in found[2]] != []
    later = [r.url.path for r in org.requests[1:]]
    assert len(later) == 2
    assert all(p.startswith("/services/data/v62.0/query/") for p in later)


def test_a_query_refused_inside_a_composite_raises_for_its_rows_only() -> None:
    org = Org()
    org.client.create_many("Opportunity", [opportunity(i) for i in range(2)])
    good, bad = org.client.query_together(
        [("query", "SELECT Id FROM Opportunity"), ("query", "SELECT Nope__c FROM Opportunity")]
    )
    assert len(list(good)) == 2
    with pytest.raises(APIError, match=r"Nope__c"):
        list(bad)


def test_more_queries_than_a_composite_holds_take_a_call_per_five() -> None:
    org = Org()
    org.client.create_many("Opportunity", [opportunity(i) for i in range(3)])
    org.requests.clear()
    found = org.client.query_together([("query", "SELECT Id FROM Opportunity")] * 7)
    assert [len(list(rows)) for rows in found] == [3] * 7
    assert [r.url.path for r in org.requests] == ["/services/data/v62.0/composite"] * 2
