"""Fixtures for the signal tests that need the engine's world (both emulators, store, engine):
it is shared with the engine tests, whose folder is on pytest's ``pythonpath``."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest
from engine_world import World, build_world


@pytest.fixture
def world(tmp_path: Path) -> Iterator[World]:
    built = build_world(tmp_path)
    yield built
    built.store.close()
