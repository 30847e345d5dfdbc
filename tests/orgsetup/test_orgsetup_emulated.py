"""``cosell setup salesforce`` against the in-process Salesforce emulator."""

from __future__ import annotations

import warnings

import httpx
from click.testing import CliRunner
from starlette.applications import Starlette

from cosell.cli import main
from cosell.emulators.salesforce import SalesforceEmulatorConfig, create_app

with warnings.catch_warnings():
    warnings.filterwarnings("ignore", message="Using `httpx` with `starlette.testclient`")
    from starlette.testclient import TestClient

BASE = "http://127.0.0.1:8602"
CONFIG = SalesforceEmulatorConfig()
ARGS = [
    "setup",
    "salesforce",
    "--login-url",
    BASE,
    "--client-id",
    CONFIG.client_id,
    "--username",
    CONFIG.username,
]
ENV = {"COSELL_SF_CLIENT_SECRET": CONFIG.client_secret, "COSELL_SF_PASSWORD": CONFIG.password}


def run(app: Starlette, *extra: str) -> tuple[int, str]:
    def factory(base_url: str) -> httpx.Client:
        return TestClient(app, base_url=base_url)

    result = CliRunner().invoke(main, [*ARGS, *extra], obj={"http_factory": factory}, env=ENV)
    return result.exit_code, result.output


def admin(app: Starlette) -> TestClient:
    """A client logged in as the integration user, independent of the command under test."""
    client = TestClient(app, base_url=BASE)
    form = {
        "grant_type": "password",
        "client_id": CONFIG.client_id,
        "client_secret": CONFIG.client_secret,
        "username": CONFIG.username,
        "password": CONFIG.password,
    }
    token = client.post("/services/oauth2/token", data=form).json()["access_token"]
    client.headers["Authorization"] = f"Bearer {token}"
    return client


def describe(app: Starlette, sobject: str) -> dict[str, str]:
    body = admin(app).get(f"/services/data/v62.0/sobjects/{sobject}/describe").json()
    return {f["name"]: f["type"] for f in body["fields"]}


def test_check_then_setup_then_nothing_to_change() -> None:
    app = create_app()
    code, output = run(app, "--check")
    assert code == 1, output
    assert "Missing: 1 object, 11 fields" in output
    assert "Referral_Identifier__c" not in describe(app, "Opportunity")

    code, output = run(app)
    assert code == 0, output
    assert "Created: 1 object, 11 fields, 1 permission set, 1 assignment" in output
    fields = describe(app, "Opportunity")
    assert fields["Referral_Identifier__c"] == "string"
    assert fields["Sync_with_Partner_Center__c"] == "boolean"
    assert fields["Audit__c"] == "textarea"
    assert describe(app, "Microsoft_Solution__c")["Opportunity__c"] == "reference"

    code, output = run(app)
    assert code == 0, output
    assert "Nothing to change: 11 fields, 1 object, field access OK" in output
    code, output = run(app, "--check")
    assert code == 0, output
    assert "Nothing to change" in output


def test_field_with_wrong_type_is_reported_not_replaced() -> None:
    app = create_app()
    control = TestClient(app, base_url=BASE)
    code, _ = run(app, "--check")
    assert code == 1
    form = {
        "grant_type": "password",
        "client_id": CONFIG.client_id,
        "client_secret": CONFIG.client_secret,
        "username": CONFIG.username,
        "password": CONFIG.password,
    }
    token = control.post("/services/oauth2/token", data=form).json()["access_token"]
    created = control.post(
        "/services/data/v62.0/tooling/sobjects/CustomField",
        headers={"Authorization": f"Bearer {token}"},
        json={
            "FullName": "Opportunity.Products__c",
            "Metadata": {"label": "P", "type": "Checkbox"},
        },
    )
    assert created.status_code == 201, created.text
    code, output = run(app)
    assert code == 1, output
    assert "Differs: 1 field" in output
    assert "is boolean, expected string" in output
    assert describe(app, "Opportunity")["Products__c"] == "boolean"


def test_fields_hidden_by_field_security_are_found_and_verified() -> None:
    app = create_app(SalesforceEmulatorConfig(fls_strict=True))
    text = {"label": "Products", "type": "Text", "length": 255}
    url = {"label": "Link", "type": "Checkbox", "defaultValue": "false"}
    client = admin(app)
    for name, meta in (("Products__c", text), ("Referral_Link__c", url)):
        body = {"FullName": f"Opportunity.{name}", "Metadata": meta}
        created = client.post("/services/data/v62.0/tooling/sobjects/CustomField", json=body)
        assert created.status_code == 201, created.text
    assert "Products__c" not in describe(app, "Opportunity")  # no field access yet
    code, output = run(app)
    assert code == 1, output  # Referral_Link__c has the wrong type
    assert "Created: 1 object, 9 fields" in output
    assert "Differs: 1 field" in output
    assert "is boolean, expected url" in output
    assert describe(app, "Opportunity")["Products__c"] == "string"
    code, output = run(app)
    assert code == 1
    assert "Differs: 1 field" in output
    assert "Created" not in output
