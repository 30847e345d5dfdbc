"""Partner Center → CRM through a running sandbox: a referral a Microsoft seller shares becomes
an on-hold opportunity with its account, contacts and solutions; Microsoft's later changes (value,
close date, notes, status) reach it."""

from __future__ import annotations

from typing import Any

import pytest
from e2e_sides import CrmSeller, MicrosoftSeller, PartnerCenterReader

from support.wait import wait_until

pytestmark = pytest.mark.e2e
FIELDS = (
    "Id, Name, StageName, Amount, CurrencyIsoCode, CloseDate, Description, Products__c, "
    "Referral_Identifier__c, Referral_Link__c, Account.Name, Account.BillingCountry, "
    "Account.BillingCity"
)


def shared_referral(name: str, **details: Any) -> dict[str, Any]:
    return {
        "name": name,
        "customerProfile": {
            "name": f"{name} Customer",
            "address": {"addressLine1": "5 High Street", "city": "Leeds", "country": "GB"},
            "team": [{"firstName": "Sam", "lastName": "Hart", "email": "sam.hart@leeds.example"}],
        },
        "details": {
            "dealValue": 64000,
            "currency": "GBP",
            "closingDateTime": "2027-05-31T00:00:00Z",
            "notes": "Shared after the briefing.",
            "requirements": {"solutions": [{"id": "SOL-SHARED-1", "name": "Shared solution"}]},
            **details,
        },
    }


def opportunity_for(crm: CrmSeller, referral_id: str) -> dict[str, Any] | None:
    soql = f"SELECT {FIELDS} FROM Opportunity WHERE Referral_Identifier__c = '{referral_id}'"  # noqa: S608
    rows = crm.query(soql)
    assert len(rows) <= 1, rows
    return rows[0] if rows else None


def created(crm: CrmSeller, referral_id: str) -> dict[str, Any]:
    return wait_until(lambda: opportunity_for(crm, referral_id), what="the opportunity")


def test_shared_referral_becomes_an_on_hold_opportunity_with_account_contacts_and_solutions(
    microsoft: MicrosoftSeller, crm: CrmSeller, pc: PartnerCenterReader
) -> None:
    referral = microsoft.share(**shared_referral("Woodgrove"))
    record = created(crm, referral["id"])
    assert record["Name"] == "Woodgrove"
    assert record["StageName"] == "On Hold"
    assert record["Amount"] == 64000
    assert record["CurrencyIsoCode"] == "GBP"
    assert record["CloseDate"] == "2027-05-31"
    assert record["Description"] == "Shared after the briefing."
    assert record["Account"]["Name"] == "Woodgrove Customer"
    assert record["Account"]["BillingCountry"] == "GB"
    assert record["Account"]["BillingCity"] == "Leeds"
    assert referral["id"] in record["Referral_Link__c"]
    assert "SOL-SHARED-1" in (record["Products__c"] or "").split(";")
    where = f"WHERE OpportunityId = '{record['Id']}'"
    contacts = f"SELECT Contact.Email FROM OpportunityContactRole {where}"  # noqa: S608
    emails = wait_until(
        lambda: [r["Contact"]["Email"] for r in crm.query(contacts)], what="the contact roles"
    )
    assert emails == ["sam.hart@leeds.example"]
    wait_until(
        lambda: pc.referral(referral["id"])["externalReferenceId"] == record["Id"],
        what="the opportunity id on the referral",
    )


def test_microsoft_changes_reach_the_opportunity(
    microsoft: MicrosoftSeller, crm: CrmSeller
) -> None:
    referral = microsoft.share(**shared_referral("Wingtip"))
    opportunity_id = created(crm, referral["id"])["Id"]
    microsoft.change(
        referral["id"],
        details={
            "dealValue": 80500,
            "closingDateTime": "2027-08-01T00:00:00Z",
            "notes": "Budget approved.",
        },
    )

    def updated() -> dict[str, Any] | None:
        record = opportunity_for(crm, referral["id"])
        done = record is not None and (
            record["Amount"] == 80500
            and record["CloseDate"] == "2027-08-01"
            and record["Description"] == "Budget approved."
        )
        return record if done else None

    assert wait_until(updated, what="Microsoft's changes")["Id"] == opportunity_id
    microsoft.change(referral["id"], status="Closed", substatus="Lost", statusReason="Budget cut")
    closed = wait_until(
        lambda: (
            (r := opportunity_for(crm, referral["id"])) and r["StageName"] == "Closed Lost" and r
        ),
        what="the closed stage",
    )
    assert closed["Id"] == opportunity_id
