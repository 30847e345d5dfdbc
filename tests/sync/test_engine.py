"""The sync engine against both emulators: creates and updates in each direction, no echoes."""

from __future__ import annotations

import logging

import pytest
from engine_world import World
from sync_samples import fabrikam_share

from cosell.operations.records_view import all_records
from cosell.operations.status import build_status
from cosell.queue.embedded import EmbeddedQueue
from cosell.service.parts import ServiceParts
from cosell.settings import Settings
from cosell.sync.core.audit_trail import OK_MARK
from cosell.sync.core.mapping import default_mapping_text, parse_mapping
from cosell.sync.core.plan import NOT_SYNCABLE
from cosell.sync.engine.engine import Engine, queue_handler

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


# --- b. CRM → Partner Center updates -------------------------------------------------------------


def test_crm_edits_flow_to_the_referral_while_the_flag_is_on(world: World) -> None:
    opp_id = flagged_opportunity(world)
    world.sync(f"opportunity:{opp_id}")
    world.edit(
        opp_id,
        Name="Northwind renewal (3 years)",
        Amount=250000.5,
        CurrencyIsoCode="EUR",
        CloseDate="2026-12-15",
        Description="Scope grew to three regions",
        Products__c="SOL-300",
    )
    world.sync(f"opportunity:{opp_id}")

    [referral] = world.referrals()
    assert referral["name"] == "Northwind renewal (3 years)"
    assert referral["details"]["dealValue"] == 250000.5
    assert referral["details"]["currency"] == "EUR"
    assert referral["details"]["closingDateTime"].startswith("2026-12-15")
    assert referral["details"]["notes"] == "Scope grew to three regions"
    solutions = {s["id"] for s in referral["details"]["requirements"]["solutions"]}
    assert solutions == {"SOL-100", "SOL-300"}
    audit = world.opp(opp_id)["Audit__c"]
    assert "currency: USD → EUR" in audit
    rows = world.store.audit_for(world.tenant, opp_id)
    assert {r.field for r in rows if r.direction == "to_partner_center"} >= {"deal_value", "name"}


def test_crm_edits_stay_local_once_the_flag_is_off(world: World) -> None:
    opp_id = flagged_opportunity(world)
    world.sync(f"opportunity:{opp_id}")
    world.edit(opp_id, Sync_with_Partner_Center__c=False, Amount=1)
    world.sync(f"opportunity:{opp_id}")
    [referral] = world.referrals()
    assert referral["details"]["dealValue"] == 125000


# --- c. Partner Center → CRM create --------------------------------------------------------------


def shared(world: World, **overrides: object) -> dict[str, object]:
    body = fabrikam_share(**overrides)
    return world.share_referral(**body)


OPP_QUERY = (
    "SELECT Id, Name, StageName, Amount, CurrencyIsoCode, CloseDate, Description, Products__c, "
    "AccountId, Referral_Identifier__c, Sync_with_Partner_Center__c, How_can_Microsoft_help__c "
    "FROM Opportunity"
)


def test_shared_referral_becomes_an_on_hold_opportunity(world: World) -> None:
    referral = shared(world)
    world.sync(f"referral:{referral['id']}")

    [opp] = world.query(OPP_QUERY)
    assert opp["Referral_Identifier__c"] == referral["id"]
    assert opp["Name"] == "Fabrikam data platform"
    assert opp["StageName"] == "On Hold"
    assert (opp["Amount"], opp["CurrencyIsoCode"]) == (48000, "EUR")
    assert opp["CloseDate"] == "2026-12-31"
    assert opp["Description"] == "Migrate the warehouse"
    assert opp["Products__c"] == "SOL-9"
    assert opp["Sync_with_Partner_Center__c"] is True
    assert opp["How_can_Microsoft_help__c"] == "Proof of concept or demo"
    [account] = world.query("SELECT Id, Name, BillingCountry, BillingPostalCode FROM Account")
    assert (account["Id"], account["Name"], account["BillingCountry"]) == (
        opp["AccountId"],
        "Fabrikam",
        "DE",
    )
    [role] = world.query("SELECT Contact.Email, Contact.LastName FROM OpportunityContactRole")
    assert role["Contact"]["Email"] == "rui@fabrikam.example"
    [row] = world.query("SELECT Solution_Id__c, Opportunity__c FROM Microsoft_Solution__c")
    assert (row["Solution_Id__c"], row["Opportunity__c"]) == ("SOL-9", opp["Id"])
    assert world.referral(str(referral["id"]))["externalReferenceId"] == opp["Id"]


def test_shared_referral_reuses_the_matching_account(world: World) -> None:
    existing = world.account(Name="Fabrikam", BillingCountry="DE", BillingPostalCode="10115")
    world.account(Name="Fabrikam", BillingCountry="FR")
    referral = shared(world)
    world.sync(f"referral:{referral['id']}")
    [opp] = world.query("SELECT AccountId FROM Opportunity")
    assert opp["AccountId"] == existing
    assert len(world.query("SELECT Id FROM Account")) == 2


def test_lead_referrals_are_not_imported_by_default(
    world: World, caplog: pytest.LogCaptureFixture
) -> None:
    referral = world.share_referral(type="Independent")
    rid = str(referral["id"])
    with caplog.at_level(logging.INFO, logger="cosell.sync.outcome"):
        world.sync(f"referral:{rid}")
        world.sync(f"referral:{rid}")
    assert world.query("SELECT Id FROM Opportunity") == []
    # Not imported, but accounted for: one audit row (not one per pass) and a warning, each
    # saying why and which setting imports it.
    [row] = world.store.audit_for(world.tenant, rid)
    assert (row.outcome, row.referral_id) == ("skipped", rid)
    assert "as 'lead'" in row.message
    assert "partner_center.incoming_kinds" in row.message
    [line] = [
        r for r in caplog.records if r.name == "cosell.sync.outcome" and rid in r.getMessage()
    ]
    assert line.levelno == logging.WARNING
    # The records list (console, API) shows it as not imported, with the setting to change.
    [listed] = [r for r in all_records(world.store, world.tenant) if r.referral_id == rid]
    assert listed.state == "skipped"
    assert listed.reason is not None
    assert "lead" in listed.reason.text
    assert "partner_center.incoming_kinds" in listed.reason.fix
    # cosell status --json lists it too.
    report = build_status(world.store, world.tenant, "acme").to_json()
    [seen] = report["not_imported"]
    assert seen["referral_id"] == rid
    assert "partner_center.incoming_kinds" in seen["fix"]
    assert "outcome=skipped" in line.getMessage()
    assert "incoming_kinds" in line.getMessage()


def test_a_referral_shared_without_a_type_is_imported_as_co_sell(world: World) -> None:
    response = world.pc_control.post("/_emulator/referrals", json={"name": "No type given"})
    assert response.status_code == 201, response.text
    assert response.json()["type"] == "Shared"
    world.sync(f"referral:{response.json()['id']}")
    [opp] = world.query("SELECT Name FROM Opportunity")
    assert opp["Name"] == "No type given"


def test_synced_outcomes_are_logged_at_info(world: World, caplog: pytest.LogCaptureFixture) -> None:
    referral = shared(world)
    with caplog.at_level(logging.INFO, logger="cosell.sync.outcome"):
        world.sync(f"referral:{referral['id']}")
    lines = [r for r in caplog.records if r.name == "cosell.sync.outcome"]
    assert any(
        r.levelno == logging.INFO and "outcome=synced direction=to_crm" in r.getMessage()
        for r in lines
    )
    assert all(str(referral["id"]) in r.getMessage() for r in lines)


# --- d. Partner Center → CRM updates -------------------------------------------------------------


def test_microsoft_seller_updates_flow_to_the_opportunity(world: World) -> None:
    referral = shared(world)
    rid = str(referral["id"])
    world.sync(f"referral:{rid}")
    world.microsoft_update(
        rid,
        details={"dealValue": 61000, "closingDateTime": "2027-01-31T00:00:00Z", "notes": "PoC"},
        status="Active",
        substatus="Accepted",
    )
    world.sync(f"referral:{rid}")
    [opp] = world.query(OPP_QUERY)
    assert (opp["Amount"], opp["CloseDate"], opp["Description"]) == (61000, "2027-01-31", "PoC")
    assert opp["StageName"] == "Qualification"

    world.microsoft_update(rid, status="Closed", substatus="Won")
    world.sync(f"referral:{rid}")
    [opp] = world.query("SELECT StageName FROM Opportunity")
    assert opp["StageName"] == "Closed Won"


def test_edits_while_on_hold_are_kept_until_accepted(world: World) -> None:
    referral = shared(world)
    rid = str(referral["id"])
    world.sync(f"referral:{rid}")
    [opp] = world.query("SELECT Id FROM Opportunity")
    world.edit(opp["Id"], Amount=99)
    world.sync(f"opportunity:{opp['Id']}")
    assert world.referral(rid)["details"]["dealValue"] == 48000
    # The seller reads that the edit is held, not "✔ Synced"; a second pass writes nothing.
    status = world.opp(opp["Id"])["Co_sell_Sync_Status__c"]
    assert status.startswith("⚠ Held: the referral is on hold"), status
    assert "deal_value 99" in status
    before = world.writes()
    world.sync(f"opportunity:{opp['Id']}")
    assert world.writes() == before
    world.edit(opp["Id"], StageName="Qualification")
    world.sync(f"opportunity:{opp['Id']}")
    accepted = world.referral(rid)
    assert (accepted["status"], accepted["substatus"]) == ("Active", "Accepted")
    assert accepted["details"]["dealValue"] == 99
    assert world.opp(opp["Id"])["Co_sell_Sync_Status__c"].startswith("✔ Synced")


# --- e. no echo, no duplicates -------------------------------------------------------------------


def test_after_an_incoming_create_and_updates_a_full_pass_writes_nothing(world: World) -> None:
    referral = shared(world)
    world.sync(f"referral:{referral['id']}")
    world.microsoft_update(str(referral["id"]), details={"notes": "changed"})
    world.full_pass()
    before = world.writes()
    world.full_pass()
    assert world.writes() == before
    assert len(world.query("SELECT Id FROM Opportunity")) == 1
    assert len(world.referrals()) == 1


def test_crm_edits_after_the_referral_closed_are_recorded_as_not_syncable(world: World) -> None:
    referral = shared(world)
    rid = str(referral["id"])
    world.sync(f"referral:{rid}")
    world.microsoft_update(rid, status="Closed", substatus="Lost")
    world.sync(f"referral:{rid}")
    [opp] = world.query("SELECT Id, StageName FROM Opportunity")
    assert opp["StageName"] == "Closed Lost"

    world.edit(opp["Id"], Amount=1)
    before = world.writes()
    world.sync(f"opportunity:{opp['Id']}")
    assert world.writes() == before + 1  # the record says why, once
    assert "Not syncable" in world.opp(opp["Id"])["Co_sell_Sync_Status__c"]
    world.sync(f"opportunity:{opp['Id']}")
    assert world.writes() == before + 1
    assert world.referral(rid)["details"]["dealValue"] == 48000
    rows = world.store.audit_for(world.tenant, opp["Id"])
    recorded = [r for r in rows if r.field == "deal_value" and r.message == NOT_SYNCABLE]
    assert len(recorded) == 1
    assert recorded[0].outcome == "skipped"


def test_the_service_runs_the_engine_as_its_queue_handler(world: World) -> None:
    parts = ServiceParts(
        settings=Settings(),
        clock=world.clock,
        store=world.store,
        tenant=world.tenant,
        partner_center=world.pc_client,
        salesforce=world.sf_client,
    )
    queue = EmbeddedQueue(world.store, queue_handler(parts), workers=1, clock=world.clock)
    referral = world.share_referral(
        details={"dealValue": 10, "closingDateTime": "2026-12-31T00:00:00Z"}
    )
    queue.enqueue(world.tenant, f"referral:{referral['id']}")
    assert queue.run_until_idle(timeout=30).completed == 1
    [opp] = world.query("SELECT Referral_Identifier__c FROM Opportunity")
    assert opp["Referral_Identifier__c"] == referral["id"]


def test_a_field_both_sides_changed_is_parked_once_for_a_person(world: World) -> None:
    text = default_mapping_text().replace(
        "crm: Amount\n    transform: decimal\n    owner: crm",
        "crm: Amount\n    transform: decimal\n    owner: manual",
    )
    engine = Engine.build(
        store=world.store,
        tenant=world.tenant,
        partner_center=world.pc_client,
        salesforce=world.sf_client,
        mapping=parse_mapping(text),
        clock=world.clock,
    )
    referral = shared(world)
    rid = str(referral["id"])
    engine.reconcile_key(f"referral:{rid}")
    [opp] = world.query("SELECT Id FROM Opportunity")
    world.microsoft_update(rid, status="Active", substatus="Accepted", details={"dealValue": 1})
    world.edit(opp["Id"], Amount=2, Description="edited in the CRM")
    engine.reconcile_key(f"opportunity:{opp['Id']}")

    [conflict] = world.store.conflicts(world.tenant)
    assert (conflict.field, conflict.pc, conflict.crm) == ("deal_value", "1.00", "2.00")
    assert world.referral(rid)["details"]["dealValue"] == 1
    assert world.referral(rid)["details"]["notes"] == "edited in the CRM"
    assert world.opp(opp["Id"])["Amount"] == 2
    before = world.writes()
    engine.reconcile_key(f"referral:{rid}")
    engine.reconcile_key(f"opportunity:{opp['Id']}")
    assert world.writes() == before
    rows = world.store.audit_for(world.tenant, opp["Id"])
    assert len([r for r in rows if r.outcome == "conflict"]) == 1


def test_a_refused_referral_stays_visible_after_it_expires(
    world: World, caplog: pytest.LogCaptureFixture
) -> None:
    details = {"dealValue": 9000, "currency": "CHF", "closingDateTime": "2027-03-31T00:00:00Z"}
    referral = world.share_referral(name="Contoso: Swiss pilot", details=details)
    rid, key = str(referral["id"]), f"referral:{referral['id']}"
    with caplog.at_level(logging.WARNING):
        assert world.full_pass().dead_lettered == 1
    assert world.query("SELECT Id FROM Opportunity") == []
    # The refusal is in the audit (with the CRM's words) and the log, not only the dead letter.
    [row] = world.store.audit_for(world.tenant, rid)
    assert row.outcome == "rejected"
    assert "CHF" in row.message
    assert any(
        "outcome=rejected" in r.getMessage() and rid in r.getMessage() for r in caplog.records
    )
    refused = world.store.dead_letter_for(world.tenant, key)
    assert refused is not None

    # Microsoft's 14 days pass: the referral expires (Closed) before it ever reached the CRM.
    world.emulator_clock.advance(15 * 86400)
    assert world.referral(rid)["status"] == "Closed"
    for _ in range(2):
        assert world.full_pass().dead_lettered == 1
    letter = world.store.dead_letter_for(world.tenant, key)
    assert letter is not None
    assert "Closed" in letter.reason
    assert "never reached the CRM" in letter.reason
    assert "CHF" in letter.reason
    assert letter.reason.count("never reached the CRM") == 1
    assert [r.outcome for r in world.store.audit_for(world.tenant, rid)] == ["skipped", "rejected"]
