"""Fidelity: emulator responses validate against the published Referral V3 swagger definition."""

import json
from pathlib import Path
from typing import Any

import pytest
from jsonschema import Draft4Validator
from pc_helpers import REFERRALS, create, password_token
from starlette.testclient import TestClient

from cosell.clock import ManualClock

SWAGGER = (
    Path(__file__).resolve().parents[3].parent
    / "shared/reference/partner-center-referrals.connector.apiDefinition.swagger.json"
)
REFERRAL = "Microsoft.Partner.Service.PartnerReferrals.Contracts.V3.Referral"


def nullable(schema: Any) -> Any:
    """Swagger 2.0 cannot say "or null"; the live service writes explicit nulls, so allow them."""
    if isinstance(schema, dict):
        out = {k: nullable(v) for k, v in schema.items()}
        if isinstance(out.get("type"), str):
            out["type"] = [out["type"], "null"]
        if "enum" in out:
            out["enum"] = [*out["enum"], None]
        return out
    if isinstance(schema, list):
        return [nullable(v) for v in schema]
    return schema


@pytest.fixture(scope="module")
def validator() -> Draft4Validator:
    if not SWAGGER.exists():
        pytest.skip("the swagger reference folder is not present")
    swagger = json.loads(SWAGGER.read_text())
    root = {"definitions": nullable(swagger["definitions"]), "$ref": f"#/definitions/{REFERRAL}"}
    return Draft4Validator(root)


def test_responses_match_the_referral_schema(
    client: TestClient, auth: dict[str, str], validator: Draft4Validator
) -> None:
    created = create(client, auth, salesStage="Qualify")
    validator.validate(created)
    validator.validate(client.get(f"{REFERRALS}/{created['id']}", headers=auth).json())
    shared = client.post("/_emulator/referrals", json={}).json()
    for item in client.get(REFERRALS, headers=auth).json()["value"]:
        validator.validate(item)
    ops = [{"op": "replace", "path": "/details/dealValue", "value": "2500.5"}]
    patched = client.patch(
        f"{REFERRALS}/{shared['id']}",
        json=ops,
        headers={**auth, "Prefer": "return=representation"},
    ).json()
    validator.validate(patched)
    assert patched["details"]["dealValue"] == 2500.5


def test_a_registered_referral_matches_the_referral_schema(
    client: TestClient, clock: ManualClock, validator: Draft4Validator
) -> None:
    auth = {"Authorization": f"Bearer {password_token(client)['access_token']}"}
    shared = {"consent": {"consentToShareReferralWithMicrosoftSellers": True}}
    referral = create(client, auth, **shared)
    clock.advance(73 * 3600)
    auth = {"Authorization": f"Bearer {password_token(client)['access_token']}"}
    ops: list[dict[str, Any]] = [
        {"op": "replace", "path": "/status", "value": "Closed"},
        {"op": "replace", "path": "/substatus", "value": "Won"},
    ]
    assert client.patch(f"{REFERRALS}/{referral['id']}", json=ops, headers=auth).is_success
    value = {"contract": {"value": 900, "currency": "EUR", "term": "Finite"}}
    ops = [{"op": "add", "path": "/registrations/-", "value": value}]
    prefer = {**auth, "Prefer": "return=representation"}
    registered = client.patch(f"{REFERRALS}/{referral['id']}", json=ops, headers=prefer).json()
    assert registered["registrations"][0]["status"] == "ReviewPending"
    validator.validate(registered)
    path = f"/_emulator/referrals/{referral['id']}/registrations/0/status"
    validator.validate(client.post(path, json={"status": "Approved"}).json())


@pytest.fixture(scope="module")
def list_validator() -> Draft4Validator:
    if not SWAGGER.exists():
        pytest.skip("the swagger reference folder is not present")
    swagger = json.loads(SWAGGER.read_text())
    listing = swagger["paths"]["/referrals"]["get"]["responses"]["200"]["schema"]
    return Draft4Validator({**nullable(listing), "definitions": nullable(swagger["definitions"])})


@pytest.mark.parametrize(
    "select",
    [
        "id,updatedDateTime,eTag",
        "customerProfile/name,customerProfile/address/country,team/email,details/dealValue",
        "registrations/status,links/self/uri,consent",
    ],
)
def test_a_selected_listing_matches_the_list_schema(
    client: TestClient, auth: dict[str, str], list_validator: Draft4Validator, select: str
) -> None:
    create(client, auth, team=[{"email": "sam@partner.example", "firstName": "Sam"}])
    client.post("/_emulator/referrals", json={})
    body = client.get(REFERRALS, params={"$select": select}, headers=auth).json()
    assert len(body["value"]) == 2
    list_validator.validate(body)
    # the schema must be able to fail: a selected property of the wrong type is caught
    body["value"][0]["id"] = 7
    assert not list_validator.is_valid(body)
