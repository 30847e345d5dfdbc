"""The Salesforce emulator's org kept in a file: what one app wrote, the next app serves."""

from __future__ import annotations

import json
import pickle
import threading
from pathlib import Path

import pytest
from org_client import START, OrgClient, furnished_org, new_app, sign_in
from starlette.testclient import TestClient

from cosell.clock import ManualClock, OffsetClock
from cosell.emulators.salesforce.snapshot import FORMAT
from cosell.errors import ConfigError
from cosell.sandbox.salesforce_state import (
    PICKLE_FILE,
    STATE_FILE,
    SalesforceStateFile,
    SavingApp,
    SharedSaves,
)

API = "/services/data/v62.0"


def saving_client(path: Path) -> tuple[TestClient, SalesforceStateFile, SavingApp]:
    app = new_app(OffsetClock())
    state = SalesforceStateFile(path, app.state.emulator)
    state.load()
    saving = SavingApp(app, state)
    return TestClient(saving), state, saving


def auth(client: TestClient, state: SalesforceStateFile) -> dict[str, str]:
    return {"Authorization": f"Bearer {sign_in(client, state.emulator.config)}"}


def saved(path: Path) -> str:
    """Everything kept: the snapshot and the journal beside it."""
    journal = path.with_name(path.name + ".journal")
    return path.read_text(encoding="utf-8") + (journal.read_text() if journal.exists() else "")


def test_records_written_through_the_app_are_served_by_the_next_app(tmp_path: Path) -> None:
    path = tmp_path / STATE_FILE
    first, state, _ = saving_client(path)
    headers = auth(first, state)
    created = first.post(f"{API}/sobjects/Account", json={"Name": "Kept"}, headers=headers).json()
    assert created["id"] in saved(path)  # saved before the answer came

    second, state, _ = saving_client(path)
    headers = auth(second, state)
    kept = second.get(f"{API}/sobjects/Account/{created['id']}", headers=headers)
    assert kept.status_code == 200
    assert kept.json()["Name"] == "Kept"
    other = second.post(f"{API}/sobjects/Account", json={"Name": "New"}, headers=headers).json()
    assert other["id"] != created["id"]  # the id sequence continues


def test_the_file_is_json_with_one_record_per_line(tmp_path: Path) -> None:
    org = furnished_org(ManualClock(START))
    state = SalesforceStateFile(tmp_path / STATE_FILE, org.emulator)
    state.save()
    text = state.path.read_text(encoding="utf-8")
    doc = json.loads(text)
    assert doc["format"] == FORMAT
    lines = [line for line in text.splitlines() if '"Name": "Contoso: data platform"' in line]
    assert len(lines) == 1
    assert json.loads(lines[0].strip().rstrip(","))["Referral_Identifier__c"] == "R-1"
    assert not list(tmp_path.glob(".sf-state-*"))  # the temporary file was renamed


def test_a_saved_org_loads_into_a_new_app_unchanged(tmp_path: Path) -> None:
    clock = ManualClock(START)
    org = furnished_org(clock)
    path = tmp_path / STATE_FILE
    SalesforceStateFile(path, org.emulator).save()
    app = new_app(ManualClock(clock.now()))
    assert SalesforceStateFile(path, app.state.emulator).load() is True
    copy = OrgClient.of(app)
    soql = "SELECT Id, Name, StageName, Referral_Identifier__c FROM Opportunity ORDER BY Name"
    assert copy.query(soql) == org.query(soql)


def test_a_read_does_not_save(tmp_path: Path) -> None:
    path = tmp_path / STATE_FILE
    client, _, _ = saving_client(path)
    client.get("/services/data/")
    assert not path.exists()


def test_loading_without_a_file_keeps_the_fresh_org(tmp_path: Path) -> None:
    app = new_app(OffsetClock())
    org = app.state.emulator.org
    assert SalesforceStateFile(tmp_path / STATE_FILE, app.state.emulator).load() is False
    assert app.state.emulator.org is org


class _Planted:
    """Unpickling this would leave a marker file: proof that a file was unpickled."""

    def __init__(self, marker: Path) -> None:
        self.marker = marker

    def __reduce__(self) -> tuple[object, tuple[str]]:
        return (Path.touch, (str(self.marker),))  # type: ignore[return-value]


def test_an_old_pickle_is_refused_with_the_way_out_and_never_unpickled(tmp_path: Path) -> None:
    marker = tmp_path / "unpickled"
    (tmp_path / PICKLE_FILE).write_bytes(pickle.dumps(_Planted(marker)))
    app = new_app(OffsetClock())
    with pytest.raises(ConfigError) as refused:
        SalesforceStateFile(tmp_path / STATE_FILE, app.state.emulator).load()
    message = str(refused.value)
    assert PICKLE_FILE in message
    assert "older version of cosell" in message
    assert "delete the sandbox's state directory" in message
    assert not marker.exists()


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ("not json", "not a readable JSON document"),
        (json.dumps({"format": FORMAT + 1, "kind": "cosell-salesforce-emulator-org"}), "newer"),
        (json.dumps([1, 2]), "not a saved Salesforce emulator org"),
    ],
)
def test_a_file_this_version_cannot_read_is_refused_naming_it(
    tmp_path: Path, text: str, expected: str
) -> None:
    path = tmp_path / STATE_FILE
    path.write_text(text, encoding="utf-8")
    with pytest.raises(ConfigError, match=expected) as refused:
        SalesforceStateFile(path, new_app(OffsetClock()).state.emulator).load()
    assert refused.value.key == str(path)


def test_a_save_that_began_after_a_write_covers_it() -> None:
    class Counting:
        saved = 0

        def save(self) -> None:
            self.saved += 1

    state = Counting()
    saves = SharedSaves(state)  # type: ignore[arg-type]
    first, second = saves.ticket(), saves.ticket()
    saves.save_through(second)
    saves.save_through(first)  # the save for `second` began after `first` was written
    assert state.saved == 1
    saves.save_through(saves.ticket())
    assert state.saved == 2


def test_concurrent_writers_each_find_their_write_saved_when_answered(tmp_path: Path) -> None:
    path = tmp_path / STATE_FILE
    client, state, saving = saving_client(path)
    headers = auth(client, state)
    missing: list[str] = []

    def write(n: int) -> None:
        body = {"Name": f"Writer {n}"}
        created = client.post(f"{API}/sobjects/Account", json=body, headers=headers).json()
        if created["id"] not in saved(path):
            missing.append(created["id"])

    threads = [threading.Thread(target=write, args=(n,)) for n in range(8)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(30)
    assert missing == []
    assert 1 <= saving.saves.saves <= 8


def test_a_write_to_a_large_org_appends_its_rows_and_leaves_the_snapshot(tmp_path: Path) -> None:
    """A save costs about the rows it keeps, not the whole org written again."""
    path = tmp_path / STATE_FILE
    client, state, _ = saving_client(path)
    headers = auth(client, state)
    for batch in range(2):
        rows = [{"attributes": {"type": "Account"}, "Name": f"A {batch}-{n}"} for n in range(200)]
        made = client.post(f"{API}/composite/sobjects", json={"records": rows}, headers=headers)
        assert made.status_code == 200
    snapshot = path.read_bytes()
    journal = path.with_name(path.name + ".journal")
    before = journal.stat().st_size
    kept = len(saved(path).encode())
    one = client.post(f"{API}/sobjects/Account", json={"Name": "One more"}, headers=headers)
    assert one.status_code == 201
    written = journal.stat().st_size - before
    assert path.read_bytes() == snapshot
    assert 0 < written < 2_000 < kept // 20  # one row, against the 400 kept before it


def test_the_next_app_serves_what_the_journal_holds(tmp_path: Path) -> None:
    path = tmp_path / STATE_FILE
    first, state, _ = saving_client(path)
    headers = auth(first, state)
    kept = first.post(f"{API}/sobjects/Account", json={"Name": "Kept"}, headers=headers).json()
    gone = first.post(f"{API}/sobjects/Account", json={"Name": "Gone"}, headers=headers).json()
    renamed = first.patch(
        f"{API}/sobjects/Account/{kept['id']}", json={"Name": "Renamed"}, headers=headers
    )
    assert renamed.status_code == 204
    assert first.delete(f"{API}/sobjects/Account/{gone['id']}", headers=headers).status_code == 204
    rolled_back = {
        "allOrNone": True,
        "records": [
            {"attributes": {"type": "Account"}, "Name": "Rolled back"},
            {"attributes": {"type": "Account"}},  # no Name: the whole request fails
        ],
    }
    first.post(f"{API}/composite/sobjects", json=rolled_back, headers=headers)

    second, state, _ = saving_client(path)
    headers = auth(second, state)

    def soql(resource: str, text: str) -> list[dict[str, object]]:
        answer = second.get(f"{API}/{resource}", params={"q": text}, headers=headers)
        records: list[dict[str, object]] = answer.json()["records"]
        return records

    names = soql("query", "SELECT Name FROM Account WHERE Name != 'x' ORDER BY Name")
    assert [r["Name"] for r in names] == ["Renamed"]
    everything = soql("queryAll", "SELECT Name, IsDeleted FROM Account ORDER BY Name")
    assert [(r["Name"], r["IsDeleted"]) for r in everything] == [
        ("Gone", True),
        ("Renamed", False),
    ]  # the deletion came back with the recycle bin
