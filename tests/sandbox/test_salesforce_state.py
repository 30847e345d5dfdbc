"""The Salesforce emulator's org kept in a file: what one app wrote, the next app serves."""

from __future__ import annotations

from pathlib import Path

import pytest
from starlette.testclient import TestClient

from cosell.clock import OffsetClock
from cosell.emulators.salesforce import SalesforceEmulatorConfig, create_app
from cosell.errors import ConfigError
from cosell.sandbox.salesforce_state import SalesforceStateFile, SavingApp

CONFIG = SalesforceEmulatorConfig(public_url="http://testserver")
API = "/services/data/v62.0"


def saving_client(path: Path) -> tuple[TestClient, SalesforceStateFile]:
    app = create_app(CONFIG, clock=OffsetClock())
    state = SalesforceStateFile(path, app.state.emulator)
    state.load()
    return TestClient(SavingApp(app, state)), state


def sign_in(client: TestClient) -> dict[str, str]:
    form = {
        "grant_type": "password",
        "client_id": CONFIG.client_id,
        "client_secret": CONFIG.client_secret,
        "username": CONFIG.username,
        "password": CONFIG.password,
    }
    token = client.post("/services/oauth2/token", data=form).json()["access_token"]
    return {"Authorization": f"Bearer {token}"}


def test_records_written_through_the_app_are_served_by_the_next_app(tmp_path: Path) -> None:
    path = tmp_path / "salesforce.pickle"
    first, _ = saving_client(path)
    auth = sign_in(first)
    created = first.post(f"{API}/sobjects/Account", json={"Name": "Kept"}, headers=auth).json()
    assert path.exists()

    second, state = saving_client(path)
    assert state.emulator.org.integration_user_id
    again = sign_in(second)
    kept = second.get(f"{API}/sobjects/Account/{created['id']}", headers=again)
    assert kept.status_code == 200
    assert kept.json()["Name"] == "Kept"
    other = second.post(f"{API}/sobjects/Account", json={"Name": "New"}, headers=again).json()
    assert other["id"] != created["id"]  # the id sequence continues


def test_a_read_does_not_save(tmp_path: Path) -> None:
    path = tmp_path / "salesforce.pickle"
    client, _ = saving_client(path)
    client.get("/services/data/")
    assert not path.exists()


def test_loading_without_a_file_keeps_the_fresh_org(tmp_path: Path) -> None:
    app = create_app(CONFIG, clock=OffsetClock())
    org = app.state.emulator.org
    assert SalesforceStateFile(tmp_path / "none.pickle", app.state.emulator).load() is False
    assert app.state.emulator.org is org


def test_an_unreadable_file_is_refused_with_the_way_out(tmp_path: Path) -> None:
    path = tmp_path / "salesforce.pickle"
    path.write_bytes(b"not a saved org")
    app = create_app(CONFIG, clock=OffsetClock())
    with pytest.raises(ConfigError, match="delete the sandbox's state directory"):
        SalesforceStateFile(path, app.state.emulator).load()
