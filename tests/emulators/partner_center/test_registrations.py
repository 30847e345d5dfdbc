"""Deal registration on the emulator: eligibility, server-filled fields, updates, review."""

from __future__ import annotations

import uuid
from typing import Any

import pytest
from pc_helpers import REFERRALS, Receiver, create, register
from starlette.testclient import TestClient

from cosell.clock import ManualClock
from cosell.emulators.partner_center import PartnerCenterEmulatorConfig
from cosell.emulators.partner_center.responses import format_time
from support.wait import wait_until

HOUR = 3600
WON = [
    {"op": "replace", "path": "/status", "value": "Closed"},
    {"op": "replace", "path": "/substatus", "value": "Won"},
]
REGISTRATION = {
    "type": "AzureIPCoSell",
    "solutionDetails": [
        {
            "id": "SOL-1",
            "value": 800,
            "currency": "EUR",
            "isDeployedOnAzure": True,
            "primaryDeploymentOn": "Customer",
            "pricingModel": "PayAsYouGo",
            "marketplaceTransactionDetails": {"isMarketplaceTransacted": False},
        }
    ],
    "contract": {
        "value": 1000,
        "currency": "EUR",
        "startDateTime": "2026-03-01T00:00:00Z",
        "endDateTime": "2027-02-28T00:00:00Z",
        "signDateTime": "2026-02-27T00:00:00Z",
        "term": "Finite",
    },
}
ADD = [{"op": "add", "path": "/registrations/-", "value": REGISTRATION}]
PARTNER_LED = {"consent": {"consentToShareReferralWithMicrosoftSellers": True}}


@pytest.fixture
def config() -> PartnerCenterEmulatorConfig:
    # tokens outlive the 72 hours these tests move the clock by
    return PartnerCenterEmulatorConfig(delivery_backoff=0.001, token_ttl=30 * 24 * HOUR)


def patch(client: TestClient, auth: dict[str, str], rid: str, ops: Any, **headers: str) -> Any:
    return client.patch(f"{REFERRALS}/{rid}", json=ops, headers={**auth, **headers})


def won(
    client: TestClient,
    auth: dict[str, str],
    clock: ManualClock,
    wait: float = 73 * HOUR,
    **overrides: Any,
) -> dict[str, Any]:
    """A referral created ``wait`` seconds ago and then closed as Won."""
    referral = create(client, auth, **{**PARTNER_LED, **overrides})
    clock.advance(wait)
    response = patch(client, auth, referral["id"], WON, Prefer="return=representation")
    assert response.status_code == 200, response.text
    body: dict[str, Any] = response.json()
    return body


def registered(client: TestClient, auth: dict[str, str], clock: ManualClock) -> dict[str, Any]:
    referral = won(client, auth, clock)
    response = patch(client, auth, referral["id"], ADD, Prefer="return=representation")
    assert response.status_code == 200, response.text
    body: dict[str, Any] = response.json()
    return body


def error_of(response: Any) -> tuple[int, str, str]:
    error = response.json()["error"]
    assert error["innerError"]["message"]
    return response.status_code, error["code"], error["target"]


def test_registering_a_won_deal_fills_the_server_fields(
    client: TestClient, auth: dict[str, str], clock: ManualClock, receiver: Receiver
) -> None:
    register(client, auth, ["referral-updated"])
    referral = won(client, auth, clock)
    clock.advance(60)
    response = patch(client, auth, referral["id"], ADD, **{"If-Match": referral["eTag"]})
    assert response.status_code == 204
    after = client.get(f"{REFERRALS}/{referral['id']}", headers=auth).json()
    assert response.headers["ETag"] == after["eTag"] != referral["eTag"]
    now = format_time(clock.now())
    assert after["updatedDateTime"] == now != referral["updatedDateTime"]
    assert (after["status"], after["substatus"], after["registrationStatus"]) == (
        "Closed",
        "Won",
        "ReviewPending",
    )
    [row] = after["registrations"]
    assert uuid.UUID(row["id"])
    assert (row["registrationDateTime"], row["status"], row["statusReason"]) == (
        now,
        "ReviewPending",
        None,
    )
    assert row["statusHistory"] == {
        "reviewPendingDateTime": now,
        "actionRequiredDateTime": None,
        "passedDateTime": None,
        "failedDateTime": None,
        "approvedDateTime": None,
    }
    assert row["contract"] == REGISTRATION["contract"]
    [solution] = row["solutionDetails"]
    assert solution == {
        "id": "SOL-1",
        "name": "Sample",
        "value": 800,
        "currency": "EUR",
        "isDeployedOnAzure": True,
        "primaryDeploymentOn": "Customer",
        "pricingModel": "PayAsYouGo",
        "marketplaceTransactionDetails": {
            "isMarketplaceTransacted": False,
            "marketplaceTransactionDateTime": None,
        },
    }
    wait_until(lambda: receiver.events() == ["referral-updated", "referral-updated"])


def test_registration_without_solution_details_takes_the_deal_solutions(
    client: TestClient, auth: dict[str, str], clock: ManualClock
) -> None:
    referral = won(client, auth, clock)
    ops = [{"op": "add", "path": "/registrations/-", "value": {"contract": {"value": "12.5"}}}]
    body = patch(client, auth, referral["id"], ops, Prefer="return=representation").json()
    [row] = body["registrations"]
    assert row["type"] == "AzureIPCoSell"
    assert row["contract"]["value"] == 12.5
    assert [(s["id"], s["name"], s["value"]) for s in row["solutionDetails"]] == [
        ("SOL-1", "Sample", None)
    ]


def no_solution() -> dict[str, Any]:
    return {"details": {"dealValue": 5, "currency": "EUR", "requirements": {"solutions": []}}}


@pytest.mark.parametrize(
    ("wait", "overrides", "close", "target"),
    [
        (73 * HOUR, {}, [], "status"),
        (73 * HOUR, {}, [WON[0], {**WON[1], "value": "Lost"}], "status"),
        (
            73 * HOUR,
            {"consent": {"consentToShareReferralWithMicrosoftSellers": False}},
            WON,
            "consent.consentToShareReferralWithMicrosoftSellers",
        ),
        (73 * HOUR, no_solution(), WON, "details.requirements.solutions"),
        (72 * HOUR - 1, {}, WON, "createdDateTime"),
    ],
    ids=["active", "lost", "private", "no-solution", "under-72-hours"],
)
def test_ineligible_referrals_are_refused_naming_the_rule(
    client: TestClient,
    auth: dict[str, str],
    clock: ManualClock,
    wait: float,
    overrides: dict[str, Any],
    close: list[dict[str, Any]],
    target: str,
) -> None:
    referral = create(client, auth, **{**PARTNER_LED, **overrides})
    clock.advance(wait)
    if close:
        assert patch(client, auth, referral["id"], close).status_code == 204
    before = client.get(f"{REFERRALS}/{referral['id']}", headers=auth).json()
    response = patch(client, auth, referral["id"], ADD)
    assert error_of(response) == (400, "invalidRequest", target)
    after = client.get(f"{REFERRALS}/{referral['id']}", headers=auth).json()
    assert after == before


def test_co_sell_referral_is_eligible_and_exactly_72_hours_is_enough(
    client: TestClient, auth: dict[str, str], clock: ManualClock
) -> None:
    co_sell = {"inviteContext": {"assistanceRequestCode": "QuotesOrLicensing"}}
    referral = won(client, auth, clock, wait=72 * HOUR, **co_sell)
    assert patch(client, auth, referral["id"], ADD).status_code == 204


def test_a_second_registration_is_refused(
    client: TestClient, auth: dict[str, str], clock: ManualClock
) -> None:
    referral = registered(client, auth, clock)
    response = patch(client, auth, referral["id"], ADD)
    assert error_of(response) == (400, "invalidRequest", "registrations")


def test_if_match_is_honoured(client: TestClient, auth: dict[str, str], clock: ManualClock) -> None:
    referral = won(client, auth, clock)
    stale = patch(client, auth, referral["id"], ADD, **{"If-Match": '"stale"'})
    assert error_of(stale) == (412, "preconditionFailed", "ETag")
    assert patch(client, auth, referral["id"], ADD, **{"If-Match": "*"}).status_code == 204
    update = [{"op": "replace", "path": "/registrations/0/contract/value", "value": 9}]
    stale = patch(client, auth, referral["id"], update, **{"If-Match": referral["eTag"]})
    assert stale.status_code == 412


def test_updating_contract_and_solution_fields(
    client: TestClient, auth: dict[str, str], clock: ManualClock
) -> None:
    referral = registered(client, auth, clock)
    clock.advance(HOUR)
    ops = [
        {"op": "replace", "path": "/registrations/0/contract/value", "value": 2000},
        {"op": "replace", "path": "/registrations/0/contract/term", "value": "Perpetual"},
        {"op": "add", "path": "/registrations/0/solutionDetails/0/pricingModel", "value": "Other"},
        {
            "op": "replace",
            "path": "/registrations/0/solutionDetails/0/marketplaceTransactionDetails/"
            "marketplaceTransactionDateTime",
            "value": "2026-03-02T10:00:00Z",
        },
    ]
    response = patch(
        client,
        auth,
        referral["id"],
        ops,
        Prefer="return=representation",
        **{"If-Match": referral["eTag"]},
    )
    assert response.status_code == 200, response.text
    body = response.json()
    [row] = body["registrations"]
    assert (row["contract"]["value"], row["contract"]["term"]) == (2000, "Perpetual")
    assert row["contract"]["currency"] == "EUR"
    solution = row["solutionDetails"][0]
    assert solution["pricingModel"] == "Other"
    transacted = solution["marketplaceTransactionDetails"]["marketplaceTransactionDateTime"]
    assert transacted == "2026-03-02T10:00:00Z"
    assert row["id"] == referral["registrations"][0]["id"]
    assert body["eTag"] != referral["eTag"]
    assert body["updatedDateTime"] == format_time(clock.now())


@pytest.mark.parametrize(
    ("ops", "target"),
    [
        ([{"op": "replace", "path": "/registrations/0/status", "value": "Approved"}], "[0].path"),
        ([{"op": "replace", "path": "/registrations/1/contract/value", "value": 1}], "[0].path"),
        ([{"op": "remove", "path": "/registrations/0/contract/value"}], "[0].op"),
        (
            [{"op": "replace", "path": "/registrations/0/contract/term", "value": "Forever"}],
            "[0].value",
        ),
        (
            [{"op": "replace", "path": "/registrations/0/contract/value", "value": "lots"}],
            "[0].value",
        ),
        (
            [{"op": "replace", "path": "/registrations/0/contract/signDateTime", "value": "soon"}],
            "[0].value",
        ),
        (
            [
                {"op": "replace", "path": "/registrations/0/contract/value", "value": 1},
                {"op": "replace", "path": "/details/notes", "value": "x"},
            ],
            "[1].path",
        ),
    ],
    ids=["status", "second-index", "remove", "term", "value", "date", "mixed"],
)
def test_bad_updates_are_refused(
    client: TestClient,
    auth: dict[str, str],
    clock: ManualClock,
    ops: list[dict[str, Any]],
    target: str,
) -> None:
    referral = registered(client, auth, clock)
    response = patch(client, auth, referral["id"], ops)
    assert error_of(response) == (400, "invalidRequest", target)
    after = client.get(f"{REFERRALS}/{referral['id']}", headers=auth).json()
    assert after["eTag"] == referral["eTag"]


@pytest.mark.parametrize(
    ("value", "target"),
    [
        ({**REGISTRATION, "type": "Other"}, "[0].value.type"),
        ({"solutionDetails": [{"id": "SOL-9"}]}, "[0].value.solutionDetails[0]"),
        ({"contract": {"term": "Sometimes"}}, "[0].value.contract.term"),
        (
            {"solutionDetails": [{"id": "SOL-1", "isDeployedOnAzure": "yes"}]},
            "[0].value.solutionDetails[0].isDeployedOnAzure",
        ),
    ],
    ids=["type", "unknown-solution", "term", "flag"],
)
def test_bad_registrations_are_refused(
    client: TestClient, auth: dict[str, str], clock: ManualClock, value: Any, target: str
) -> None:
    referral = won(client, auth, clock)
    ops = [{"op": "add", "path": "/registrations/-", "value": value}]
    assert error_of(patch(client, auth, referral["id"], ops)) == (400, "invalidRequest", target)


def test_an_update_needs_a_registration(
    client: TestClient, auth: dict[str, str], clock: ManualClock
) -> None:
    referral = won(client, auth, clock)
    ops = [{"op": "replace", "path": "/registrations/0/contract/value", "value": 1}]
    assert error_of(patch(client, auth, referral["id"], ops)) == (
        400,
        "invalidRequest",
        "registrations",
    )


def test_other_writes_to_a_registered_won_referral_stay_refused(
    client: TestClient, auth: dict[str, str], clock: ManualClock
) -> None:
    referral = registered(client, auth, clock)
    ops = [{"op": "replace", "path": "/details/notes", "value": "late"}]
    assert error_of(patch(client, auth, referral["id"], ops)) == (400, "invalidRequest", "status")


def review(client: TestClient, rid: str, **body: Any) -> Any:
    return client.post(f"/_emulator/referrals/{rid}/registrations/0/status", json=body)


def test_microsoft_review_moves_the_status_and_fires_an_event(
    client: TestClient, auth: dict[str, str], clock: ManualClock, receiver: Receiver
) -> None:
    referral = registered(client, auth, clock)
    register(client, auth, ["referral-updated"])
    clock.advance(HOUR)
    response = review(client, referral["id"], status="ActionRequired", statusReason="Sign date")
    assert response.status_code == 200
    body = response.json()
    row = body["registrations"][0]
    assert (row["status"], row["statusReason"], body["registrationStatus"]) == (
        "ActionRequired",
        "Sign date",
        "ActionRequired",
    )
    acted = format_time(clock.now())
    assert row["statusHistory"]["actionRequiredDateTime"] == acted
    assert response.headers["ETag"] == body["eTag"] != referral["eTag"]
    wait_until(lambda: receiver.events() == ["referral-updated"])
    clock.advance(HOUR)
    fix = [
        {"op": "replace", "path": "/registrations/0/contract/signDateTime", "value": "2026-03-01"}
    ]
    resubmitted = patch(client, auth, referral["id"], fix, Prefer="return=representation").json()
    row = resubmitted["registrations"][0]
    assert (row["status"], row["statusReason"]) == ("ReviewPending", None)
    history = row["statusHistory"]
    assert history["reviewPendingDateTime"] == format_time(clock.now())
    assert history["actionRequiredDateTime"] == acted != history["reviewPendingDateTime"]
    approved = review(client, referral["id"], status="Approved").json()
    assert approved["registrations"][0]["status"] == "Approved"
    assert approved["registrations"][0]["statusHistory"]["approvedDateTime"]
    assert approved["registrationStatus"] == "Approved"
    late = [{"op": "replace", "path": "/registrations/0/contract/value", "value": 1}]
    refused = patch(client, auth, referral["id"], late)
    assert error_of(refused) == (400, "invalidRequest", "registrations[0].status")


def test_review_rejects_unknown_outcomes_and_unregistered_referrals(
    client: TestClient, auth: dict[str, str], clock: ManualClock
) -> None:
    referral = won(client, auth, clock)
    assert error_of(review(client, referral["id"], status="Approved"))[2] == "registrations"
    patch(client, auth, referral["id"], ADD)
    assert error_of(review(client, referral["id"], status="Maybe")) == (
        400,
        "invalidRequest",
        "status",
    )
    missing = review(client, "6f1c9c43-0000-0000-0000-000000000000", status="Approved")
    assert missing.status_code == 404
