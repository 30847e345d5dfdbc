"""A console with real users (viewer, operator, admin) over a seeded SQLite store."""

from __future__ import annotations

import re
from datetime import timedelta
from typing import Any

from starlette.testclient import TestClient
from web_fakes import trusting_verifier

from cosell.clock import ManualClock
from cosell.operations.activity import RecordingStatus
from cosell.operations.users import UserDirectory
from cosell.store.sql import Store
from cosell.store.users import UserTable
from cosell.web.app import create_app
from cosell.web.auth import Authenticator
from cosell.web.dashboard import Dashboard
from cosell.web.metrics import ServiceMetrics
from cosell.web.receiver import WebhookReceiver

HOST = "cosell.example"
PASSWORDS = {"vera": "viewer-password-1", "otto": "operator-password-1", "ada": "admin-password-1"}
ROLES = {"vera": "viewer", "otto": "operator", "ada": "admin"}


class ConsoleWorld:
    """The app, its user directory and helpers to sign in as each role."""

    def __init__(
        self, store: Store, clock: ManualClock, sides: Any = None, setup: Any = None
    ) -> None:
        self.store, self.clock = store, clock
        self.tenant = store.ensure_tenant("acme")
        self.users = UserDirectory(UserTable(store.engine), clock, timedelta(hours=12))
        for name, role in ROLES.items():
            if self.users.table.by_name(name) is None:
                self.users.add(name, role, PASSWORDS[name])
        self.auth = Authenticator(self.users, "test-session-key")
        status = RecordingStatus("acme", clock, cursors=store, tenant_id=self.tenant)
        metrics = ServiceMetrics()
        receiver = WebhookReceiver(
            verify=trusting_verifier,
            queue=store,
            tenant=self.tenant,
            is_linked=lambda _: False,
            sweep_hint=lambda: None,
            metrics=metrics,
            status=status,
        )
        self.dashboard = Dashboard(
            store, self.tenant, "acme", status=status, auth=self.auth, sides=sides, setup=setup
        )
        self._parts = (receiver, status, metrics)
        self.app = self.build_app()

    def build_app(self) -> Any:
        receiver, status, metrics = self._parts
        return create_app(
            receiver=receiver,
            status=status,
            metrics=metrics,
            dashboard=self.dashboard,
            allowed_hosts=["127.0.0.1", "localhost", "testserver", HOST],
        )

    def client(self) -> TestClient:
        return TestClient(self.app, base_url=f"http://{HOST}")

    def sign_in(self, name: str, password: str | None = None) -> TestClient:
        client = self.client()
        response = sign_in(client, name, PASSWORDS[name] if password is None else password)
        assert response.status_code == 303, response.text
        return client


def login_csrf(client: TestClient) -> str:
    return field(client.get("/sign-in").text, "csrf")


def sign_in(client: TestClient, name: str, password: str, next_: str = "/"):  # type: ignore[no-untyped-def]
    data = {"username": name, "password": password, "csrf": login_csrf(client), "next": next_}
    return client.post("/sign-in", data=data, follow_redirects=False)


def field(html: str, name: str) -> str:
    found = re.search(rf'name="{name}" value="([^"]*)"', html)
    assert found is not None, f"no {name} field"
    return found.group(1)
