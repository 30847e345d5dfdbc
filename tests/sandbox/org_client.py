"""A signed-in client of one emulated org, and an org with one of everything a save must keep."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any

import httpx
from starlette.applications import Starlette
from starlette.testclient import TestClient

from cosell.clock import Clock, ManualClock
from cosell.emulators.salesforce import SalesforceEmulator, SalesforceEmulatorConfig, create_app

V = "/services/data/v62.0"
START = datetime(2026, 5, 4, 8, 30, tzinfo=UTC)


def sign_in(client: TestClient, config: SalesforceEmulatorConfig) -> str:
    form = {
        "grant_type": "password",
        "client_id": config.client_id,
        "client_secret": config.client_secret,
        "username": config.username,
        "password": config.password,
    }
    response = client.post("/services/oauth2/token", data=form)
    assert response.status_code == 200, response.text
    token: str = response.json()["access_token"]
    return token


@dataclass
class OrgClient:
    """Requests to one app as its integration user; paths without a leading ``/`` are under V."""

    app: Starlette
    client: TestClient
    token: str = ""

    @classmethod
    def of(cls, app: Starlette) -> OrgClient:
        client = TestClient(app)
        return cls(app, client, sign_in(client, app.state.emulator.config))

    @property
    def emulator(self) -> SalesforceEmulator:
        emulator: SalesforceEmulator = self.app.state.emulator
        return emulator

    def call(self, method: str, path: str, **kwargs: Any) -> httpx.Response:
        url = path if path.startswith("/") else f"{V}/{path}"
        headers = {"Authorization": f"Bearer {self.token}"}
        return self.client.request(method, url, headers=headers, **kwargs)

    def create(self, sobject: str, **values: Any) -> str:
        response = self.call("POST", f"sobjects/{sobject}", json=values)
        assert response.status_code == 201, response.text
        record_id: str = response.json()["id"]
        return record_id

    def query(self, soql: str, resource: str = "query") -> list[dict[str, Any]]:
        response = self.call("GET", resource, params={"q": soql})
        assert response.status_code == 200, response.text
        records: list[dict[str, Any]] = response.json()["records"]
        return records

    def tooling(self, kind: str, full_name: str, **metadata: Any) -> str:
        body = {"FullName": full_name, "Metadata": metadata}
        response = self.call("POST", f"tooling/sobjects/{kind}", json=body)
        assert response.status_code == 201, response.text
        record_id: str = response.json()["id"]
        return record_id


def new_app(clock: Clock, config: SalesforceEmulatorConfig | None = None) -> Starlette:
    return create_app(
        config or SalesforceEmulatorConfig(public_url="http://testserver"), clock=clock
    )


def furnished_org(clock: ManualClock) -> OrgClient:
    """An org changed every way a sandbox changes one: a custom object and fields (one of them
    redefined), stages from Tooling and from the control surface, a validation rule, records
    with custom values and lookups, and a record in the recycle bin."""
    org = OrgClient.of(new_app(clock))
    _define(org)
    clock.advance(60)
    account = org.create("Account", Name="Contoso", BillingCountry="US")
    kept = org.create(
        "Opportunity",
        Name="Contoso: data platform",
        StageName="On Hold",
        CloseDate="2026-09-30",
        Amount=120000.5,
        AccountId=account,
        Referral_Identifier__c="R-1",
        Sync_with_Partner_Center__c=True,
        Solution_Area__c="Data & AI",
    )
    org.create("Microsoft_Solution__c", Name="Azure Synapse", Opportunity__c=kept)
    clock.advance(60)
    doomed = org.create("Opportunity", Name="Gone", StageName="Prospecting", CloseDate="2026-07-01")
    clock.advance(60)
    assert org.call("DELETE", f"sobjects/Opportunity/{doomed}").status_code == 204
    clock.advance(60)
    return org


def _define(org: OrgClient) -> None:
    org.tooling(
        "CustomObject",
        "Microsoft_Solution__c",
        label="Microsoft Solution",
        nameField={"type": "Text", "label": "Solution Name"},
    )
    field = {"type": "Lookup", "label": "Opportunity", "referenceTo": "Opportunity"}
    org.tooling(
        "CustomField",
        "Microsoft_Solution__c.Opportunity__c",
        **field,
        relationshipName="Microsoft_Solutions",
    )
    referral = org.tooling(
        "CustomField",
        "Opportunity.Referral_Identifier__c",
        type="Text",
        label="Referral",
        length=64,
        externalId=True,
        unique=True,
    )
    relabel = {"Metadata": {"label": "Referral Identifier"}}
    assert org.call("PATCH", f"tooling/sobjects/CustomField/{referral}", json=relabel).is_success
    org.tooling(
        "CustomField", "Opportunity.Sync_with_Partner_Center__c", type="Checkbox", label="Sync"
    )
    areas = {"valueSetDefinition": {"value": [{"fullName": "Data & AI"}, {"fullName": "Security"}]}}
    org.tooling(
        "CustomField",
        "Opportunity.Solution_Area__c",
        type="Picklist",
        label="Solution area",
        valueSet={**areas, "restricted": True},
    )
    _stages(org)


def _stages(org: OrgClient) -> None:
    soql = "SELECT Id, Metadata FROM StandardValueSet WHERE MasterLabel = 'OpportunityStage'"
    value_set = org.query(soql, "tooling/query")[0]
    on_hold = {"fullName": "On Hold", "closed": False, "won": False, "probability": 10}
    metadata = {"standardValue": [*value_set["Metadata"]["standardValue"], on_hold]}
    url = f"tooling/sobjects/StandardValueSet/{value_set['Id']}"
    assert org.call("PATCH", url, json={"Metadata": metadata}).status_code == 204
    declined = {"name": "Declined", "probability": 0, "closed": True}
    assert org.client.post("/_emulator/stages", json=declined).is_success
    rule = {
        "sobject": "Opportunity",
        "field": "Description",
        "operator": "contains",
        "value": "forbidden",
        "message": "No forbidden words",
    }
    assert org.client.post("/_emulator/validation-rules", json=rule).status_code == 201
