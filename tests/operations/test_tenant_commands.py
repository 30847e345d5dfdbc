"""Commands in a deployment of several tenants work on one tenant and show nothing of another."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
from click.testing import CliRunner
from ops_world import dead_letter

from cosell.cli.common import CommandDeps
from cosell.cli.main import main
from cosell.clock import ManualClock
from cosell.settings import load_settings
from cosell.store.records import AuditEntry
from cosell.store.sql import Store

CONFIG = """
[service]
state_dir = "{state}"

[partner_center]
client_id = "shared-app"
auth_mode = "ropc"
username = "ops@partner.example"

[salesforce]
auth_mode = "password"
client_id = "shared-sf"
username = "cosell@partner.example"

[tenants.alpha.salesforce]
instance_url = "http://alpha-sf.test"

[tenants.beta.salesforce]
instance_url = "http://beta-sf.test"
"""


@pytest.fixture
def config(tmp_path: Path) -> Path:
    path = tmp_path / "cosell.toml"
    path.write_text(CONFIG.format(state=tmp_path / "state"))
    clock = ManualClock()
    settings = load_settings(path)
    store = Store.open(settings.database_url, clock=clock)
    for name in ("alpha", "beta"):
        tenant = store.ensure_tenant(name)
        dead_letter(store, tenant, f"referral:{name}-ref", f"ServerError: {name} failed")
        entry = AuditEntry("to_crm", "synced", message=f"{name} synced", referral_id=f"{name}-ref")
        store.record_audit(tenant, [entry])
    store.close()
    return path


def cosell(config: Path, *args: str) -> tuple[int, str, str]:
    result = CliRunner().invoke(main, [*args, "--config", str(config)], obj=CommandDeps())
    return result.exit_code, result.stdout, result.stderr


def test_a_command_shows_only_its_tenant(config: Path) -> None:
    code, out, _ = cosell(config, "--tenant", "alpha", "status", "--offline", "--json")
    assert code == 0, out
    report = json.loads(out)
    assert [f["key"] for f in report["failed"]] == ["referral:alpha-ref"]
    assert "beta" not in out
    code, out, _ = cosell(config, "--tenant", "beta", "status", "--offline", "--json")
    assert [f["key"] for f in json.loads(out)["failed"]] == ["referral:beta-ref"]
    assert "alpha" not in out


def test_one_tenants_audit_is_not_found_from_another(config: Path) -> None:
    code, out, _ = cosell(config, "--tenant", "alpha", "audit", "alpha-ref", "--json")
    assert code == 0
    assert "alpha synced" in out
    code, out, err = cosell(config, "--tenant", "alpha", "audit", "beta-ref", "--json")
    assert "beta synced" not in out + err


def test_with_several_tenants_a_command_names_one(config: Path) -> None:
    code, _, err = cosell(config, "status", "--offline")
    assert code == 2
    assert "several tenants: name one (alpha, beta)" in err
