from typing import Any

import pytest
from pc_helpers import REFERRALS, create
from starlette.testclient import TestClient

from cosell.clock import ManualClock

PRECONDITION_FAILED = {
    "error": {
        "code": "preconditionFailed",
        "message": "A precondition provided in the request (such as an if-match header) does "
        "not match the resource's current state.",
        "target": "ETag",
        "innerError": {
            "code": "99918",
            "message": "One of the specified pre-condition is not met. Etag value did not Match",
            "details": None,
        },
    }
}


def patch(
    client: TestClient, auth: dict[str, str], rid: str, ops: list[dict[str, Any]], **headers: str
) -> Any:
    return client.patch(f"{REFERRALS}/{rid}", json=ops, headers={**auth, **headers})


def test_new_pending_create_comes_back_active_accepted(
    client: TestClient, auth: dict[str, str]
) -> None:
    response = client.post(
        REFERRALS, json={**create_body()}, headers={**auth, "client-request-id": "abc"}
    )
    assert response.status_code == 201
    body = response.json()
    assert (body["status"], body["substatus"], body["direction"]) == (
        "Active",
        "Accepted",
        "Outgoing",
    )
    assert body["eTag"].startswith('"')
    assert body["eTag"].endswith('"')
    assert response.headers["ETag"] == body["eTag"]
    assert response.headers["client-request-id"] == "abc"
    assert response.headers["request-id"]
    assert body["links"]["self"]["uri"].endswith(body["id"])
    fetched = client.get(f"{REFERRALS}/{body['id']}", headers=auth).json()
    assert fetched == body


def create_body() -> dict[str, Any]:
    from pc_helpers import new_referral

    return new_referral()


def test_get_unknown_is_item_not_found(client: TestClient, auth: dict[str, str]) -> None:
    response = client.get(f"{REFERRALS}/6f1c9c43-0000-0000-0000-000000000000", headers=auth)
    assert response.status_code == 404
    assert response.json()["error"]["code"] == "itemNotFound"


def test_stale_if_match_answers_412_with_the_documented_body(
    client: TestClient, auth: dict[str, str], clock: ManualClock
) -> None:
    referral = create(client, auth)
    ops = [{"op": "replace", "path": "/details/notes", "value": "first"}]
    assert (
        patch(client, auth, referral["id"], ops, **{"If-Match": referral["eTag"]}).status_code
        == 204
    )
    clock.advance(1)
    stale = patch(client, auth, referral["id"], ops, **{"If-Match": referral["eTag"]})
    assert stale.status_code == 412
    assert stale.json() == PRECONDITION_FAILED


def test_patch_without_if_match_succeeds_and_bumps_etag(
    client: TestClient, auth: dict[str, str], clock: ManualClock
) -> None:
    referral = create(client, auth)
    clock.advance(5)
    ops = [
        {"op": "replace", "path": "/details/dealValue", "value": "10000"},
        {"op": "add", "path": "/team/-", "value": {"email": "s@partner.example"}},
    ]
    response = patch(client, auth, referral["id"], ops, Prefer="return=representation")
    assert response.status_code == 200
    body = response.json()
    assert body["details"]["dealValue"] == 10000
    assert body["team"][-1]["email"] == "s@partner.example"
    assert body["eTag"] != referral["eTag"]
    assert response.headers["ETag"] == body["eTag"]
    assert body["updatedDateTime"] > referral["updatedDateTime"]


@pytest.mark.parametrize(
    ("ops", "target"),
    [
        ([{"op": "remove", "path": "/details/notes"}], "[0].op"),
        ([{"op": "replace", "path": "/id", "value": "x"}], "[0].path"),
        ([{"op": "replace", "path": "/status", "value": "New"}], "substatus"),
        ([{"op": "replace", "path": "/substatus", "value": "Won"}], "substatus"),
        ([{"op": "replace", "path": "/details/dealValue", "value": "lots"}], "details.dealValue"),
        ([], "body"),
    ],
)
def test_invalid_patches_are_rejected(
    client: TestClient, auth: dict[str, str], ops: list[dict[str, Any]], target: str
) -> None:
    referral = create(client, auth)
    response = patch(client, auth, referral["id"], ops)
    assert response.status_code == 400
    assert response.json()["error"]["code"] == "invalidRequest"
    assert response.json()["error"]["target"] == target


def test_active_cannot_go_back_to_new_and_closed_is_terminal(
    client: TestClient, auth: dict[str, str]
) -> None:
    referral = create(client, auth)
    back = [
        {"op": "replace", "path": "/status", "value": "New"},
        {"op": "replace", "path": "/substatus", "value": "Pending"},
    ]
    assert patch(client, auth, referral["id"], back).json()["error"]["target"] == "status"
    won = [
        {"op": "replace", "path": "/status", "value": "Closed"},
        {"op": "replace", "path": "/substatus", "value": "Won"},
    ]
    closed = patch(client, auth, referral["id"], won, Prefer="return=representation").json()
    assert closed["closedDateTime"] is not None
    again = patch(client, auth, referral["id"], [{"op": "replace", "path": "/name", "value": "x"}])
    assert again.status_code == 400
    assert "Closed" in again.json()["error"]["message"]
    put = client.put(
        f"{REFERRALS}/{referral['id']}",
        json={"name": "y"},
        headers={**auth, "If-Match": closed["eTag"]},
    )
    assert put.status_code == 400


@pytest.mark.parametrize(
    ("change", "target"),
    [
        ({"details": {"requirements": {"solutions": []}}}, "details.requirements.solutions"),
        ({"customerProfile": {"address": {"country": "USA"}}}, "customerProfile.address.country"),
        (
            {"customerProfile": {"address": {}, "team": [{"email": "a@b"}]}},
            "customerProfile.address.country",
        ),
        ({"customerProfile": {"address": {"country": "US"}, "team": []}}, "customerProfile.team"),
        ({"consent": None}, "consent"),
    ],
)
def test_co_sell_create_validations_name_the_field(
    client: TestClient, auth: dict[str, str], change: dict[str, Any], target: str
) -> None:
    from pc_helpers import new_referral

    body = new_referral(inviteContext={"assistanceRequestCode": "ProofOfConceptOrDemo"}, **change)
    response = client.post(REFERRALS, json=body, headers=auth)
    assert response.status_code == 400
    error = response.json()["error"]
    assert error["code"] == "invalidRequest"
    assert error["target"] == target
    assert set(error["innerError"]) == {"code", "message", "details"}


def test_co_sell_without_help_needs_no_solution(client: TestClient, auth: dict[str, str]) -> None:
    referral = create(client, auth, details={"requirements": {"solutions": []}})
    assert referral["status"] == "Active"


def test_put_requires_if_match_and_rejects_links(client: TestClient, auth: dict[str, str]) -> None:
    referral = create(client, auth)
    url = f"{REFERRALS}/{referral['id']}"
    assert client.put(url, json={"name": "n"}, headers=auth).json()["error"]["target"] == "If-Match"
    with_links = client.put(
        url, json={"name": "n", "links": {}}, headers={**auth, "If-Match": referral["eTag"]}
    )
    assert with_links.json()["error"]["target"] == "links"
    body = {k: v for k, v in referral.items() if k != "links"} | {"name": "Renamed"}
    ok = client.put(url, json=body, headers={**auth, "If-Match": referral["eTag"]})
    assert ok.status_code == 200
    assert ok.json()["name"] == "Renamed"
    assert ok.json()["eTag"] != referral["eTag"]
    stale = client.put(url, json=body, headers={**auth, "If-Match": referral["eTag"]})
    assert stale.status_code == 412


def test_upgrade_to_co_sell_is_validated_and_visibility_is_one_way(
    client: TestClient, auth: dict[str, str]
) -> None:
    referral = create(client, auth, details={"requirements": {"solutions": []}})
    help_ops = [
        {
            "op": "replace",
            "path": "/inviteContext/assistanceRequestCode",
            "value": "QuotesOrLicensing",
        }
    ]
    refused = patch(client, auth, referral["id"], help_ops)
    assert refused.json()["error"]["target"] == "details.requirements.solutions"
    solution = {"op": "add", "path": "/details/requirements/solutions/-", "value": {"id": "SOL-9"}}
    share = {
        "op": "replace",
        "path": "/consent/consentToShareReferralWithMicrosoftSellers",
        "value": True,
    }
    assert patch(client, auth, referral["id"], [solution, share, *help_ops]).status_code == 204
    unshare = [{**share, "value": False}]
    reverted = patch(client, auth, referral["id"], unshare)
    assert reverted.status_code == 400
    assert reverted.json()["error"]["target"] == (
        "consent.consentToShareReferralWithMicrosoftSellers"
    )


def test_extra_patch_paths_are_configurable(
    client: TestClient, auth: dict[str, str], config: Any
) -> None:
    referral = create(client, auth)
    ops = [{"op": "replace", "path": "/customerProfile/address/city", "value": "Nice"}]
    assert patch(client, auth, referral["id"], ops).status_code == 400
    config.extra_patch_paths = ("/customerProfile/address/city",)
    assert patch(client, auth, referral["id"], ops).status_code == 204
