"""Refresh-token stores: atomic replacement, owner-only permissions, no token in reprs."""

from __future__ import annotations

import stat
import threading
from pathlib import Path

from cosell.clients.token_store import FileTokenStore, MemoryTokenStore


def test_file_store_starts_empty_and_keeps_the_latest_token(tmp_path: Path) -> None:
    store = FileTokenStore(tmp_path / "state" / "refresh-token")
    assert store.load() is None
    store.save("first-refresh")
    store.save("rotated-refresh")
    assert store.load() == "rotated-refresh"
    assert FileTokenStore(store.path).load() == "rotated-refresh"


def test_file_store_is_owner_only_and_leaves_no_temporary_files(tmp_path: Path) -> None:
    store = FileTokenStore(tmp_path / "refresh-token")
    store.save("secret-refresh")
    assert stat.S_IMODE(store.path.stat().st_mode) == 0o600
    assert [p.name for p in tmp_path.iterdir()] == ["refresh-token"]


def test_file_store_replaces_rather_than_rewrites(tmp_path: Path) -> None:
    store = FileTokenStore(tmp_path / "refresh-token")
    store.save("old")
    before = store.path.stat().st_ino
    store.save("new")
    assert store.path.stat().st_ino != before


def test_concurrent_saves_leave_one_whole_token(tmp_path: Path) -> None:
    store = FileTokenStore(tmp_path / "refresh-token")
    tokens = [f"token-{n}-" + "x" * 200 for n in range(16)]
    threads = [threading.Thread(target=store.save, args=(t,)) for t in tokens]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(timeout=10)
    assert store.load() in tokens


def test_reprs_never_show_the_token(tmp_path: Path) -> None:
    memory = MemoryTokenStore("memory-secret")
    disk = FileTokenStore(tmp_path / "t")
    disk.save("disk-secret")
    assert "memory-secret" not in repr(memory)
    assert "disk-secret" not in repr(disk)
    memory.save("next")
    assert memory.load() == "next"
    assert memory.saves == 1
