"""Fixtures for the signal tests that need the engine's world (both emulators, store, engine):
it is shared with the engine tests, whose folder is on pytest's ``pythonpath``."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest
from crm_worlds import CrmWorld, build_crm_world
from engine_world import World, build_world


@pytest.fixture
def world(tmp_path: Path) -> Iterator[World]:
    built = build_world(tmp_path)
    yield built
    built.store.close()


@pytest.fixture
def hubspot_world(tmp_path: Path) -> Iterator[CrmWorld]:
    """The scenario suite's world with HubSpot as the CRM."""
    built = build_crm_world(tmp_path, "hubspot")
    yield built
    built.store.close()
