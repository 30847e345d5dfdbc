"""A backfill's batched creates leave both systems and the store as the queue's reconciles do.

The same records go into two empty worlds: referrals (plain ones, one with notes, solutions and
contacts, a lead, a closed one, two of one customer, one whose customer has an account already)
and flagged opportunities (plain ones, one Partner Center would refuse, one not flagged). One
world gets them by a backfill, whose new records go through :class:`BatchCreates`; the other by
the work queue, one reconcile at a time. Both sides and the store are then read from the outside
and compared, with the ids each world gave its records replaced by the records' names.
"""

from __future__ import annotations

import json
import re
from pathlib import Path
from typing import Any

import pytest
from crm_worlds import CrmWorld, build_crm_world
from engine_world import World, build_world
from sync_samples import contoso_share, fabrikam_share

from cosell.store import Store
from cosell.store.records import TenantId
from cosell.sync.engine.backfill import Backfill

VOLATILE = re.compile(
    r"^(Id|CreatedDate|LastModifiedDate|SystemModstamp|LastViewedDate|LastReferencedDate"
    r"|eTag|createdDateTime|updatedDateTime|id)$"
)
STAMP = re.compile(r"\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d(\.\d+)?(Z|[+-]\d\d:?\d\d)?")


def share_all(world: World) -> None:
    world.account(Name="Northwind Traders", BillingCountry="US")
    profile = {"name": "Northwind Traders", "address": {"country": "US"}}
    world.share_referral(**fabrikam_share())
    world.share_referral(**contoso_share())
    world.share_referral(**contoso_share(name="Contoso second deal"))
    world.share_referral(name="Northwind renewal", customerProfile=profile)
    world.share_referral(**fabrikam_share(name="A lead", qualification="Direct"))
    world.share_referral(**fabrikam_share(name="Closed one", status="Closed", substatus="Lost"))
    for n in range(6):
        body = {
            "name": f"Plain {n}",
            "customerProfile": {
                "name": f"Customer {n}",
                "address": {"city": "Austin", "country": "US"},
                "team": [{"firstName": "Bo", "lastName": "Ng", "email": f"bo{n}@example.com"}],
            },
            "details": {"dealValue": 1000 + n, "currency": "USD"},
        }
        world.share_referral(**body)
    help_text = "Proof of concept or demo"
    for n in range(4):
        world.opportunity(
            Name=f"Flagged {n}",
            solutions=("SOL-1",),
            Sync_with_Partner_Center__c=True,
            How_can_Microsoft_help__c=help_text,
        )
    world.opportunity(  # no contact: Partner Center would refuse it, so it waits for one
        Name="Flagged without a contact",
        contacts=0,
        solutions=("SOL-2",),
        Sync_with_Partner_Center__c=True,
        How_can_Microsoft_help__c=help_text,
    )
    world.opportunity(Name="Not flagged")


def picture(world: World) -> dict[str, Any]:
    """Both sides and the store as read from the outside, ids replaced by names."""
    names: dict[str, str] = {}
    seen: dict[str, Any] = {"referrals": _referrals(world.referrals(), names)}
    opportunities = {}
    for row in world.query("SELECT Id, Name FROM Opportunity"):
        names[row["Id"]] = f"<opportunity {row['Name']}>"
        opportunities[row["Name"]] = _kept(world.opp(row["Id"]))
    for row in world.query("SELECT Id, Name FROM Account"):
        names[row["Id"]] = f"<account {row['Name']}>"
    for row in world.query("SELECT Id, Email FROM Contact"):
        names[row["Id"]] = f"<contact {row['Email']}>"
    seen["opportunities"] = opportunities
    seen["accounts"] = sorted(r["Name"] for r in world.query("SELECT Name FROM Account"))
    seen["contacts"] = sorted(r["Email"] for r in world.query("SELECT Email FROM Contact"))
    seen["roles"] = len(world.query("SELECT Id FROM OpportunityContactRole"))
    return _named(seen | _stored(world.store, world.tenant, names), names)


def _referrals(listed: list[dict[str, Any]], names: dict[str, str]) -> dict[str, Any]:
    """Each referral by name (its ids and engagement named too)."""
    referrals = {}
    for referral in listed:
        names[str(referral["id"])] = f"<referral {referral['name']}>"
        names[str(referral["engagementId"])] = f"<engagement {referral['name']}>"
        referrals[referral["name"]] = _kept(referral)
    return referrals


def _stored(store: Store, tenant: TenantId, names: dict[str, str]) -> dict[str, Any]:
    """The store's links (by referral), ledger and audit rows of the named records."""
    links = {}
    for record_id in names:
        link = store.link_by_referral(tenant, record_id)
        if link is not None:
            links[record_id] = {"state": link.state, "base": link.base, "intent": link.intent}
    ledger = [
        (row.referral_id, row.opportunity_id, row.state, row.reason, row.setting)
        for row in store.ledger(tenant)
    ]
    audit = [
        (e.referral_id, e.opportunity_id, e.direction, e.outcome, e.field, e.old, e.new, e.message)
        for record_id in names
        for e in store.audit_for(tenant, record_id)
    ]
    return {"links": links, "ledger": ledger, "audit": audit}


def _named(seen: dict[str, Any], names: dict[str, str]) -> dict[str, Any]:
    """``seen`` with every id replaced by its record's name and every time stamp by a mark,
    its ledger and audit rows in one order."""
    text = json.dumps(seen, sort_keys=True, default=str)
    for record_id, name in sorted(names.items(), key=lambda item: -len(item[0])):
        text = text.replace(record_id, name)
    result: dict[str, Any] = json.loads(STAMP.sub("<time>", text))
    result["ledger"].sort(key=json.dumps)
    result["audit"].sort(key=json.dumps)
    return result


def _kept(record: dict[str, Any]) -> dict[str, Any]:
    return {k: v for k, v in record.items() if not VOLATILE.match(k)}


def test_batched_creates_leave_both_sides_and_the_store_as_the_queue_does(
    tmp_path: Path,
) -> None:
    queued = build_world(tmp_path / "queued")
    share_all(queued)
    assert queued.full_pass().dead_lettered == 1  # the opportunity without a contact

    batched = build_world(tmp_path / "batched")
    share_all(batched)
    job = Backfill(batched.engine, workers=8, max_attempts=2, clock=batched.clock)
    report = job.run()
    assert [f.reason for f in report.passes.failures] == [
        "NotReady: A customer contact with an email is required when Microsoft help is requested"
    ]
    assert job.creates.finished >= 10  # the plain ones, at least, went through the batch

    expected, got = picture(queued), picture(batched)
    assert got["referrals"] == expected["referrals"]
    assert got["opportunities"] == expected["opportunities"]
    assert got["links"] == expected["links"]
    assert got["ledger"] == expected["ledger"]
    assert got["audit"] == expected["audit"]
    assert (got["accounts"], got["contacts"], got["roles"]) == (
        expected["accounts"],
        expected["contacts"],
        expected["roles"],
    )


def share_some(world: CrmWorld) -> None:
    world.share_referral(**fabrikam_share())
    world.share_referral(**contoso_share())
    world.share_referral(**fabrikam_share(name="A lead", qualification="Direct"))
    for n in range(3):
        profile = {"name": f"Customer {n}", "address": {"country": "US"}}
        world.share_referral(name=f"Plain {n}", customerProfile=profile)
    world.seller.flagged_record(name="Flagged deal")


def canonical_picture(world: CrmWorld) -> dict[str, Any]:
    """Both sides in the mapping's canonical form (each CRM record read from the CRM and
    translated as a reconcile reads it) and the store's links, ledger and audit, ids replaced
    by names."""
    names: dict[str, str] = {}
    seen: dict[str, Any] = {"referrals": _referrals(world.referrals(), names)}
    records = {}
    for record_id in world.seller.records():
        snapshot = world.engine.read("opportunity", record_id)
        assert snapshot.crm_values is not None
        name = str(snapshot.crm_values.get("name"))
        names[record_id] = f"<record {name}>"
        records[name] = snapshot.crm_values
    seen["records"] = records
    return _named(seen | _stored(world.store, world.tenant, names), names)


@pytest.mark.parametrize("crm", ["salesforce", "hubspot"])
def test_batched_creates_match_the_queue_on_each_crm(tmp_path: Path, crm: str) -> None:
    queued = build_crm_world(tmp_path / "queued", crm)
    share_some(queued)
    assert queued.full_pass().dead_lettered == 0

    batched = build_crm_world(tmp_path / "batched", crm)
    share_some(batched)
    job = Backfill(batched.engine, workers=4, max_attempts=2, clock=batched.clock)
    report = job.run()
    assert report.passes.ok
    assert job.creates.finished >= 5  # the plain referrals and the flagged deal, at least

    expected, got = canonical_picture(queued), canonical_picture(batched)
    for part in ("referrals", "records", "links", "ledger", "audit"):
        assert got[part] == expected[part], part
