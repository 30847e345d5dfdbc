"""The co-sell lifecycle through a running sandbox: accepting (edits made on hold arrive with the
accept), declining with a reason, won and lost, Microsoft's closes (its clock expiring a referral
too), edits after the close shown as not syncable, visibility upgrades and the refused downgrade,
and the expiry warning on the record and in ``cosell status``."""

from __future__ import annotations

from collections.abc import Iterator
from datetime import datetime, timedelta
from pathlib import Path

import pytest
from e2e_lifecycle import (
    DAY,
    STATUS,
    Cli,
    accepted,
    audit_rows,
    imported,
    incoming,
    outgoing,
    record,
    record_when,
    referral_when,
    settled,
)
from e2e_sandbox import SandboxProcess, running_sandbox
from e2e_sides import CrmSeller, MicrosoftSeller, PartnerCenterReader

from support.wait import wait_until

pytestmark = pytest.mark.e2e
ON_HOLD = "on hold: kept until accepted"


@pytest.fixture
def cli(sandbox: SandboxProcess) -> Cli:
    return Cli(sandbox)


def test_edits_made_on_hold_reach_partner_center_with_the_accept(
    microsoft: MicrosoftSeller, crm: CrmSeller, pc: PartnerCenterReader, cli: Cli
) -> None:
    referral_id = str(microsoft.share(**incoming("Fabrikam: on hold"))["id"])
    opportunity = imported(crm, pc, referral_id)
    assert opportunity["StageName"] == "On Hold"
    crm.edit("Opportunity", opportunity["Id"], Name="Fabrikam: on hold, phase 1", Amount=45000)

    def held() -> list[str] | None:
        rows = audit_rows(cli, opportunity["Id"])
        fields = sorted(r["field"] for r in rows if r["message"] == ON_HOLD)
        return fields if {"name", "deal_value"} <= set(fields) else None

    wait_until(held, 60.0, 0.2, "the held edits in the audit")
    waiting = pc.referral(referral_id)
    assert (waiting["status"], waiting["name"]) == ("New", "Fabrikam: on hold")
    assert float(waiting["details"]["dealValue"]) == 30000

    crm.edit("Opportunity", opportunity["Id"], StageName="Qualification")
    after = referral_when(
        pc, referral_id, lambda r: r["status"] == "Active", "the accept on the referral"
    )
    assert after["substatus"] == "Accepted"
    assert after["name"] == "Fabrikam: on hold, phase 1"
    assert float(after["details"]["dealValue"]) == 45000


@pytest.mark.parametrize(
    "decline",
    [{"StageName": "Declined"}, {}],
    ids=["the decline stage", "a reason entered on hold"],
)
def test_a_decline_closes_the_referral_declined_with_the_reason(
    microsoft: MicrosoftSeller, crm: CrmSeller, pc: PartnerCenterReader, decline: dict[str, str]
) -> None:
    referral_id = str(microsoft.share(**incoming(f"Tailspin: declined {len(decline)}"))["id"])
    opportunity_id = imported(crm, pc, referral_id)["Id"]
    crm.edit("Opportunity", opportunity_id, Loss_Reason__c="Outside our region", **decline)
    closed = referral_when(pc, referral_id, lambda r: r["status"] == "Closed", "the decline")
    assert closed["substatus"] == "Declined"
    assert closed["statusReason"] == "Outside our region"
    declined = record_when(
        crm, opportunity_id, lambda r: r["StageName"] == "Declined", "the declined stage"
    )
    assert declined["Loss_Reason__c"] == "Outside our region"


@pytest.mark.parametrize(
    ("stage", "substatus", "reason"),
    [("Closed Won", "Won", None), ("Closed Lost", "Lost", "Budget not adequate")],
)
def test_closed_won_and_lost_close_the_referral_with_the_loss_reason(
    crm: CrmSeller, pc: PartnerCenterReader, stage: str, substatus: str, reason: str | None
) -> None:
    opportunity_id, referral_id = outgoing(crm, Name=f"Northwind: {substatus.lower()}")
    assert pc.referral(referral_id)["status"] == "Active"
    crm.edit("Opportunity", opportunity_id, StageName=stage, Loss_Reason__c=reason)
    closed = referral_when(pc, referral_id, lambda r: r["status"] == "Closed", f"{stage}")
    assert closed["substatus"] == substatus
    assert closed.get("statusReason") == reason


@pytest.mark.parametrize(
    ("substatus", "stage"), [("Declined", "Declined"), ("Lost", "Closed Lost")]
)
def test_microsoft_closing_moves_the_opportunity_to_the_mapped_stage_with_why(
    microsoft: MicrosoftSeller,
    crm: CrmSeller,
    pc: PartnerCenterReader,
    substatus: str,
    stage: str,
) -> None:
    referral_id, opportunity_id = accepted(microsoft, crm, pc, f"Contoso: {substatus} by MS")
    microsoft.change(
        referral_id, status="Closed", substatus=substatus, statusReason="Customer paused"
    )
    moved = record_when(
        crm, opportunity_id, lambda r: r["StageName"] == stage, f"the {stage} stage"
    )
    assert moved["Loss_Reason__c"] == "Customer paused"
    assert moved[STATUS] == f"⚠ Closed by Microsoft: {substatus} (Customer paused)"
    assert f"Closed by Microsoft: {substatus}" in moved["Audit__c"]


def test_crm_edits_after_the_close_are_shown_as_not_syncable(
    crm: CrmSeller, pc: PartnerCenterReader
) -> None:
    opportunity_id, referral_id = outgoing(crm, Name="Litware: won then edited", Amount=20000)
    crm.edit("Opportunity", opportunity_id, StageName="Closed Won")
    referral_when(pc, referral_id, lambda r: r["status"] == "Closed", "the close")
    settled(crm, opportunity_id)
    crm.edit("Opportunity", opportunity_id, Amount=26000)
    shown = record_when(
        crm, opportunity_id, lambda r: "Not syncable" in (r[STATUS] or ""), "the notice"
    )
    assert "deal_value 26000.00" in shown[STATUS]
    assert "Not syncable" in shown["Audit__c"]
    assert float(pc.referral(referral_id)["details"]["dealValue"]) == 20000


def test_visibility_upgrades_follow_the_crm_and_a_downgrade_is_refused_on_the_record(
    crm: CrmSeller, pc: PartnerCenterReader
) -> None:
    opportunity_id, referral_id = outgoing(
        crm, Name="Adatum: visibility", How_can_Microsoft_help__c=None
    )
    consent = "consentToShareReferralWithMicrosoftSellers"
    private = pc.referral(referral_id)
    assert private["consent"][consent] is False
    assert private["inviteContext"].get("assistanceRequestCode") in (None, "Unknown")
    crm.edit("Opportunity", opportunity_id, Microsoft_Referral_Visibility__c=True)
    referral_when(pc, referral_id, lambda r: r["consent"][consent] is True, "partner-led")
    settled(crm, opportunity_id)
    crm.edit("Opportunity", opportunity_id, How_can_Microsoft_help__c="Quotes or licensing")
    cosell = referral_when(
        pc,
        referral_id,
        lambda r: r["inviteContext"].get("assistanceRequestCode") == "QuotesOrLicensing",
        "co-sell",
    )
    assert cosell["consent"][consent] is True
    settled(crm, opportunity_id)

    crm.edit("Opportunity", opportunity_id, Microsoft_Referral_Visibility__c=False, Amount=77000)
    refused = record_when(
        crm, opportunity_id, lambda r: "made private" in (r[STATUS] or ""), "the explanation"
    )
    assert refused[STATUS].startswith("⚠ Not syncable")
    referral = referral_when(
        pc, referral_id, lambda r: float(r["details"]["dealValue"]) == 77000, "the amount"
    )
    assert referral["consent"][consent] is True


def test_a_referral_near_its_expiry_is_flagged_on_the_record_and_listed_by_status(
    microsoft: MicrosoftSeller, crm: CrmSeller, pc: PartnerCenterReader, cli: Cli
) -> None:
    referral_id = str(microsoft.share(**incoming("Proseware: expiring"))["id"])
    opportunity_id = imported(crm, pc, referral_id)["Id"]
    assert "Expires" not in (record(crm, opportunity_id)[STATUS] or "")
    # The connector's clock is the real one while the emulator's may only move forward: Microsoft
    # brings this referral's expiry close instead (36 hours from now).
    now = datetime.fromisoformat(microsoft.http.get("/_emulator/clock").json()["now"])
    expires = (now + timedelta(hours=36)).strftime("%Y-%m-%dT%H:%M:%SZ")
    microsoft.change(referral_id, expirationDateTime=expires)
    flagged = record_when(
        crm, opportunity_id, lambda r: "Expires in" in (r[STATUS] or ""), "the warning"
    )
    assert flagged[STATUS] == "⚠ Expires in 2 days — accept or decline"
    assert flagged["StageName"] == "On Hold"

    report = cli.json("status")
    listed = {r["referral_id"]: r for r in report["expiring"]["referrals"]}
    assert referral_id in listed
    assert 1 < listed[referral_id]["days_left"] <= 1.5


@pytest.fixture
def own_clock_sandbox(tmp_path: Path) -> Iterator[SandboxProcess]:
    """A sandbox of its own: moving Partner Center's clock 14 days expires every referral in it."""
    with running_sandbox(tmp_path / "state", "--no-seed") as running:
        yield running


def test_an_unanswered_referral_expires_on_the_emulator_clock_and_the_opportunity_says_why(
    own_clock_sandbox: SandboxProcess,
) -> None:
    microsoft = MicrosoftSeller(own_clock_sandbox.manifest)
    crm = CrmSeller(own_clock_sandbox.manifest)
    pc = PartnerCenterReader(own_clock_sandbox.manifest)
    try:
        referral_id = str(microsoft.share(**incoming("Wingtip: unanswered"))["id"])
        opportunity_id = imported(crm, pc, referral_id)["Id"]
        advanced = microsoft.http.post("/_emulator/clock", json={"advance_seconds": 14 * DAY + 60})
        assert advanced.status_code == 200, advanced.text
        pc.close()
        pc = PartnerCenterReader(own_clock_sandbox.manifest)  # its token expired with the move
        expired = pc.referral(referral_id)
        assert (expired["status"], expired["substatus"]) == ("Closed", "Expired")
        moved = record_when(
            crm, opportunity_id, lambda r: r["StageName"] == "Closed Lost", "the expired stage"
        )
        why = "⚠ Closed by Microsoft: Expired (not accepted within 14 days)"
        assert moved[STATUS] == why
        assert "Closed by Microsoft: Expired" in moved["Audit__c"]
    finally:
        microsoft.close()
        crm.close()
        pc.close()
