"""``cosell sandbox`` itself: the manifest, the demo data working both ways, a clean stop on
SIGTERM, and a restart that continues from the state directory without seeding again."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path
from typing import Any

import httpx
import pytest
from e2e_sandbox import SandboxProcess, cosell_env, running_sandbox
from e2e_sides import CrmSeller, PartnerCenterReader

from support.wait import wait_until

pytestmark = pytest.mark.e2e
MANIFEST_KEYS = {
    "connector": {"url"},
    "partner_center": {
        "url",
        "token_url",
        "client_id",
        "client_secret",
        "username",
        "password",
        "tenant",
    },
    "salesforce": {"url", "token_url", "client_id", "client_secret", "username"},
}
FIELDS = "Id, Name, StageName, Referral_Identifier__c, Co_sell_Sync_Status__c"


def cosell(manifest: dict[str, Any], *args: str) -> subprocess.CompletedProcess[str]:
    """Another ``cosell`` command against the sandbox, secrets from ``sandbox.json``."""
    done = subprocess.run(
        [sys.executable, "-m", "cosell", *args],
        env=cosell_env(manifest["env"]),
        capture_output=True,
        text=True,
        timeout=120,
        check=False,
    )
    assert done.returncode == 0, done.stderr
    return done


def opportunities(crm: CrmSeller) -> dict[str, dict[str, Any]]:
    return {r["Id"]: r for r in crm.query(f"SELECT {FIELDS} FROM Opportunity")}  # noqa: S608


def demo_synced(crm: CrmSeller, seeded: dict[str, dict[str, str]]) -> dict[str, dict[str, Any]]:
    """The opportunities once every seeded record has reached its final demo state."""

    def done() -> dict[str, dict[str, Any]] | None:
        rows = opportunities(crm)
        by_referral = {r["Referral_Identifier__c"]: r for r in rows.values()}
        incoming = all(by_referral.get(i) for i in seeded["referrals"].values())
        flagged = [rows[i] for i in seeded["opportunities"].values()]
        outcomes = [str(r["Co_sell_Sync_Status__c"] or "")[:1] for r in flagged]
        return rows if incoming and sorted(outcomes) == ["✔", "✖"] else None

    return wait_until(done, 45.0, 0.2, "the demo data to sync")


def test_sandbox_seeds_demo_data_that_syncs_both_ways_and_stops_cleanly(tmp_path: Path) -> None:
    state_dir = tmp_path / "state"
    sandbox = SandboxProcess(state_dir)
    try:
        manifest = sandbox.wait_ready()
        for section, keys in MANIFEST_KEYS.items():
            assert keys <= set(manifest[section]), section
        assert httpx.get(f"{manifest['connector']['url']}/healthz").status_code == 200
        crm, pc = CrmSeller(manifest), PartnerCenterReader(manifest)
        rows = demo_synced(crm, manifest["seeded"])
        for referral_id in manifest["seeded"]["referrals"].values():
            matching = [r for r in rows.values() if r["Referral_Identifier__c"] == referral_id]
            assert [r["StageName"] for r in matching] == ["On Hold"]
        ready, missing_country = manifest["seeded"]["opportunities"].values()
        assert len(pc.for_opportunity(ready)) == 1
        assert pc.for_opportunity(missing_country) == []
        assert "country" in rows[missing_country]["Co_sell_Sync_Status__c"]
        assert len(pc.referrals("direction eq 'Outgoing'")) == 1
        assert len(rows) == 4
        crm.close()
        pc.close()
        shown = cosell(manifest, "webhooks", "show", "--config", manifest["config_file"])
        assert f"url: {manifest['connector']['webhook_url']}" in shown.stdout
    finally:
        status = sandbox.stop()
    assert status == 0, sandbox.log()
    assert not (state_dir / "sandbox.json").exists()


def test_restart_continues_from_the_state_directory_without_seeding_again(
    tmp_path: Path,
) -> None:
    state_dir = tmp_path / "state"
    with running_sandbox(state_dir) as first:
        crm = CrmSeller(first.manifest)
        before = demo_synced(crm, first.manifest["seeded"])
        crm.close()
    with running_sandbox(state_dir) as second:
        assert second.manifest["seeded"] == {}
        crm = CrmSeller(second.manifest)
        after = opportunities(crm)
        crm.close()
    assert {i: r["Referral_Identifier__c"] for i, r in after.items()} == {
        i: r["Referral_Identifier__c"] for i, r in before.items()
    }
    assert (state_dir / "cosell.toml").exists()
