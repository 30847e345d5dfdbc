"""``/api/v1``: the OpenAPI document validates; the API answers for scripts with tokens and
refuses what roles and CSRF forbid; a property-based run against the document finds no 5xx."""

from __future__ import annotations

from collections.abc import Iterator
from datetime import UTC, datetime
from pathlib import Path

import pytest
import schemathesis
from console_seed import FakeSides, Seeded, seed
from console_world import ConsoleWorld, field
from hypothesis import given, settings
from openapi_spec_validator import validate
from schemathesis import GenerationMode
from schemathesis.checks import not_a_server_error

from cosell.clock import ManualClock
from cosell.operations.checks import Check
from cosell.operations.connection_health import keep_allowance, keep_checks
from cosell.store.alerts import Alert
from cosell.store.sql import Store, sqlite_url

START = datetime(2026, 3, 2, 9, 0, tzinfo=UTC)


@pytest.fixture
def world(tmp_path: Path) -> Iterator[tuple[ConsoleWorld, Seeded]]:
    clock = ManualClock(START)
    store = Store.open(sqlite_url(tmp_path), clock=clock)
    console = ConsoleWorld(store, clock, FakeSides())
    yield console, seed(store, console.tenant)
    store.close()


def bearer(console: ConsoleWorld, user: str) -> dict[str, str]:
    if not hasattr(console, "tokens"):
        console.tokens = {}  # type: ignore[attr-defined]
    tokens = console.tokens  # type: ignore[attr-defined]
    if user not in tokens:
        tokens[user] = console.users.issue_token(user, "test")
    return {"Authorization": f"Bearer {tokens[user]}"}


def test_the_openapi_document_validates(world) -> None:  # type: ignore[no-untyped-def]
    console, _ = world
    document = console.client().get("/api/v1/openapi.json").json()
    validate(document)
    assert "/api/v1/records" in document["paths"]
    assert "RecordOut" in document["components"]["schemas"]


def test_overview_and_alerts_carry_health_api_use_and_deliveries(world) -> None:  # type: ignore[no-untyped-def]
    console, _ = world
    store, tenant, now = console.store, console.tenant, console.clock.now()
    check = Check("webhook registration", "fail", "no webhook registration", "run: cosell …")
    keep_checks(store, tenant, [check], now)
    keep_allowance(store, tenant, now, 25_000, 100_000)
    alert = Alert("connection:webhook registration", "fail@1", "connection", "failing", "none")
    store.add_alert(tenant, alert, ["teams"])
    headers = bearer(console, "vera")
    overview = console.client().get("/api/v1/overview", headers=headers).json()
    (connection,) = overview["connections"]
    assert connection["level"] == "fail"
    assert connection["fix"] == "run: cosell …"
    assert len(overview["hours"]) == 24
    assert overview["hours"][-1]["salesforce_used"] == 25_000
    assert overview["hours"][0]["salesforce_used"] is None
    (kept,) = console.client().get("/api/v1/alerts", headers=headers).json()
    assert kept["subject"] == "connection:webhook registration"
    assert kept["pending"] == ["teams"]
    assert kept["sent_at"] is None


def test_records_by_token(world) -> None:  # type: ignore[no-untyped-def]
    console, _ = world
    client = console.client()
    assert client.get("/api/v1/records").status_code == 401
    answer = client.get("/api/v1/records", params={"q": "contoso"}, headers=bearer(console, "vera"))
    assert answer.status_code == 200
    [record] = answer.json()["records"]
    assert record["name"] == "Contoso AI pilot"
    assert record["customer"] == "Contoso Ltd"
    bad = client.get("/api/v1/records", params={"state": "nope"}, headers=bearer(console, "vera"))
    assert bad.status_code == 400
    assert "state must be one of" in bad.json()["error"]


def test_record_detail_marks_differences(world) -> None:  # type: ignore[no-untyped-def]
    console, _ = world
    answer = console.client().get("/api/v1/records/R-1", headers=bearer(console, "vera")).json()
    differing = [f["name"] for f in answer["sides"]["fields"] if f["differs"]]
    assert differing == ["deal_value"]
    refused = console.client().get("/api/v1/records/R-2", headers=bearer(console, "vera")).json()
    assert refused["record"]["reason"]["text"].startswith("Salesforce refused this record")


def test_actions_need_an_operator(world) -> None:  # type: ignore[no-untyped-def]
    console, seeded = world
    client = console.client()
    viewer, operator = bearer(console, "vera"), bearer(console, "otto")
    body = {"keys": ["opportunity:006B"]}
    assert client.post("/api/v1/dead-letters/retry", json=body, headers=viewer).status_code == 403
    done = client.post("/api/v1/dead-letters/retry", json=body, headers=operator)
    assert done.json() == {"keys": ["opportunity:006B"]}
    path = f"/api/v1/conflicts/{seeded.account_conflict}/resolve"
    refused = client.post(path, json={"take": "partner_center"}, headers=operator)
    assert refused.status_code == 400
    picked = client.post(path, json={"take": "value", "value": "001AAA"}, headers=operator)
    assert picked.status_code == 200
    assert client.post(path, json={"take": "crm"}, headers=operator).status_code == 404
    wrong = client.post(path, json={"take": "mine"}, headers=operator)
    assert wrong.status_code == 422
    assert wrong.json()["error"].startswith("take:")


def test_a_browser_session_posts_with_its_csrf_header(world) -> None:  # type: ignore[no-untyped-def]
    console, _ = world
    browser = console.sign_in("otto")
    body = {"all": True}
    assert browser.post("/api/v1/dead-letters/retry", json=body).status_code == 403
    csrf = field(browser.get("/").text, "csrf")
    answer = browser.post("/api/v1/dead-letters/retry", json=body, headers={"X-CSRF-Token": csrf})
    assert answer.json() == {"keys": ["opportunity:006B"]}


def test_property_based_run_finds_no_server_error(tmp_path: Path) -> None:
    """Every operation of the document, driven by schemathesis's generated cases as an admin
    (positive and negative data): no answer is a 5xx."""
    clock = ManualClock(START)
    store = Store.open(sqlite_url(tmp_path), clock=clock)
    console = ConsoleWorld(store, clock, FakeSides())
    seed(store, console.tenant)
    schema = schemathesis.openapi.from_asgi("/api/v1/openapi.json", console.app)
    headers = bearer(console, "ada")
    statuses: list[int] = []

    def exercise(case: schemathesis.Case) -> None:
        response = case.call_and_validate(headers=headers, checks=[not_a_server_error])
        statuses.append(response.status_code)

    try:
        for result in schema.get_all_operations():
            for mode in (GenerationMode.POSITIVE, GenerationMode.NEGATIVE):
                strategy = result.ok().as_strategy(mode)
                check = settings(max_examples=15, deadline=None, database=None)(
                    given(case=strategy)(exercise)
                )
                check()
    finally:
        store.close()
    print(f"schemathesis: {len(statuses)} calls, statuses {sorted(set(statuses))}")
    assert len(statuses) >= 8 * 5
    assert max(statuses) < 500


def test_decide_by_api(world) -> None:  # type: ignore[no-untyped-def]
    console, _ = world
    client, operator = console.client(), bearer(console, "otto")
    body = {"decision": "accept"}
    unavailable = client.post("/api/v1/records/R-3/decide", json=body, headers=operator)
    assert unavailable.status_code == 400

    def decide(referral_id: str, decision: str) -> str:
        if referral_id != "R-3":
            raise LookupError(f"referral {referral_id} has no opportunity yet")
        return "Qualification"

    console.dashboard.decide = decide
    answer = client.post("/api/v1/records/R-3/decide", json=body, headers=operator)
    assert answer.json() == {"stage": "Qualification"}
    assert client.post("/api/v1/records/R-9/decide", json=body, headers=operator).status_code == 404
    wrong = client.post("/api/v1/records/R-3/decide", json={"decision": "x"}, headers=operator)
    assert wrong.status_code == 422
