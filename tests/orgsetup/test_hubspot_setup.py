"""``cosell setup hubspot``: creates the group, properties and stages once; then all is OK."""

from collections.abc import Iterator

import pytest
from click.testing import CliRunner, Result
from starlette.testclient import TestClient

from cosell.cli.main import main
from cosell.emulators.hubspot import HubSpotEmulatorConfig, create_app

CONFIG = HubSpotEmulatorConfig()


@pytest.fixture
def portal() -> Iterator[TestClient]:
    with TestClient(create_app(CONFIG)) as client:
        yield client


def _setup(portal: TestClient, *args: str) -> Result:
    return CliRunner().invoke(
        main,
        ["setup", "hubspot", "--base-url", "http://testserver", *args],
        obj={"http_factory": lambda _url: portal},
        env={"COSELL_HS_TOKEN": CONFIG.private_app_token},
    )


def _api(portal: TestClient, method: str, path: str, **kw: object) -> dict:
    headers = {"Authorization": f"Bearer {CONFIG.private_app_token}"}
    response = portal.request(method, path, headers=headers, **kw)  # type: ignore[arg-type]
    assert response.status_code < 300, response.text
    return response.json()


def test_check_then_create_then_nothing_to_change(portal: TestClient) -> None:
    check = _setup(portal, "--check")
    assert check.exit_code == 1, check.output
    assert "cosell_referral_id" in check.output
    created = _setup(portal)
    assert created.exit_code == 0, created.output
    assert "Created" in created.output
    again = _setup(portal)
    assert again.exit_code == 0
    assert again.output.startswith("Nothing to change")
    assert _setup(portal, "--check").exit_code == 0


def test_created_schema_takes_a_co_sell_deal(portal: TestClient) -> None:
    assert _setup(portal).exit_code == 0
    props = {p["name"]: p for p in _api(portal, "GET", "/crm/v3/properties/deals")["results"]}
    assert props["cosell_referral_id"]["hasUniqueValue"] is True
    assert props["cosell_sync_with_partner_center"]["type"] == "bool"
    assert props["cosell_help_code"]["type"] == "enumeration"
    assert props["cosell_audit"]["fieldType"] == "textarea"
    assert {p["groupName"] for n, p in props.items() if n.startswith("cosell_")} == {"cosell"}
    stages = {
        s["label"]: s for s in _api(portal, "GET", "/crm/v3/pipelines/deals/default")["stages"]
    }
    assert stages["Co-sell declined"]["metadata"]["isClosed"] == "true"
    assert stages["Co-sell on hold"]["metadata"]["isClosed"] == "false"
    deal = {
        "dealname": "Referral",
        "dealstage": stages["Co-sell on hold"]["id"],
        "cosell_referral_id": "R-1",
        "cosell_sync_with_partner_center": "true",
        "cosell_help_code": "Proof of concept or demo",
    }
    assert _api(portal, "POST", "/crm/v3/objects/deals", json={"properties": deal})["id"]


def test_a_property_of_another_shape_is_reported_not_changed(portal: TestClient) -> None:
    _api(portal, "POST", "/crm/v3/properties/deals/groups", json={"name": "cosell", "label": "X"})
    _api(
        portal,
        "POST",
        "/crm/v3/properties/deals",
        json={
            "name": "cosell_referral_id",
            "label": "R",
            "type": "string",
            "fieldType": "text",
            "groupName": "cosell",
        },
    )
    result = _setup(portal)
    assert result.exit_code == 1
    assert "differs" in result.output
    assert "not unique" in result.output


def test_missing_credentials_is_a_usage_error(portal: TestClient) -> None:
    result = CliRunner().invoke(
        main,
        ["setup", "hubspot"],
        obj={"http_factory": lambda _url: portal},
        env={"COSELL_HS_TOKEN": ""},
    )
    assert result.exit_code == 2
    assert "COSELL_HS_TOKEN" in result.output
