"""The co-sell lifecycle against both emulators: accept, decline, won/lost, Microsoft's closes,
terminal records, visibility and the expiry warning."""

from __future__ import annotations

from datetime import timedelta
from typing import Any

import pytest
from engine_world import World
from sync_samples import contoso_share

from cosell.clients.salesforce_records import parse_datetime
from cosell.signals.expiry import ExpiryWatch
from cosell.sync.core.audit_trail import NOTICE_MARK, OK_MARK
from cosell.sync.core.lifecycle import is_expiry_warning

STATUS = "Co_sell_Sync_Status__c"
DAY = 86_400


def shared(world: World, **overrides: Any) -> tuple[str, str]:
    """A referral Microsoft shares with us, imported: (referral id, opportunity id)."""
    body = contoso_share(**overrides)
    referral = world.share_referral(**body)
    rid = str(referral["id"])
    world.sync(f"referral:{rid}")
    opp_id = world.engine.crm.find_by_referral(rid)
    assert opp_id is not None
    return rid, opp_id


def accepted(world: World) -> tuple[str, str]:
    rid, opp_id = shared(world)
    world.edit(opp_id, StageName="Qualification")
    world.sync(f"opportunity:{opp_id}")
    assert world.referral(rid)["status"] == "Active"
    return rid, opp_id


def status_of(world: World, opp_id: str) -> str:
    return str(world.opp(opp_id)[STATUS] or "")


def test_edits_made_on_hold_are_sent_with_the_accept(world: World) -> None:
    rid, opp_id = shared(world)
    world.edit(opp_id, Name="Contoso analytics (phase 1)", Amount=45000)
    world.sync(f"opportunity:{opp_id}")
    held = world.referral(rid)
    assert (held["status"], held["name"], held["details"]["dealValue"]) == (
        "New",
        "Contoso analytics",
        30000,
    )

    world.edit(opp_id, StageName="Qualification")
    world.sync(f"opportunity:{opp_id}")
    after = world.referral(rid)
    assert (after["status"], after["substatus"]) == ("Active", "Accepted")
    assert (after["name"], after["details"]["dealValue"]) == ("Contoso analytics (phase 1)", 45000)
    assert status_of(world, opp_id).startswith(OK_MARK)


def test_a_referral_without_a_closing_date_is_not_held_and_keeps_none_after_the_accept(
    world: World,
) -> None:
    body = contoso_share()
    del body["details"]["closingDateTime"]
    rid = str(world.share_referral(**body)["id"])
    world.sync(f"referral:{rid}")
    opp_id = world.engine.crm.find_by_referral(rid)
    assert opp_id is not None
    # Salesforce requires a close date: the default is written, and is not the seller's edit.
    expected = (world.clock.now().date() + timedelta(days=90)).isoformat()
    opportunity = world.opp(opp_id)
    assert opportunity["CloseDate"] == expected
    assert status_of(world, opp_id).startswith(OK_MARK)
    assert "Held" not in str(opportunity["Audit__c"]), opportunity["Audit__c"]

    world.edit(opp_id, StageName="Qualification")
    world.sync(f"opportunity:{opp_id}")
    accepted = world.referral(rid)
    assert (accepted["status"], accepted["details"]["closingDateTime"]) == ("Active", None)

    world.edit(opp_id, CloseDate="2027-09-30")
    world.sync(f"opportunity:{opp_id}")
    assert world.referral(rid)["details"]["closingDateTime"].startswith("2027-09-30")


def test_the_decline_stage_closes_the_referral_declined_with_the_reason(world: World) -> None:
    rid, opp_id = shared(world)
    world.edit(opp_id, StageName="Declined", Loss_Reason__c="Customer chose another vendor")
    world.sync(f"opportunity:{opp_id}")
    referral = world.referral(rid)
    assert (referral["status"], referral["substatus"]) == ("Closed", "Declined")
    assert referral["statusReason"] == "Customer chose another vendor"


def test_a_reason_entered_on_hold_declines_the_referral(world: World) -> None:
    rid, opp_id = shared(world)
    world.edit(opp_id, Loss_Reason__c="Not a customer")
    world.sync(f"opportunity:{opp_id}")
    referral = world.referral(rid)
    assert (referral["status"], referral["substatus"], referral["statusReason"]) == (
        "Closed",
        "Declined",
        "Not a customer",
    )
    assert world.opp(opp_id)["StageName"] == "Declined"
    before = world.writes()
    world.sync(f"opportunity:{opp_id}")
    world.sync(f"referral:{rid}")
    assert world.writes() == before


@pytest.mark.parametrize(
    ("stage", "substatus", "reason"),
    [("Closed Won", "Won", None), ("Closed Lost", "Lost", "Budget not adequate")],
)
def test_closed_won_and_lost_close_the_referral(
    world: World, stage: str, substatus: str, reason: str | None
) -> None:
    rid, opp_id = accepted(world)
    world.edit(opp_id, StageName=stage, Loss_Reason__c=reason)
    world.sync(f"opportunity:{opp_id}")
    referral = world.referral(rid)
    assert (referral["status"], referral["substatus"]) == ("Closed", substatus)
    assert referral.get("statusReason") == reason


def test_an_unanswered_referral_expires_and_the_opportunity_says_why(world: World) -> None:
    rid, opp_id = shared(world)
    response = world.pc_control.post("/_emulator/clock", json={"advance_seconds": 14 * DAY + 60})
    assert response.status_code == 200, response.text
    expired = world.referral(rid)
    assert (expired["status"], expired["substatus"]) == ("Closed", "Expired")

    world.sync(f"referral:{rid}")
    opp = world.opp(opp_id)
    assert opp["StageName"] == "Closed Lost"
    why = "Closed by Microsoft: Expired (not accepted within 14 days)"
    assert opp[STATUS] == f"{NOTICE_MARK} {why}"
    assert "Closed by Microsoft: Expired" in opp["Audit__c"]
    before = world.writes()
    world.sync(f"opportunity:{opp_id}")
    assert world.writes() == before  # Closed Lost is the expired stage, not a new loss


def test_microsoft_declining_moves_the_opportunity_with_the_reason(world: World) -> None:
    rid, opp_id = accepted(world)
    world.microsoft_update(rid, status="Closed", substatus="Declined", statusReason="No budget")
    world.sync(f"referral:{rid}")
    opp = world.opp(opp_id)
    assert (opp["StageName"], opp["Loss_Reason__c"]) == ("Declined", "No budget")
    assert opp[STATUS] == f"{NOTICE_MARK} Closed by Microsoft: Declined (No budget)"


def test_each_edit_after_the_close_is_recorded_once_on_the_record(world: World) -> None:
    rid, opp_id = accepted(world)
    world.microsoft_update(rid, status="Closed", substatus="Lost")
    world.sync(f"referral:{rid}")
    world.edit(opp_id, Amount=1)
    world.sync(f"opportunity:{opp_id}")
    assert "Not syncable" in status_of(world, opp_id)
    assert "deal_value 1.00" in status_of(world, opp_id)
    before = world.writes()
    world.sync(f"opportunity:{opp_id}")
    world.sync(f"referral:{rid}")
    assert world.writes() == before

    world.edit(opp_id, Amount=2)
    world.sync(f"opportunity:{opp_id}")
    assert "deal_value 2.00" in status_of(world, opp_id)
    audit = world.opp(opp_id)["Audit__c"]
    assert audit.count("Not syncable") == 2
    assert world.referral(rid)["details"]["dealValue"] == 30000
    rows = world.store.audit_for(world.tenant, opp_id)
    assert len([r for r in rows if r.field == "deal_value" and r.outcome == "skipped"]) == 2


def outgoing(world: World, **fields: Any) -> tuple[str, str]:
    values = {"Sync_with_Partner_Center__c": True, **fields}
    opp_id = world.opportunity(solutions=("SOL-100",), **values)
    world.sync(f"opportunity:{opp_id}")
    [referral] = world.referrals()
    return str(referral["id"]), opp_id


def test_visibility_upgrades_follow_the_crm(world: World) -> None:
    rid, opp_id = outgoing(world)
    consent = world.referral(rid)["consent"]["consentToShareReferralWithMicrosoftSellers"]
    assert consent is False  # private
    world.edit(opp_id, Microsoft_Referral_Visibility__c=True)
    world.sync(f"opportunity:{opp_id}")
    partner_led = world.referral(rid)
    assert partner_led["consent"]["consentToShareReferralWithMicrosoftSellers"] is True
    world.edit(opp_id, How_can_Microsoft_help__c="Quotes or licensing")
    world.sync(f"opportunity:{opp_id}")
    cosell = world.referral(rid)
    assert cosell["inviteContext"]["assistanceRequestCode"] == "QuotesOrLicensing"
    assert status_of(world, opp_id).startswith(OK_MARK)


def test_a_shared_referral_is_never_made_private_again(world: World) -> None:
    rid, opp_id = outgoing(world, Microsoft_Referral_Visibility__c=True)
    assert world.referral(rid)["consent"]["consentToShareReferralWithMicrosoftSellers"] is True
    world.edit(opp_id, Microsoft_Referral_Visibility__c=False, Amount=5)
    world.sync(f"opportunity:{opp_id}")
    referral = world.referral(rid)
    assert referral["consent"]["consentToShareReferralWithMicrosoftSellers"] is True
    assert referral["details"]["dealValue"] == 5  # the rest still syncs
    assert "shared referral be made private" in status_of(world, opp_id)
    before = world.writes()
    world.sync(f"opportunity:{opp_id}")
    assert world.writes() == before


def test_the_expiry_watch_puts_the_warning_on_a_record_nothing_else_touches(
    world: World,
) -> None:
    rid, opp_id = shared(world)
    queue = world.queue()

    def linked(referral_id: str) -> bool:
        return world.store.link_by_referral(world.tenant, referral_id) is not None

    watch = ExpiryWatch(world.pc_client, queue, world.tenant, linked, world.clock)
    assert watch.look() == 0
    moment = parse_datetime(world.referral(rid)["expirationDateTime"])
    assert moment is not None
    world.clock.advance((moment - timedelta(days=1, hours=12) - world.clock.now()).total_seconds())
    assert watch.look() == 1  # no webhook, no poll: the watch alone queues it
    queue.run_until_idle(timeout=30)
    assert status_of(world, opp_id) == f"{NOTICE_MARK} Expires in 2 days — accept or decline"


def test_a_referral_close_to_expiry_is_flagged_on_the_record(world: World) -> None:
    rid, opp_id = shared(world)
    assert not is_expiry_warning(status_of(world, opp_id))
    expires = world.referral(rid)["expirationDateTime"]
    moment = parse_datetime(expires)
    assert moment is not None
    world.clock.advance((moment - timedelta(days=1, hours=12) - world.clock.now()).total_seconds())
    world.sync(f"referral:{rid}")
    assert status_of(world, opp_id) == f"{NOTICE_MARK} Expires in 2 days — accept or decline"
    assert is_expiry_warning(status_of(world, opp_id))
    before = world.writes()
    world.sync(f"referral:{rid}")
    assert world.writes() == before

    world.edit(opp_id, StageName="Qualification")
    world.sync(f"opportunity:{opp_id}")
    assert status_of(world, opp_id).startswith(OK_MARK)
