"""The operations commands' test world: both emulators in-process behind ``CommandDeps``, a
config file pointing at them, and a store seeded through the Store API."""

from __future__ import annotations

import os
from collections.abc import Callable
from dataclasses import dataclass
from datetime import timedelta
from pathlib import Path
from typing import Any

import httpx
from click.testing import CliRunner
from cryptography.fernet import Fernet
from starlette.applications import Starlette
from starlette.testclient import TestClient

from cosell.cli.common import CommandDeps
from cosell.cli.main import main
from cosell.clock import Clock, ManualClock
from cosell.emulators.partner_center import create_app as partner_center_emulator
from cosell.emulators.partner_center.config import PartnerCenterEmulatorConfig
from cosell.emulators.salesforce.app import create_app as salesforce_emulator
from cosell.emulators.salesforce.config import SalesforceEmulatorConfig
from cosell.settings import load_settings
from cosell.store.records import TenantId
from cosell.store.sql import Store

PC = PartnerCenterEmulatorConfig(public_url="http://pc.test")
SF = SalesforceEmulatorConfig(public_url="http://sf.test")
HOOK_URL = "https://cosell.partner.example/webhooks/partner-center"
SECRETS = {
    "COSELL_PC_PASSWORD": PC.password,
    "COSELL_PC_CLIENT_SECRET": PC.client_secret,
    "COSELL_SF_PASSWORD": SF.password,
    "COSELL_SF_CLIENT_SECRET": SF.client_secret,
    "COSELL_TOKEN_KEY": Fernet.generate_key().decode(),
}


def config_text(state_dir: Path, pc_auth: str = "ropc") -> str:
    return f"""
[tenant]
name = "acme"

[service]
state_dir = "{state_dir}"

[partner_center]
api_url = "http://pc.test"
webhook_api_url = "http://pc.test"
authority = "http://pc.test"
tenant = "{PC.tenant}"
client_id = "{PC.client_id}"
auth_mode = "{pc_auth}"
username = "{PC.username}"
webhook_public_url = "{HOOK_URL}"

[salesforce]
instance_url = "http://sf.test"
login_url = "http://sf.test"
client_id = "{SF.client_id}"
auth_mode = "password"
username = "{SF.username}"
"""


def routed(pc: Starlette, sf: Starlette) -> Callable[[str, httpx.Auth | None], httpx.Client]:
    def http(base_url: str, auth: httpx.Auth | None) -> httpx.Client:
        app = sf if "sf.test" in base_url else pc
        client = TestClient(app, base_url=base_url or "http://pc.test")
        client.auth = auth  # type: ignore[assignment]
        return client

    return http


@dataclass
class OpsWorld:
    """Emulators, a config file, the clock the commands see and the deployment's store."""

    pc: Starlette
    sf: Starlette
    config: Path
    clock: Clock
    env: dict[str, str | None]

    def cosell(self, *args: str) -> tuple[int, str, str]:
        deps = CommandDeps(clock=self.clock, http=routed(self.pc, self.sf))
        argv = [*args, "--config", str(self.config)]
        result = CliRunner().invoke(main, argv, obj=deps, env=self.env)
        if result.exception and not isinstance(result.exception, SystemExit):
            raise result.exception
        return result.exit_code, result.stdout, result.stderr

    def store(self) -> tuple[Store, TenantId]:
        settings = load_settings(self.config)
        store = Store.open(settings.database_url, clock=self.clock)
        return store, store.ensure_tenant(settings.tenant.name)

    def pc_control(self) -> TestClient:
        return TestClient(self.pc, base_url="http://pc.test")

    def sf_control(self) -> TestClient:
        return TestClient(self.sf, base_url="http://sf.test")

    def share_referral(self, **body: Any) -> dict[str, Any]:
        fields = {"name": "Shared by Microsoft", "type": "Shared", **body}
        response = self.pc_control().post("/_emulator/referrals", json=fields)
        assert response.status_code == 201, response.text
        shared: dict[str, Any] = response.json()
        return shared

    def advance_partner_center(self, seconds: float) -> None:
        response = self.pc_control().post("/_emulator/clock", json={"advance_seconds": seconds})
        assert response.status_code == 200, response.text

    def close(self) -> None:
        self.pc.state.emulator.close()


def make_world(tmp_path: Path, clock: ManualClock, pc_auth: str = "ropc") -> OpsWorld:
    config = tmp_path / "cosell.toml"
    config.write_text(config_text(tmp_path / "state", pc_auth))
    env: dict[str, str | None] = {n: None for n in os.environ if n.startswith("COSELL_")}
    env |= SECRETS
    return OpsWorld(partner_center_emulator(PC), salesforce_emulator(SF), config, clock, env)


def dead_letter(store: Store, tenant: TenantId, key: str, reason: str) -> None:
    """Fail ``key`` the way the queue does: claimed, then parked with a reason."""
    store.enqueue(tenant, key)
    now = store.clock.now() + timedelta(seconds=1)
    [job] = [j for j in store.claim("test", now, 60, limit=10) if j.key == key]
    assert store.dead_letter(job, reason)
