"""Day-2 operations through the CLI against a running sandbox: ``cosell status``, ``cosell audit``
by either id, ``cosell mapping preview`` (which writes nothing), and ``cosell doctor`` finding a
webhook registration taken over by another URL, an expired refresh token and a refused
sign-in."""

from __future__ import annotations

import os
import time
from collections.abc import Iterator
from pathlib import Path

import httpx
import pytest
from cryptography.fernet import Fernet
from e2e_lifecycle import (
    Cli,
    audit_rows,
    imported,
    incoming,
    outgoing,
    record,
    write_counts,
)
from e2e_sandbox import SandboxProcess, running_sandbox
from e2e_sides import CrmSeller, MicrosoftSeller, PartnerCenterReader

from support.wait import wait_until

pytestmark = pytest.mark.e2e
REGISTRATION = "/webhooks/v1/registration"
QUIET_SWEEPS = {"COSELL_SYNC__SWEEP_INTERVAL": "3600"}
"""Partner Center changes reach this sandbox by webhook only (a dropped one stays unsynced)."""


@pytest.fixture(scope="module")
def sandbox(tmp_path_factory: pytest.TempPathFactory) -> Iterator[SandboxProcess]:
    state_dir = tmp_path_factory.mktemp("operations") / "state"
    with running_sandbox(state_dir, "--no-seed", env=QUIET_SWEEPS) as running:
        yield running


@pytest.fixture
def cli(sandbox: SandboxProcess) -> Cli:
    ours = sandbox.manifest["connector"]["webhook_url"]
    return Cli(sandbox, {"COSELL_PARTNER_CENTER__WEBHOOK_PUBLIC_URL": ours})


def test_status_reports_links_queue_and_both_api_budgets(crm: CrmSeller, cli: Cli) -> None:
    outgoing(crm, Name="Status: linked pair")
    report = cli.json("status")
    assert report["links_by_state"]["linked"] >= 1
    budget = report["salesforce_budget"]
    assert budget["error"] is None
    assert 0 < budget["remaining"] < budget["maximum"]
    assert report["expiring"]["error"] is None


def test_audit_shows_one_history_by_either_id(crm: CrmSeller, cli: Cli) -> None:
    opportunity_id, referral_id = outgoing(crm, Name="Audit: either id")
    by_opportunity = audit_rows(cli, opportunity_id)
    by_referral = audit_rows(cli, referral_id)
    assert by_opportunity == by_referral
    created = [r for r in by_opportunity if r["direction"] == "to_partner_center"]
    assert any(f"referral {referral_id} created" in r["message"] for r in created)
    assert {r["opportunity_id"] for r in by_opportunity} == {opportunity_id}
    unknown = cli.run("audit", "0068d00100ZZZZZZZZ")
    assert unknown.returncode == 1
    assert "no audit rows" in unknown.stderr


def idle(microsoft: MicrosoftSeller, cli: Cli, referral_id: str) -> None:
    """Every webhook about the referral delivered and the connector's queue empty."""

    def delivered() -> bool:
        states = [d["state"] for d in microsoft.deliveries() if d["referral_id"] == referral_id]
        return bool(states) and set(states) == {"delivered"}

    wait_until(delivered, what="the webhooks about the referral")
    wait_until(
        lambda: cli.json("status", "--offline")["queue_depth"] == 0, 30.0, 0.2, "an empty queue"
    )


def test_mapping_preview_shows_each_write_and_writes_nothing(
    microsoft: MicrosoftSeller, crm: CrmSeller, pc: PartnerCenterReader, cli: Cli
) -> None:
    referral_id = str(microsoft.share(**incoming("Preview: Microsoft's change"))["id"])
    opportunity_id = imported(crm, pc, referral_id)["Id"]
    idle(microsoft, cli, referral_id)
    microsoft.fault("webhook_drop", path="referral-updated", rate=1.0)
    microsoft.change(referral_id, details={"dealValue": 41000, "notes": "Scope agreed."})
    before = write_counts(microsoft, crm)

    shown = cli.ok("mapping", "preview", "--referral", referral_id)

    assert write_counts(microsoft, crm) == before
    assert f"referral:{referral_id}: update" in shown
    assert "CRM Amount: 30000" in shown
    assert "→ 41000" in shown
    assert 'CRM Description: null → "Scope agreed."' in shown
    assert "nothing was written" in shown
    unchanged = record(crm, opportunity_id)
    assert (unchanged["Amount"], unchanged["Description"]) == (30000, None)


def test_doctor_names_the_fix_when_another_url_took_over_the_webhook(
    sandbox: SandboxProcess, pc: PartnerCenterReader, cli: Cli
) -> None:
    ours = sandbox.manifest["connector"]["webhook_url"]
    taken = pc.http.put(
        REGISTRATION,
        json={
            "WebhookUrl": "https://other-tool.example/hooks",
            "WebhookEvents": ["referral-created"],
        },
    )
    assert taken.status_code == 200, taken.text
    try:
        found = cli.run("doctor")
        assert found.returncode == 1, found.stdout
        assert "registration points at https://other-tool.example/hooks" in found.stdout
        assert "another tool took it over" in found.stdout
        assert f"cosell webhooks register --url {ours} --overwrite" in found.stdout

        cli.ok("webhooks", "register", "--url", ours, "--overwrite")
    finally:
        registered = pc.http.get(REGISTRATION).json()
        if registered["WebhookUrl"] != ours:  # the fix itself failed: keep the sandbox usable
            events = ["referral-created", "referral-updated"]
            pc.http.put(REGISTRATION, json={"WebhookUrl": ours, "WebhookEvents": events})
    checks = {c["name"]: c for c in cli.json("doctor")}
    assert checks["webhook registration"]["level"] == "ok"


def used_refresh_token(sandbox: SandboxProcess) -> str:
    """A Partner Center refresh token that has already been redeemed (tokens rotate)."""
    pc = sandbox.manifest["partner_center"]
    form = {
        "client_id": pc["client_id"],
        "client_secret": pc["client_secret"],
        "resource": pc["resource"],
    }
    first = httpx.post(
        pc["token_url"],
        data={
            **form,
            "grant_type": "password",
            "username": pc["username"],
            "password": pc["password"],
        },
        timeout=30.0,
    ).json()["refresh_token"]
    redeemed = httpx.post(
        pc["token_url"], data={**form, "grant_type": "refresh_token", "refresh_token": first}
    )
    assert redeemed.status_code == 200, redeemed.text
    return str(first)


def test_doctor_fails_on_an_expired_refresh_token_and_a_refused_salesforce_sign_in(
    sandbox: SandboxProcess, cli: Cli, tmp_path: Path
) -> None:
    token_file = tmp_path / "partner-center-token.json"
    token_file.write_text(used_refresh_token(sandbox), encoding="utf-8")
    ninety_one_days_ago = time.time() - 91 * 86_400
    os.utime(token_file, (ninety_one_days_ago, ninety_one_days_ago))
    control = sandbox.manifest["salesforce"]["control_url"]
    assert httpx.post(f"{control}/sessions/revoke", timeout=30.0).status_code == 200
    broken = {
        "COSELL_PARTNER_CENTER__AUTH_MODE": "app_user_refresh",
        "COSELL_PARTNER_CENTER__REFRESH_TOKEN_PATH": str(token_file),
        "COSELL_TOKEN_KEY": Fernet.generate_key().decode(),
        "COSELL_SF_CLIENT_SECRET": "revoked-secret",
    }

    found = cli.run("doctor", env=broken)

    assert found.returncode == 1, found.stdout
    assert "FAIL Partner Center refresh token" in found.stdout
    assert "expired after 90 days" in found.stdout
    assert f"save the new refresh token to {token_file}" in found.stdout
    assert "FAIL Partner Center sign-in" in found.stdout
    assert "FAIL Salesforce sign-in: sign-in refused" in found.stdout
    assert "COSELL_SF_CLIENT_SECRET" in found.stdout
    assert "revoked-secret" not in found.stdout + found.stderr
