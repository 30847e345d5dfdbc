"""A logged-in test client of the Salesforce emulator, shared by its tests."""

from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any

import httpx
from starlette.applications import Starlette
from starlette.testclient import TestClient

from cosell.emulators.salesforce import SalesforceEmulator, SalesforceEmulatorConfig

V = "/services/data/v62.0"
START = datetime(2026, 3, 2, 9, 0, tzinfo=UTC)


@dataclass
class Api:
    """A logged-in client of one emulated org; relative paths are under ``V``."""

    client: TestClient
    app: Starlette
    token: str
    version: str = "62.0"

    @property
    def emulator(self) -> SalesforceEmulator:
        emulator: SalesforceEmulator = self.app.state.emulator
        return emulator

    def relogin(self) -> None:
        """A fresh token, e.g. after the clock moved past the session idle timeout."""
        self.token = login(self.client, self.emulator.config)

    def url(self, path: str) -> str:
        return path if path.startswith("/") else f"/services/data/v{self.version}/{path}"

    def call(self, method: str, path: str, **kwargs: Any) -> httpx.Response:
        headers = {"Authorization": f"Bearer {self.token}", **kwargs.pop("headers", {})}
        return self.client.request(method, self.url(path), headers=headers, **kwargs)

    def get(self, path: str, **kwargs: Any) -> httpx.Response:
        return self.call("GET", path, **kwargs)

    def post(self, path: str, **kwargs: Any) -> httpx.Response:
        return self.call("POST", path, **kwargs)

    def patch(self, path: str, **kwargs: Any) -> httpx.Response:
        return self.call("PATCH", path, **kwargs)

    def delete(self, path: str, **kwargs: Any) -> httpx.Response:
        return self.call("DELETE", path, **kwargs)

    def create(self, sobject: str, **fields: Any) -> str:
        response = self.post(f"sobjects/{sobject}", json=fields)
        assert response.status_code == 201, response.text
        record_id: str = response.json()["id"]
        return record_id

    def opportunity(self, **fields: Any) -> str:
        values = {"Name": "Contoso deal", "StageName": "Prospecting", "CloseDate": "2026-06-30"}
        return self.create("Opportunity", **{**values, **fields})

    def add_solutions(self) -> None:
        """The ``Microsoft_Solution__c`` custom object with a lookup to Opportunity (child
        relationship ``Microsoft_Solutions__r``)."""
        metadata = {"label": "Microsoft Solution", "nameField": {"type": "Text", "label": "Name"}}
        body = {"FullName": "Microsoft_Solution__c", "Metadata": metadata}
        response = self.post("tooling/sobjects/CustomObject", json=body)
        assert response.status_code == 201, response.text
        self.add_field(
            "Microsoft_Solution__c.Opportunity__c",
            type="Lookup",
            label="Opportunity",
            referenceTo="Opportunity",
            relationshipName="Microsoft_Solutions",
        )

    def add_field(self, full_name: str, **metadata: Any) -> str:
        body = {"FullName": full_name, "Metadata": metadata}
        response = self.post("tooling/sobjects/CustomField", json=body)
        assert response.status_code == 201, response.text
        field_id: str = response.json()["id"]
        return field_id


def login(client: TestClient, config: SalesforceEmulatorConfig) -> str:
    response = client.post(
        "/services/oauth2/token",
        data={
            "grant_type": "client_credentials",
            "client_id": config.client_id,
            "client_secret": config.client_secret,
        },
    )
    assert response.status_code == 200, response.text
    token: str = response.json()["access_token"]
    return token
