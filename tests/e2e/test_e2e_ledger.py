"""Every referral accounted for, against a running sandbox: each record's ledger state, with its
reason, in ``cosell status --json``, ``cosell audit``, the console's API and the service's log.

Covers an untyped referral (imported as co-sell), a lead (listed, not imported, naming the
setting), edits held while a referral is on hold, and a referral the CRM refuses (its currency)
that then expires before it ever reached the CRM. The expiry moves the emulator's clock, so it
runs last in this module."""

from __future__ import annotations

from typing import Any

import httpx
import pytest
from e2e_lifecycle import Cli, imported, incoming, record_when
from e2e_sandbox import SandboxProcess
from e2e_sides import CrmSeller, MicrosoftSeller, PartnerCenterReader

from support.wait import wait_until

pytestmark = pytest.mark.e2e
DAY = 86_400
STATUS = "Co_sell_Sync_Status__c"


@pytest.fixture
def cli(sandbox: SandboxProcess) -> Cli:
    return Cli(sandbox)


def in_state(sandbox: SandboxProcess, record_id: str, state: str) -> dict[str, Any]:
    """Wait until the console's API lists the record in ``state``; its row."""

    def listed() -> dict[str, Any] | None:
        row = api_record(sandbox, record_id)
        return row if row and row["state"] == state else None

    return wait_until(listed, 60, 0.5, f"{record_id} {state} in the console's API")


def attention(cli: Cli, record_id: str, state: str) -> dict[str, Any]:
    """The record's entry in ``cosell status --json``'s list of records needing attention."""
    rows = cli.json("status", "--offline")["attention"]
    [row] = [r for r in rows if record_id in (r["referral_id"], r["opportunity_id"])]
    assert row["state"] == state, row
    return dict(row)


def api_record(sandbox: SandboxProcess, record_id: str) -> dict[str, Any]:
    url = sandbox.manifest["connector"]["url"]
    response = httpx.get(f"{url}/api/v1/records", params={"q": record_id}, timeout=10)
    response.raise_for_status()
    rows = response.json()["records"]
    found = [r for r in rows if record_id in (r["referral_id"], r["opportunity_id"])]
    return dict(found[0]) if found else {}


def logged(sandbox: SandboxProcess, *parts: str) -> bool:
    text = sandbox.log_path.read_text(errors="replace")
    return any(all(p in line for p in parts) for line in text.splitlines())


def test_a_referral_shared_without_a_type_is_imported_as_co_sell(
    sandbox: SandboxProcess,
    microsoft: MicrosoftSeller,
    crm: CrmSeller,
    pc: PartnerCenterReader,
    cli: Cli,
) -> None:
    response = microsoft.http.post("/_emulator/referrals", json=incoming("Ledger: no type"))
    assert response.status_code == 201, response.text
    assert response.json()["type"] == "Shared"
    referral_id = str(response.json()["id"])
    opportunity = imported(crm, pc, referral_id)
    assert opportunity["Name"] == "Ledger: no type"
    # Both sides hold the pair a moment before the reconcile's last commit records it synced
    # (the status read at once saw it still in flight once in CI).
    in_state(sandbox, referral_id, "synced")
    report = cli.json("status", "--offline")
    assert report["records_by_state"]["synced"] >= 1


def test_a_lead_is_listed_with_the_setting_that_imports_it_everywhere(
    sandbox: SandboxProcess, microsoft: MicrosoftSeller, cli: Cli
) -> None:
    referral_id = str(microsoft.share(**incoming("Ledger: a lead"), type="Independent")["id"])
    row = in_state(sandbox, referral_id, "skipped")
    assert "partner_center.incoming_kinds" in row["reason"]["fix"]
    listed = attention(cli, referral_id, "skipped")
    assert "lead" in listed["reason"]
    assert "partner_center.incoming_kinds" in listed["fix"]
    audit = cli.ok("audit", referral_id)
    assert "State: skipped" in audit
    assert "partner_center.incoming_kinds" in audit
    assert wait_until(
        lambda: logged(sandbox, "state=skipped", referral_id, "incoming_kinds"),
        30,
        0.5,
        "the skip in the service's log",
    )


def test_edits_on_hold_show_held_not_synced(
    sandbox: SandboxProcess,
    microsoft: MicrosoftSeller,
    crm: CrmSeller,
    pc: PartnerCenterReader,
    cli: Cli,
) -> None:
    referral_id = str(microsoft.share(**incoming("Ledger: on hold"))["id"])
    opportunity_id = imported(crm, pc, referral_id)["Id"]
    crm.edit("Opportunity", opportunity_id, Amount=45000)
    held = record_when(
        crm, opportunity_id, lambda r: str(r[STATUS] or "").startswith("⚠ Held"), "Held"
    )
    assert "deal_value" in held[STATUS]

    in_state(sandbox, referral_id, "held")
    report = cli.json("status", "--offline")
    # The whole report on failure: which state the record is in instead, and why.
    assert report["records_by_state"]["held"] >= 1, (report, api_record(sandbox, referral_id))
    assert "State: held" in cli.ok("audit", opportunity_id)
    # (held is logged at info: the service's default level shows warnings and up)


@pytest.mark.timeout(300)  # several cosell commands, each a process of its own
def test_a_refused_referral_stays_listed_and_then_expired_before_sync(
    sandbox: SandboxProcess, microsoft: MicrosoftSeller, cli: Cli
) -> None:
    body = incoming("Ledger: Swiss pilot")
    body["details"] = {**body["details"], "currency": "CHF"}
    referral_id = str(microsoft.share(**body)["id"])
    in_state(sandbox, referral_id, "refused")
    refused = attention(cli, referral_id, "refused")
    assert "CHF" in refused["reason"]
    assert "Salesforce refused" in refused["reason"]
    audit = cli.ok("audit", referral_id)
    assert "State: refused" in audit
    assert "rejected" in audit
    assert logged(sandbox, "state=refused", referral_id)

    advanced = microsoft.http.post("/_emulator/clock", json={"advance_seconds": 15 * DAY})
    assert advanced.status_code == 200, advanced.text
    cli.ok("retry", referral_id)  # as an operator would; the record still cannot be imported
    in_state(sandbox, referral_id, "expired")
    expired = attention(cli, referral_id, "expired")
    assert "before it reached the CRM" in expired["reason"]
    assert "CHF" in expired["reason"]
    assert "State: expired" in cli.ok("audit", referral_id)
    assert wait_until(
        lambda: logged(sandbox, "state=expired", referral_id), 30, 0.5, "the expiry in the log"
    )
