"""Refresh-token stores: encrypted at rest, atomic replacement, owner-only permissions, no token
in reprs, plaintext migrated, keys rotated, a wrong or missing key named."""

from __future__ import annotations

import stat
import threading
from pathlib import Path

import pytest
from cryptography.fernet import Fernet

from cosell.clients.connect import token_cipher
from cosell.clients.token_store import FileTokenStore, MemoryTokenStore, TokenCipher
from cosell.errors import ConfigError
from cosell.settings import Settings

KEY = Fernet.generate_key().decode()


def store_at(path: Path, keys: str = KEY) -> FileTokenStore:
    return FileTokenStore(path, TokenCipher(keys))


def test_file_store_starts_empty_and_keeps_the_latest_token(tmp_path: Path) -> None:
    store = store_at(tmp_path / "state" / "refresh-token")
    assert store.load() is None
    store.save("first-refresh")
    store.save("rotated-refresh")
    assert store.load() == "rotated-refresh"
    assert store_at(store.path).load() == "rotated-refresh"


def test_the_token_is_encrypted_at_rest_and_round_trips(tmp_path: Path) -> None:
    store = store_at(tmp_path / "refresh-token")
    store.save("0.AAAA-the-refresh-token")
    on_disk = store.path.read_text(encoding="utf-8")
    assert "the-refresh-token" not in on_disk
    assert on_disk.startswith("fernet:")
    assert store_at(store.path).load() == "0.AAAA-the-refresh-token"


def test_a_plaintext_token_is_read_once_and_rewritten_encrypted(
    tmp_path: Path, caplog: pytest.LogCaptureFixture
) -> None:
    path = tmp_path / "partner-center-token.json"
    path.write_text("0.AAAA-saved-by-hand\n", encoding="utf-8")
    assert store_at(path).load() == "0.AAAA-saved-by-hand"
    assert "was plaintext; rewritten encrypted" in caplog.text
    assert "saved-by-hand" not in caplog.text
    assert "saved-by-hand" not in path.read_text(encoding="utf-8")
    assert stat.S_IMODE(path.stat().st_mode) == 0o600
    assert store_at(path).load() == "0.AAAA-saved-by-hand"


def test_keys_rotate_the_first_encrypts_and_older_ones_still_decrypt(tmp_path: Path) -> None:
    old, new = KEY, Fernet.generate_key().decode()
    store_at(tmp_path / "t", old).save("refresh")
    assert store_at(tmp_path / "t", f"{new},{old}").load() == "refresh"
    assert store_at(tmp_path / "t", new).load() == "refresh"  # rewritten under the new key


def test_a_wrong_key_is_named_without_the_token(tmp_path: Path) -> None:
    store_at(tmp_path / "t").save("refresh-secret")
    with pytest.raises(ConfigError, match="COSELL_TOKEN_KEY does not decrypt") as raised:
        store_at(tmp_path / "t", Fernet.generate_key().decode()).load()
    assert raised.value.key == "partner_center.token_key"
    assert "refresh-secret" not in str(raised.value)


def test_a_malformed_or_missing_key_is_named() -> None:
    with pytest.raises(ConfigError, match="COSELL_TOKEN_KEY must be Fernet keys"):
        TokenCipher("not-a-key")
    settings = Settings(partner_center={"auth_mode": "device_code", "client_id": "app"})
    with pytest.raises(ConfigError, match="set COSELL_TOKEN_KEY"):
        token_cipher(settings)


def test_file_store_is_owner_only_and_leaves_no_temporary_files(tmp_path: Path) -> None:
    store = store_at(tmp_path / "refresh-token")
    store.save("secret-refresh")
    assert stat.S_IMODE(store.path.stat().st_mode) == 0o600
    assert [p.name for p in tmp_path.iterdir()] == ["refresh-token"]


def test_file_store_replaces_rather_than_rewrites(tmp_path: Path) -> None:
    store = store_at(tmp_path / "refresh-token")
    store.save("old")
    before = store.path.stat().st_ino
    store.save("new")
    assert store.path.stat().st_ino != before


def test_concurrent_saves_leave_one_whole_token(tmp_path: Path) -> None:
    store = store_at(tmp_path / "refresh-token")
    tokens = [f"token-{n}-" + "x" * 200 for n in range(16)]
    threads = [threading.Thread(target=store.save, args=(t,)) for t in tokens]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(timeout=10)
    assert store.load() in tokens


def test_reprs_never_show_the_token_or_key(tmp_path: Path) -> None:
    memory = MemoryTokenStore("memory-secret")
    disk = store_at(tmp_path / "t")
    disk.save("disk-secret")
    assert "memory-secret" not in repr(memory)
    assert "disk-secret" not in repr(disk)
    assert KEY not in repr(disk.cipher)
    memory.save("next")
    assert memory.load() == "next"
    assert memory.saves == 1
