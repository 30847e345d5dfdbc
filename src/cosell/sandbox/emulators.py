"""The two emulators of a sandbox, served on loopback with their state in the state directory."""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

from starlette.applications import Starlette

from cosell.emulators.partner_center import PartnerCenterEmulatorConfig
from cosell.emulators.partner_center import create_app as partner_center_app
from cosell.emulators.salesforce import SalesforceEmulatorConfig
from cosell.emulators.salesforce import create_app as salesforce_app
from cosell.sandbox.salesforce_state import STATE_FILE as SF_STATE_FILE
from cosell.sandbox.salesforce_state import SalesforceStateFile, SavingApp
from cosell.sandbox.servers import ServedApp, bind

PC_STATE_FILE = "partner-center.json"


@dataclass
class Emulators:
    """Both emulators, served; ``restored`` says whether they started from saved state."""

    partner_center: ServedApp
    salesforce: ServedApp
    pc_config: PartnerCenterEmulatorConfig
    sf_config: SalesforceEmulatorConfig
    pc_app: Starlette
    sf_app: Starlette
    restored: bool

    def stop(self) -> None:
        self.partner_center.stop()
        self.salesforce.stop()


def start_emulators(state_dir: Path, pc_port: int, sf_port: int) -> Emulators:
    """Bind both ports, build the emulators knowing their URLs, and serve them."""
    pc_served, sf_served = ServedApp("partner-center", bind(pc_port)), None
    try:
        sf_served = ServedApp("salesforce", bind(sf_port))
        pc_file = state_dir / PC_STATE_FILE
        restored = pc_file.exists()
        pc_config = PartnerCenterEmulatorConfig(public_url=pc_served.url, state_file=pc_file)
        # Strict access, as in a real org: cosell sees only what setup granted its user.
        sf_config = SalesforceEmulatorConfig(public_url=sf_served.url, fls_strict=True)
        pc_app, sf_app = partner_center_app(pc_config), salesforce_app(sf_config)
        sf_state = SalesforceStateFile(state_dir / SF_STATE_FILE, sf_app.state.emulator)
        restored = sf_state.load() and restored
        pc_served.start(pc_app)
        sf_served.start(SavingApp(sf_app, sf_state))
    except BaseException:
        pc_served.stop()
        if sf_served is not None:
            sf_served.stop()
        raise
    return Emulators(pc_served, sf_served, pc_config, sf_config, pc_app, sf_app, restored)
