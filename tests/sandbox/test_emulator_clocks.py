"""Both emulators' clocks, once advanced, stay advanced when the sandbox starts again."""

from __future__ import annotations

from pathlib import Path

import httpx

from cosell.clock import OffsetClock
from cosell.emulators.partner_center import PartnerCenterEmulatorConfig
from cosell.emulators.partner_center import create_app as partner_center_app
from cosell.sandbox.emulators import Emulators, start_emulators

DAY = 86400.0


def offsets(emulators: Emulators) -> tuple[float, float]:
    clocks = (emulators.pc_app.state.emulator.clock, emulators.sf_app.state.emulator.clock)
    assert all(isinstance(c, OffsetClock) for c in clocks)
    return clocks[0].offset.total_seconds(), clocks[1].offset.total_seconds()


def stopped(emulators: Emulators) -> None:
    emulators.stop()
    emulators.pc_app.state.emulator.close()


def test_advanced_clocks_survive_a_sandbox_restart(tmp_path: Path) -> None:
    first = start_emulators(tmp_path, 0, 0)
    try:
        for served, days in ((first.partner_center, 15), (first.salesforce, 2)):
            body = {"advance_seconds": days * DAY}
            assert httpx.post(f"{served.url}/_emulator/clock", json=body).is_success
    finally:
        stopped(first)
    again = start_emulators(tmp_path, 0, 0)
    try:
        assert again.restored
        assert offsets(again) == (15 * DAY, 2 * DAY)
    finally:
        stopped(again)


def test_the_partner_center_offset_adds_up_in_its_state_file(tmp_path: Path) -> None:
    config = PartnerCenterEmulatorConfig(state_file=tmp_path / "partner-center.json")
    app = partner_center_app(config)
    app.state.emulator.advance(60)
    app.state.emulator.advance(30)
    app.state.emulator.close()
    clock = OffsetClock()
    again = partner_center_app(config, clock=clock)
    assert clock.offset.total_seconds() == 90
    again.state.emulator.close()
