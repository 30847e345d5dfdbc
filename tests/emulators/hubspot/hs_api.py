"""A test client of the HubSpot emulator holding the private app's token, shared by its tests."""

from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any

import httpx
from starlette.applications import Starlette
from starlette.testclient import TestClient

from cosell.emulators.hubspot import HubSpotEmulator

START = datetime(2026, 3, 2, 9, 0, tzinfo=UTC)


@dataclass
class Api:
    client: TestClient
    app: Starlette
    token: str

    @property
    def emulator(self) -> HubSpotEmulator:
        emulator: HubSpotEmulator = self.app.state.emulator
        return emulator

    def call(self, method: str, path: str, **kwargs: Any) -> httpx.Response:
        headers = {"Authorization": f"Bearer {self.token}", **kwargs.pop("headers", {})}
        return self.client.request(method, path, headers=headers, **kwargs)

    def ok(self, method: str, path: str, status: int = 200, **kwargs: Any) -> Any:
        response = self.call(method, path, **kwargs)
        assert response.status_code == status, response.text
        return response.json() if response.content else None

    def deal(self, **properties: Any) -> dict[str, Any]:
        values = {"dealname": "Contoso rollout", "dealstage": "appointmentscheduled", **properties}
        body: dict[str, Any] = self.ok(
            "POST", "/crm/v3/objects/deals", 201, json={"properties": values}
        )
        return body

    def as_user(self, user_id: int) -> "Api":
        token = self.client.post("/_emulator/users", json={"user_id": user_id}).json()["token"]
        return Api(self.client, self.app, token)
