"""The sync engine against both emulators: creates and updates in each direction, no echoes."""

from __future__ import annotations

from engine_world import World

from cosell.sync.audit_trail import FAIL_MARK, OK_MARK

HELP = "Customer technical architecture"


def flagged_opportunity(world: World, **fields: object) -> str:
    values = {"Sync_with_Partner_Center__c": True, "How_can_Microsoft_help__c": HELP, **fields}
    return world.opportunity(solutions=("SOL-100",), **values)


# --- a. CRM → Partner Center create --------------------------------------------------------------


def test_flagged_opportunity_becomes_a_cosell_referral_with_ids_written_back(world: World) -> None:
    opp_id = flagged_opportunity(world, Products__c="SOL-200")
    world.sync(f"opportunity:{opp_id}")

    [referral] = world.referrals()
    assert referral["externalReferenceId"] == opp_id
    assert referral["type"] == "Shared"
    assert referral["inviteContext"]["assistanceRequestCode"] == "CustomerTechnicalArchitecture"
    assert referral["name"] == "Northwind renewal"
    assert referral["details"]["dealValue"] == 125000
    assert referral["details"]["currency"] == "USD"
    assert referral["details"]["closingDateTime"].startswith("2026-09-30")
    solutions = {s["id"] for s in referral["details"]["requirements"]["solutions"]}
    assert solutions == {"SOL-100", "SOL-200"}
    assert referral["customerProfile"]["name"] == "Northwind Traders"
    assert referral["customerProfile"]["address"]["country"] == "US"
    assert referral["customerProfile"]["team"][0]["email"] == "buyer0@northwind.example"

    opp = world.opp(opp_id)
    assert opp["Referral_Identifier__c"] == referral["id"]
    assert opp["Referral_Link__c"].endswith(f"/referrals/{referral['id']}")
    assert opp["Co_sell_Sync_Status__c"].startswith(OK_MARK)
    assert f"referral {referral['id']} created" in opp["Audit__c"]
    link = world.link_for(opp_id)
    assert link.referral_id == referral["id"]
    assert link.state == "linked"
    assert link.intent is None


def test_without_a_help_code_the_referral_is_not_cosell(world: World) -> None:
    opp_id = world.opportunity(Sync_with_Partner_Center__c=True)
    world.sync(f"opportunity:{opp_id}")
    [referral] = world.referrals()
    assert referral["type"] == "Independent"
    assert referral["consent"]["consentToShareReferralWithMicrosoftSellers"] is False


def test_unflagged_opportunity_is_left_alone(world: World) -> None:
    opp_id = world.opportunity()
    before = world.writes()
    world.sync(f"opportunity:{opp_id}")
    assert world.referrals() == []
    assert world.writes() == before
    assert world.opp(opp_id)["Co_sell_Sync_Status__c"] is None


# --- e. no echo ----------------------------------------------------------------------------------


def test_a_full_pass_after_a_sync_writes_nothing(world: World) -> None:
    opp_id = flagged_opportunity(world)
    world.sync(f"opportunity:{opp_id}")
    world.full_pass()  # the write-back bumped SystemModstamp: the poller would enqueue it again
    before = world.writes()
    stats = world.full_pass()
    assert stats.completed == 2  # the opportunity and the referral
    assert world.writes() == before
    assert len(world.referrals()) == 1


def test_status_marks_are_distinct() -> None:
    assert OK_MARK != FAIL_MARK
