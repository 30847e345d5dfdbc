"""Fidelity: the client reads recorded real Salesforce responses (skipped when they are absent)."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import httpx
import pytest

from cosell.clients.salesforce import SalesforceClient
from cosell.clients.salesforce_auth import PasswordGrant, SalesforceAuth, Token
from cosell.clients.salesforce_errors import RecordRejected, error_from_response
from cosell.errors import Ambiguous, APIError, AuthError, Conflict, NotFound, RejectedError

FIXTURES = Path(__file__).resolve().parents[2].parent / "shared/reference/fixtures/salesforce"
pytestmark = pytest.mark.skipif(not FIXTURES.is_dir(), reason="reference fixtures not present")
BASE = "https://org.example.my.salesforce.com"


def fixture(name: str) -> Any:
    return json.loads((FIXTURES / name).read_text(encoding="utf-8"))


def status_of(name: str) -> int:
    return int(name.split(".")[-2])


@pytest.mark.parametrize(
    ("name", "cls", "code"),
    [
        ("error-duplicate-value.400.json", Conflict, "DUPLICATE_VALUE"),
        ("error-entity-is-deleted.404.json", NotFound, "ENTITY_IS_DELETED"),
        ("error-field-custom-validation-multiple.400.json", RecordRejected, None),
        ("error-invalid-field.400.json", RecordRejected, "INVALID_FIELD"),
        ("error-invalid-session-id.401.json", AuthError, "INVALID_SESSION_ID"),
        ("error-json-parser.400.json", RejectedError, "JSON_PARSER_ERROR"),
        ("error-malformed-query.400.json", RecordRejected, "MALFORMED_QUERY"),
        ("error-not-found.404.json", NotFound, "NOT_FOUND"),
        ("error-not-found-invalid-id.404.json", NotFound, "NOT_FOUND"),
        ("error-required-field-missing.400.json", RecordRejected, "REQUIRED_FIELD_MISSING"),
        ("upsert-multiple-matches.300.json", Ambiguous, None),
    ],
)
def test_recorded_errors_map_to_cosell_errors(
    name: str, cls: type[APIError], code: str | None
) -> None:
    request = httpx.Request("PATCH", f"{BASE}/services/data/v62.0/sobjects/X/1")
    response = httpx.Response(status_of(name), json=fixture(name), request=request)
    error = error_from_response(response)
    assert isinstance(error, cls)
    if code:
        assert error.code == code


def test_both_validation_messages_are_kept() -> None:
    name = "error-field-custom-validation-multiple.400.json"
    request = httpx.Request("POST", f"{BASE}/services/data/v62.0/sobjects/Account")
    error = error_from_response(httpx.Response(400, json=fixture(name), request=request))
    assert "no ACME accounts" in str(error)
    assert "no 123 phone" in str(error)


def test_recorded_pages_are_followed() -> None:
    pages = {
        "/services/data/v62.0/query": fixture("query-page1-done-false.200.json"),
        fixture("query-page1-done-false.200.json")["nextRecordsUrl"]: fixture(
            "query-page2-last.200.json"
        ),
    }

    def serve(request: httpx.Request) -> httpx.Response:
        return httpx.Response(200, json=pages[request.url.path])

    client = SalesforceClient(httpx.Client(transport=httpx.MockTransport(serve), base_url=BASE))
    rows = list(client.query("SELECT Id FROM Contact"))
    expected = sum(len(page["records"]) for page in pages.values())
    assert len(rows) == expected
    assert rows[0]["attributes"]["type"] == "Contact"


def test_recorded_upsert_create_without_created_flag() -> None:
    def serve(request: httpx.Request) -> httpx.Response:
        return httpx.Response(201, json=fixture("upsert-created.201.json"))

    client = SalesforceClient(httpx.Client(transport=httpx.MockTransport(serve), base_url=BASE))
    result = client.upsert("Whizbang", "External_Id__c", "ext-1", {"Name": "n"})
    assert result.created is True
    assert result.id == fixture("upsert-created.201.json")["id"]


@pytest.mark.parametrize(
    "name",
    [
        "oauth-token-jwt-bearer.200.json",
        "oauth-token-client-credentials.200.json",
        "oauth-token-password.200.json",
        "oauth-token-refresh.200.json",
    ],
)
def test_recorded_token_responses_parse(name: str) -> None:
    payload = fixture(name)
    token = Token.parse(payload)
    assert token.instance_url == payload["instance_url"]
    assert payload["access_token"] not in repr(token)


def test_recorded_login_refusal() -> None:
    body = fixture("oauth-error-invalid-grant-password.400.json")

    def serve(request: httpx.Request) -> httpx.Response:
        return httpx.Response(400, json=body)

    http = httpx.Client(transport=httpx.MockTransport(serve))
    auth = SalesforceAuth(
        PasswordGrant("c", "s", "u", "p"), f"{BASE}/services/oauth2/token", http=http
    )
    with pytest.raises(AuthError, match="invalid_grant: authentication failure"):
        auth.login()
