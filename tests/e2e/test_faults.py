"""Faults through a running sandbox: throttling, server errors, dropped and duplicated webhooks
delay the sync but never duplicate records; once everything agrees, a full pass
(``cosell sync --once``) and the idle sweeps write nothing on either side (no echo)."""

from __future__ import annotations

import subprocess
import sys
import time
from typing import Any

import pytest
from e2e_sandbox import SandboxProcess, cosell_env
from e2e_sides import CrmSeller, MicrosoftSeller, PartnerCenterReader, writes

from support.wait import wait_until

pytestmark = pytest.mark.e2e
REFERRALS = "/v1.0/engagements/referrals"
COMPOSITE = "/services/data/v62.0/composite"
LIST_REFERRALS = f"GET {REFERRALS}"


def shared(name: str) -> dict[str, Any]:
    return {
        "name": name,
        "customerProfile": {
            "name": f"{name} Ltd",
            "address": {"city": "Oslo", "country": "NO"},
            "team": [{"firstName": "Kari", "lastName": "Berg", "email": "kari@oslo.example"}],
        },
        "details": {
            "dealValue": 12000,
            "currency": "EUR",
            "closingDateTime": "2027-04-30T00:00:00Z",
        },
    }


def opportunities_for(crm: CrmSeller, referral_id: str) -> list[dict[str, Any]]:
    soql = (
        "SELECT Id, Amount, Description FROM Opportunity "  # noqa: S608
        f"WHERE Referral_Identifier__c = '{referral_id}'"
    )
    return crm.query(soql)


def one_opportunity(crm: CrmSeller, referral_id: str) -> dict[str, Any]:
    found = wait_until(lambda: opportunities_for(crm, referral_id), what="the opportunity")
    assert len(found) == 1, found
    return found[0]


def referral_of(crm: CrmSeller, opportunity_id: str) -> str:
    soql = f"SELECT Referral_Identifier__c FROM Opportunity WHERE Id = '{opportunity_id}'"  # noqa: S608
    return str(
        wait_until(lambda: crm.query(soql)[0]["Referral_Identifier__c"], what="the referral id")
    )


def delivery_states(microsoft: MicrosoftSeller, referral_id: str) -> list[str]:
    return [d["state"] for d in microsoft.deliveries() if d.get("referral_id") == referral_id]


def write_totals(microsoft: MicrosoftSeller, crm: CrmSeller) -> tuple[int, int]:
    return writes(microsoft.calls()), writes(crm.calls())


def quiet(microsoft: MicrosoftSeller, crm: CrmSeller, window: float = 3.0) -> tuple[int, int]:
    """Write totals once neither side has seen a write for ``window`` seconds."""
    last = {"totals": write_totals(microsoft, crm), "since": time.monotonic()}

    def settled() -> tuple[int, int] | None:
        now = write_totals(microsoft, crm)
        if now != last["totals"]:
            last.update(totals=now, since=time.monotonic())
            return None
        return now if time.monotonic() - float(str(last["since"])) >= window else None

    return wait_until(settled, 45.0, 0.2, "both sides to go quiet")


def sweeps_later(microsoft: MicrosoftSeller, sweeps: int = 2) -> None:
    """Wait until the connector has listed the referrals ``sweeps`` more times."""
    start = microsoft.calls()["calls"].get(LIST_REFERRALS, 0)
    wait_until(
        lambda: microsoft.calls()["calls"].get(LIST_REFERRALS, 0) >= start + sweeps,
        what=f"{sweeps} sweeps",
    )


def test_throttling_and_server_errors_delay_but_never_duplicate(
    microsoft: MicrosoftSeller, crm: CrmSeller, pc: PartnerCenterReader
) -> None:
    microsoft.fault("throttle", params={"retry_after": 1}, method="POST", path=REFERRALS, count=1)
    microsoft.fault("server_error", params={"status": 503}, method="POST", path=REFERRALS, count=1)
    creates_before = microsoft.calls()["calls"].get(f"POST {REFERRALS}", 0)
    opportunity_id = crm.opportunity(Name="Faulty: throttled create")
    # the connector's next Salesforce write (the referral id written back, one composite request)
    # fails, then is retried
    crm.fault("server_error", params={"status": 503}, method="POST", path=COMPOSITE, count=1)
    referral_id = referral_of(crm, opportunity_id)
    assert [r["id"] for r in pc.for_opportunity(opportunity_id)] == [referral_id]
    assert microsoft.calls()["calls"][f"POST {REFERRALS}"] >= creates_before + 3
    assert microsoft.http.get("/_emulator/faults").json()["faults"] == []
    assert crm.control.get("/_emulator/faults").json()["faults"] == []

    referral = microsoft.share(**shared("Faulty: shared while throttled"))
    microsoft.fault("throttle", params={"retry_after": 1}, path=REFERRALS, count=2)
    assert one_opportunity(crm, referral["id"])["Amount"] == 12000


def test_dropped_webhooks_are_repaired_by_the_sweep(
    microsoft: MicrosoftSeller, crm: CrmSeller
) -> None:
    microsoft.fault("webhook_drop", path="referral-", rate=1.0)
    referral = microsoft.share(**shared("Dropped: created"))
    assert one_opportunity(crm, referral["id"])
    microsoft.change(referral["id"], details={"dealValue": 15500})
    wait_until(
        lambda: opportunities_for(crm, referral["id"])[0]["Amount"] == 15500,
        what="the changed value",
    )
    assert set(delivery_states(microsoft, referral["id"])) == {"dropped"}
    assert len(opportunities_for(crm, referral["id"])) == 1


def test_duplicated_webhooks_make_one_opportunity(
    microsoft: MicrosoftSeller, crm: CrmSeller
) -> None:
    microsoft.fault("webhook_duplicate", path="referral-", rate=1.0)
    referral = microsoft.share(**shared("Duplicated: created"))
    one_opportunity(crm, referral["id"])
    microsoft.change(referral["id"], details={"dealValue": 17250})
    wait_until(
        lambda: opportunities_for(crm, referral["id"])[0]["Amount"] == 17250,
        what="the changed value",
    )
    wait_until(
        lambda: delivery_states(microsoft, referral["id"]).count("delivered") >= 4,
        what="both deliveries of both events",
    )
    assert len(opportunities_for(crm, referral["id"])) == 1


def test_after_sync_a_full_pass_and_idle_sweeps_write_nothing(
    sandbox: SandboxProcess, microsoft: MicrosoftSeller, crm: CrmSeller
) -> None:
    opportunity_id = crm.opportunity(Name="Echo: outgoing")
    referral = microsoft.share(**shared("Echo: incoming"))
    referral_of(crm, opportunity_id)
    one_opportunity(crm, referral["id"])
    before = quiet(microsoft, crm)

    config = sandbox.manifest["config_file"]
    command = [sys.executable, "-m", "cosell", "sync", "--once", "--config", config]
    env = cosell_env(sandbox.manifest["env"])
    done = subprocess.run(
        command, env=env, capture_output=True, text=True, timeout=120, check=False
    )
    assert done.returncode == 0, done.stderr
    assert write_totals(microsoft, crm) == before
    sweeps_later(microsoft)
    assert write_totals(microsoft, crm) == before
