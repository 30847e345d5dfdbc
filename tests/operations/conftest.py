from collections.abc import Iterator
from datetime import UTC, datetime
from pathlib import Path

import pytest
from ops_world import OpsWorld, make_world

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
