"""``cosell setup salesforce`` against the in-process Salesforce emulator."""

from __future__ import annotations

from pathlib import Path

import httpx
from click.testing import CliRunner
from starlette.applications import Starlette
from starlette.testclient import TestClient

from cosell.cli.main import main
from cosell.emulators.salesforce import SalesforceEmulatorConfig, create_app
from cosell.sync.core.mapping import default_mapping_text

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


def stage_values(app: Starlette) -> list[str]:
    body = admin(app).get("/services/data/v62.0/sobjects/Opportunity/describe").json()
    stage = next(f for f in body["fields"] if f["name"] == "StageName")
    return [p["value"] for p in stage["picklistValues"]]


MAPPED = ("Loss_Reason__c", "Microsoft_Referral_Visibility__c", "Microsoft_CRM_Identifier__c")


def test_check_then_setup_then_nothing_to_change() -> None:
    app = create_app()
    code, output = run(app, "--check")
    assert code == 1, output
    assert "Missing: 1 object, 14 fields, 2 stages" in output
    assert "On Hold" in output
    assert "Declined" in output
    assert "Referral_Identifier__c" not in describe(app, "Opportunity")
    assert "On Hold" not in stage_values(app)

    code, output = run(app)
    assert code == 0, output
    assert "Created: 1 object, 14 fields, 2 stages, 1 permission set, 1 assignment" in output
    fields = describe(app, "Opportunity")
    assert fields["Referral_Identifier__c"] == "string"
    assert fields["Sync_with_Partner_Center__c"] == "boolean"
    assert fields["Audit__c"] == "textarea"
    assert fields["Co_sell_Sync_Status__c"] == "string"
    assert fields["Co_sell_Sync_Error__c"] == "textarea"
    assert [fields[name] for name in MAPPED] == ["string", "boolean", "string"]
    assert describe(app, "Microsoft_Solution__c")["Opportunity__c"] == "reference"
    assert {"On Hold", "Declined"} <= set(stage_values(app))

    code, output = run(app)
    assert code == 0, output
    assert "Nothing to change: 14 fields, 1 object, 12 stages, object and field access OK" in output
    code, output = run(app, "--check")
    assert code == 0, output
    assert "Nothing to change" in output


def test_stages_added_by_setup_are_writable_with_their_closed_and_won_flags() -> None:
    app = create_app()
    assert run(app)[0] == 0
    client = admin(app)
    api = "/services/data/v62.0/sobjects/Opportunity"
    base = {"Name": "Deal", "CloseDate": "2027-01-31"}
    expected = {"On Hold": (False, False, 10), "Declined": (True, False, 0)}
    for stage, flags in expected.items():
        created = client.post(api, json={**base, "StageName": stage})
        assert created.status_code == 201, created.text
        record = client.get(f"{api}/{created.json()['id']}").json()
        assert (record["IsClosed"], record["IsWon"], record["Probability"]) == flags


def test_custom_mapping_field_is_created(tmp_path: Path) -> None:
    text = default_mapping_text() + (
        "  partner_note:\n"
        "    partner_center: details.requirements.note\n"
        "    crm: Foo__c\n"
        "    transform: text\n"
        "    max_length: 1000\n"
    )
    mapping = tmp_path / "mapping.yaml"
    mapping.write_text(text, encoding="utf-8")
    app = create_app()
    code, output = run(app, "--mapping", str(mapping), "--check")
    assert code == 1
    assert "Opportunity.Foo__c" in output
    code, output = run(app, "--mapping", str(mapping))
    assert code == 0, output
    assert "Created: 1 object, 15 fields" in output
    assert describe(app, "Opportunity")["Foo__c"] == "textarea"
    assert run(app)[0] == 0  # the shipped mapping needs nothing more


def test_bad_mapping_file_exits_2_naming_it(tmp_path: Path) -> None:
    mapping = tmp_path / "broken.yaml"
    mapping.write_text("version: 1\nfields: {}\n", encoding="utf-8")
    code, output = run(create_app(), "--mapping", str(mapping))
    assert code == 2, output
    assert "broken.yaml" in output


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
    assert "Created: 1 object, 12 fields, 2 stages" in output
    assert "Differs: 1 field" in output
    assert "is boolean, expected url" in output
    assert describe(app, "Opportunity")["Products__c"] == "string"
    code, output = run(app)
    assert code == 1
    assert "Differs: 1 field" in output
    assert "Created" not in output


SOLUTION_OBJECT = {
    "FullName": "Microsoft_Solution__c",
    "Metadata": {
        "label": "Microsoft Solution",
        "pluralLabel": "Microsoft Solutions",
        "nameField": {"type": "Text", "label": "Microsoft Solution Name"},
        "deploymentStatus": "Deployed",
        "sharingModel": "ReadWrite",
    },
}


def test_strict_org_gets_object_and_field_access_for_the_integration_user() -> None:
    app = create_app(SalesforceEmulatorConfig(fls_strict=True))
    client = admin(app)
    created = client.post(
        "/services/data/v62.0/tooling/sobjects/CustomObject", json=SOLUTION_OBJECT
    )
    assert created.status_code == 201, created.text  # an admin made it earlier: still hidden
    rows = "/services/data/v62.0/sobjects/Microsoft_Solution__c"
    assert client.get(f"{rows}/describe").status_code == 404

    code, output = run(app)
    assert code == 0, output
    assert "Created: 14 fields, 2 stages, 1 permission set, 1 assignment" in output
    assert "Granted: access to 1 object, access to 14 fields" in output
    assert describe(app, "Microsoft_Solution__c")["Solution_Id__c"] == "string"
    opportunity = client.post(
        "/services/data/v62.0/sobjects/Opportunity",
        json={"Name": "Deal", "StageName": "On Hold", "CloseDate": "2027-01-31"},
    ).json()["id"]
    row = {"Name": "Azure", "Solution_Id__c": "SOL-1", "Opportunity__c": opportunity}
    made = client.post(rows, json=row)
    assert made.status_code == 201, made.text
    assert client.delete(f"{rows}/{made.json()['id']}").status_code == 204

    code, output = run(app)
    assert code == 0, output
    assert "Nothing to change" in output
    assert "Created" not in output
