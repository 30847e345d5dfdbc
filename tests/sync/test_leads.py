"""Lead referrals: listed and not imported by default; imported as Salesforce ``Lead`` records
(once, keyed by the referral id) when the mapping says so."""

from __future__ import annotations

from engine_world import World

from cosell.operations.records_view import find_record
from cosell.orgsetup.salesforce import OrgSetup
from cosell.orgsetup.spec import connector_spec_for
from cosell.sync.core.mapping import SyncMapping, default_mapping_text, parse_mapping
from cosell.sync.engine.engine import Engine

LEADS_AS_LEADS = default_mapping_text().replace(
    "  incoming_kinds: [co_sell]",
    "  incoming_kinds: [co_sell, lead]\n  import_leads_as: lead",
)


def lead_engine(world: World) -> Engine:
    mapping: SyncMapping = parse_mapping(LEADS_AS_LEADS)
    report = OrgSetup(world.sf_client, connector_spec_for(mapping)).apply()
    assert report.clean, report
    return Engine.build(
        store=world.store,
        tenant=world.tenant,
        partner_center=world.pc_client,
        salesforce=world.sf_client,
        mapping=mapping,
        clock=world.clock,
    )


def a_lead(world: World) -> str:
    referral = world.share_referral(
        type="Independent",
        name="Fabrikam: data estate review",
        details={"notes": "Asked about a migration assessment"},
        customerProfile={
            "name": "Fabrikam",
            "address": {"country": "DE", "postalCode": "10115", "city": "Berlin"},
            "team": [{"firstName": "Rui", "lastName": "Costa", "email": "rui@fabrikam.example"}],
        },
    )
    return str(referral["id"])


def test_by_default_a_lead_is_listed_and_nothing_is_written(world: World) -> None:
    rid = a_lead(world)
    before = world.writes()
    world.sync(f"referral:{rid}")
    assert world.writes() == before
    row = find_record(world.store, world.tenant, rid)
    assert row is not None
    assert row.state == "skipped"


def test_with_the_mapping_option_a_lead_becomes_one_salesforce_lead(world: World) -> None:
    engine = lead_engine(world)
    rid = a_lead(world)
    for _ in range(2):
        world.emulator_clock.advance(1)
        engine.reconcile_key(f"referral:{rid}")
    [lead] = world.query(
        "SELECT Id, FirstName, LastName, Company, Email, City, Country, Description, LeadSource, "
        "Status, Referral_Identifier__c FROM Lead"
    )
    assert lead["Referral_Identifier__c"] == rid
    assert (lead["FirstName"], lead["LastName"], lead["Company"]) == ("Rui", "Costa", "Fabrikam")
    assert lead["Email"] == "rui@fabrikam.example"
    assert (lead["City"], lead["Country"]) == ("Berlin", "DE")
    assert lead["Description"] == "Asked about a migration assessment"
    assert (lead["LeadSource"], lead["Status"]) == ("Partner Referral", "Open - Not Contacted")
    assert world.query("SELECT Id FROM Opportunity") == []
    # Accounted for: an audit row, the ledger (synced, naming the lead), the records list.
    [row] = world.store.audit_for(world.tenant, rid)
    assert (row.direction, row.outcome) == ("to_crm", "synced")
    assert lead["Id"] in row.message
    listed = find_record(world.store, world.tenant, rid)
    assert listed is not None
    assert listed.state == "synced"
    assert listed.reason is not None
    assert lead["Id"] in listed.reason.text
    # A second pass wrote nothing more.
    before = world.writes()
    world.emulator_clock.advance(1)
    engine.reconcile_key(f"referral:{rid}")
    assert world.writes() == before


def test_a_co_sell_referral_still_becomes_an_opportunity_with_leads_as_leads(world: World) -> None:
    engine = lead_engine(world)
    rid = str(world.share_referral(name="Co-sell deal")["id"])
    world.emulator_clock.advance(1)
    engine.reconcile_key(f"referral:{rid}")
    assert [o["Name"] for o in world.query("SELECT Name FROM Opportunity")] == ["Co-sell deal"]
    assert world.query("SELECT Id FROM Lead") == []
