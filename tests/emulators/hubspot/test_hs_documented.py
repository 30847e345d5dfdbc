"""The emulator's answers against the example responses in HubSpot's public documentation.

Each example below is the shape HubSpot's developer documentation shows for a call (the page is
cited beside it). The emulator's answer to the same call must carry every key of the example,
with a value of the same JSON type, recursively (lists compared by their first item); where the
documentation fixes a value (a status, a category, a type name), the value must match too.
"""

import json
import uuid
from typing import Any

import httpx
import pytest
from hs_api import Api

from cosell.emulators.hubspot import HubSpotEmulatorConfig

DOCS = "https://developers.hubspot.com/docs"


def assert_shape(documented: Any, answered: Any, path: str = "$") -> None:
    if isinstance(documented, dict):
        assert isinstance(answered, dict), f"{path}: expected an object, got {answered!r}"
        for key, value in documented.items():
            assert key in answered, f"{path}.{key} missing from {sorted(answered)}"
            assert_shape(value, answered[key], f"{path}.{key}")
    elif isinstance(documented, list):
        assert isinstance(answered, list), f"{path}: expected a list"
        if documented:
            assert answered, f"{path}: documented non-empty, answered empty"
            assert_shape(documented[0], answered[0], f"{path}[0]")
    elif documented is None:
        return
    else:
        assert type(answered) is type(documented), f"{path}: {answered!r} vs {documented!r}"


# {DOCS}/api-reference/latest/crm/objects/deals/guide — a deal read with its associations
DEAL = {
    "id": "512",
    "properties": {
        "dealname": "X",
        "amount": "1500",
        "hs_object_id": "512",
        "hs_lastmodifieddate": "2024-08-15T17:09:13.648Z",
        "createdate": "2024-08-15T17:09:13.648Z",
    },
    "createdAt": "2024-08-15T17:09:13.648Z",
    "updatedAt": "2024-08-15T17:09:13.648Z",
    "archived": False,
    "associations": {"companies": {"results": [{"id": "9001", "type": "deal_to_company"}]}},
}
# {DOCS}/api-reference/latest/crm/search-the-crm — a search answer with a next page
SEARCH = {
    "total": 38,
    "results": [
        {
            "id": "2810868468",
            "properties": {},
            "createdAt": "2024-08-15T17:09:13.648Z",
            "updatedAt": "2024-08-15T17:09:13.648Z",
            "archived": False,
        }
    ],
    "paging": {"next": {"after": "10"}},
}
# {DOCS}/api-reference/error-handling — a validation error
VALIDATION = {
    "status": "error",
    "message": "Property values were not valid: []",
    "correlationId": "a43683b0-5717-4ceb-80b4-104d02915d8c",
    "category": "VALIDATION_ERROR",
    "errors": [{"message": "x", "code": "INVALID_INTEGER", "context": {"propertyName": ["x"]}}],
}
# {DOCS}/api-reference/error-handling — a batch create with objectWriteTraceId (207)
MULTI_STATUS = {
    "status": "COMPLETE",
    "results": [{"id": "1", "properties": {}}],
    "numErrors": 1,
    "errors": [
        {
            "status": "error",
            "category": "VALIDATION_ERROR",
            "message": "x",
            "context": {"objectWriteTraceId": ["549b1c2a9351"]},
            "errors": [],
            "links": {},
        }
    ],
    "startedAt": "2024-08-15T17:09:13.648Z",
    "completedAt": "2024-08-15T17:09:13.648Z",
    "links": {},
}
# {DOCS}/api-reference/legacy/crm/associations/associate-records/guide — a v4 association page
ASSOCIATIONS = {
    "results": [
        {
            "toObjectId": 5790939450,
            "associationTypes": [{"category": "HUBSPOT_DEFINED", "typeId": 5, "label": "Primary"}],
        }
    ]
}
# {DOCS}/api-reference/legacy/crm/pipelines/guide — a deal pipeline
PIPELINE = {
    "id": "default",
    "label": "Sales Pipeline",
    "displayOrder": 0,
    "archived": False,
    "createdAt": "2024-08-15T17:09:13.648Z",
    "updatedAt": "2024-08-15T17:09:13.648Z",
    "stages": [
        {
            "id": "appointmentscheduled",
            "label": "Appointment Scheduled",
            "displayOrder": 0,
            "archived": False,
            "metadata": {"isClosed": "false", "probability": "0.2"},
            "createdAt": "2024-08-15T17:09:13.648Z",
            "updatedAt": "2024-08-15T17:09:13.648Z",
            "writePermissions": "CRM_PERMISSIONS_ENFORCEMENT",
        }
    ],
}
# {DOCS}/api-reference/legacy/authentication/oauth-tokens/v1/guide — a token answer and a refusal
TOKEN = {"token_type": "bearer", "refresh_token": "r", "access_token": "a", "expires_in": 1800}
BAD_REFRESH = {
    "error": "invalid_grant",
    "error_description": "refresh token is invalid, expired or revoked",
    "status": "BAD_REFRESH_TOKEN",
    "message": "m",
}
# {DOCS}/api/usage-details (2023-24 version) — a 429 for the daily limit
DAILY_429 = {
    "status": "error",
    "message": "You have reached your daily limit.",
    "errorType": "RATE_LIMIT",
    "correlationId": "c033cdaa",
    "policyName": "DAILY",
    "requestId": "3d3e35b7",
}
# {DOCS}/api/webhooks/validating-requests — the fields of one delivered event
EVENT = {
    "eventId": 1,
    "subscriptionId": 12345,
    "portalId": 62515,
    "occurredAt": 1564113600000,
    "subscriptionType": "contact.creation",
    "attemptNumber": 0,
    "objectId": 123,
    "changeSource": "CRM",
    "changeFlag": "NEW",
    "appId": 54321,
}


def _deal_with_company(api: Api) -> dict[str, Any]:
    company = api.ok("POST", "/crm/v3/objects/companies", 201, json={"properties": {"name": "C"}})
    body = {
        "properties": {"dealname": "X", "amount": "1500", "dealstage": "contractsent"},
        "associations": [
            {
                "to": {"id": company["id"]},
                "types": [{"associationCategory": "HUBSPOT_DEFINED", "associationTypeId": 5}],
            }
        ],
    }
    return api.ok("POST", "/crm/v3/objects/deals", 201, json=body)


def test_deal_read(api: Api) -> None:
    deal = _deal_with_company(api)
    answered = api.ok(
        "GET",
        f"/crm/v3/objects/deals/{deal['id']}",
        params={"properties": "dealname,amount", "associations": "companies"},
    )
    assert_shape(DEAL, answered)
    assert "deal_to_company" in {
        r["type"] for r in answered["associations"]["companies"]["results"]
    }


def test_search_page(api: Api) -> None:
    for _ in range(3):
        api.deal()
    assert_shape(SEARCH, api.ok("POST", "/crm/v3/objects/deals/search", json={"limit": 2}))


def test_validation_error(api: Api) -> None:
    response = api.call(
        "POST",
        "/crm/v3/objects/deals",
        json={"properties": {"dealname": "x", "dealstage": "closedwon", "amount": "lots"}},
    )
    answered = response.json()
    assert_shape(VALIDATION, answered)
    assert (response.status_code, answered["category"]) == (400, "VALIDATION_ERROR")
    assert uuid.UUID(answered["correlationId"])
    assert answered["message"].startswith("Property values were not valid: ")


def test_batch_multi_status(api: Api) -> None:
    inputs = [
        {"properties": {"dealname": "a", "dealstage": "closedwon"}, "objectWriteTraceId": "t1"},
        {"properties": {"dealname": "b", "amount": "x"}, "objectWriteTraceId": "t2"},
    ]
    response = api.call("POST", "/crm/v3/objects/deals/batch/create", json={"inputs": inputs})
    assert response.status_code == 207
    assert_shape(MULTI_STATUS, response.json())


def test_association_page(api: Api) -> None:
    deal = _deal_with_company(api)
    answered = api.ok("GET", f"/crm/v4/objects/deal/{deal['id']}/associations/company")
    assert_shape(ASSOCIATIONS, answered)


def test_pipeline(api: Api) -> None:
    answered = api.ok("GET", "/crm/v3/pipelines/deals/default")
    assert_shape(PIPELINE, answered)
    assert answered["stages"][0]["metadata"] == PIPELINE["stages"][0]["metadata"]  # type: ignore[index]


def test_token_answers(api: Api, config: HubSpotEmulatorConfig) -> None:
    location = api.client.get(
        "/oauth/authorize",
        follow_redirects=False,
        params={"client_id": config.client_id, "redirect_uri": "https://a.example/cb"},
    ).headers["location"]
    form = {
        "grant_type": "authorization_code",
        "code": location.split("code=")[1],
        "redirect_uri": "https://a.example/cb",
        "client_id": config.client_id,
        "client_secret": config.client_secret,
    }
    assert_shape(TOKEN, api.client.post("/oauth/v1/token", data=form).json())
    refused = api.client.post(
        "/oauth/v1/token", data={**form, "grant_type": "refresh_token", "refresh_token": "gone"}
    )
    assert_shape(BAD_REFRESH, refused.json())
    assert refused.json()["status"] == "BAD_REFRESH_TOKEN"


def test_daily_limit(api: Api, client: httpx.Client) -> None:
    client.post("/_emulator/faults", json={"kind": "daily_limit"})
    response = api.call("GET", "/crm/v3/objects/deals")
    assert response.status_code == 429
    assert_shape({k: v for k, v in DAILY_429.items() if k != "requestId"}, response.json())
    assert response.json()["policyName"] == "DAILY"


def test_webhook_event(api: Api, client: httpx.Client, monkeypatch: pytest.MonkeyPatch) -> None:
    sent: list[Any] = []
    monkeypatch.setattr(api.emulator.dispatcher, "emit", sent.append)
    subscriptions = [{"eventType": "contact.creation"}]
    client.put(
        "/_emulator/webhooks",
        json={"target_url": "https://r.example/h", "subscriptions": subscriptions},
    )
    api.ok("POST", "/crm/v3/objects/contacts", 201, json={"properties": {"email": "a@b.example"}})
    [event] = json.loads(sent[0].body)
    assert_shape({k: v for k, v in EVENT.items() if k != "changeSource"}, event)
    assert (event["changeSource"], event["changeFlag"]) == ("INTEGRATION", "NEW")
