from collections.abc import Iterator
from datetime import UTC, datetime
from pathlib import Path

import pytest
from ops_world import SECRETS, OpsWorld, make_world

from cosell.clock import ManualClock

START = datetime(2026, 3, 2, 9, 0, tzinfo=UTC)


@pytest.fixture
def clock() -> ManualClock:
    return ManualClock(START)


@pytest.fixture
def world(tmp_path: Path, clock: ManualClock) -> Iterator[OpsWorld]:
    built = make_world(tmp_path, clock)
    yield built
    built.close()


@pytest.fixture(autouse=True)
def environment(monkeypatch: pytest.MonkeyPatch) -> None:
    import os

    for name in list(os.environ):
        if name.startswith("COSELL_"):
            monkeypatch.delenv(name)
    for name, value in SECRETS.items():
        monkeypatch.setenv(name, value)
