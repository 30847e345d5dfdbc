"""The state directory is 0700 and the database and token files 0600, whatever the umask."""

from __future__ import annotations

import os
import stat
from collections.abc import Iterator
from pathlib import Path

import pytest
from cryptography.fernet import Fernet

from cosell.clients.token_store import FileTokenStore, TokenCipher
from cosell.clock import ManualClock
from cosell.settings import Settings
from cosell.store import Store


def mode(path: Path) -> int:
    return stat.S_IMODE(path.stat().st_mode)


@pytest.fixture(autouse=True)
def permissive_umask() -> Iterator[None]:
    old = os.umask(0o022)
    yield
    os.umask(old)


def test_a_new_sqlite_store_and_its_directory_are_private(tmp_path: Path) -> None:
    settings = Settings(service={"state_dir": str(tmp_path / "state")})
    store = Store.open(settings.database_url, clock=ManualClock())
    store.ensure_tenant("acme")
    store.close()
    assert mode(tmp_path / "state") == 0o700
    for path in (tmp_path / "state").iterdir():  # cosell.db and SQLite's -wal and -shm
        assert mode(path) == 0o600, path.name


def test_an_existing_world_readable_database_is_tightened_on_open(tmp_path: Path) -> None:
    database = tmp_path / "cosell.db"
    Store.open(f"sqlite:///{database}", clock=ManualClock()).close()
    os.chmod(database, 0o644)
    Store.open(f"sqlite:///{database}", clock=ManualClock()).close()
    assert mode(database) == 0o600


def test_the_token_file_and_its_directory_are_private(tmp_path: Path) -> None:
    cipher = TokenCipher(Fernet.generate_key().decode())
    FileTokenStore(tmp_path / "state" / "partner-center-token.json", cipher).save("refresh")
    assert mode(tmp_path / "state") == 0o700
    assert mode(tmp_path / "state" / "partner-center-token.json") == 0o600
