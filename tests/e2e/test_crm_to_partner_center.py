"""CRM → Partner Center through a running sandbox: a flagged opportunity becomes a co-sell
referral (id, link, ✔ and audit written back); a missing country is explained on the record and
syncs once fixed; later edits of the opportunity reach the referral."""

from __future__ import annotations

from typing import Any

import pytest
from e2e_sides import CrmSeller, PartnerCenterReader

from support.wait import wait_until

pytestmark = pytest.mark.e2e
OPPORTUNITY_FIELDS = (
    "Id, Name, Amount, CurrencyIsoCode, CloseDate, Description, Referral_Identifier__c, "
    "Referral_Link__c, Co_sell_Sync_Status__c, Co_sell_Sync_Error__c, Audit__c"
)


def opportunity(crm: CrmSeller, opportunity_id: str) -> dict[str, Any]:
    soql = f"SELECT {OPPORTUNITY_FIELDS} FROM Opportunity WHERE Id = '{opportunity_id}'"  # noqa: S608
    return crm.query(soql)[0]


def linked(crm: CrmSeller, opportunity_id: str, deadline: float = 30.0) -> dict[str, Any]:
    """The opportunity once its referral id is written back."""
    return wait_until(
        lambda: (o := opportunity(crm, opportunity_id))["Referral_Identifier__c"] and o,
        deadline,
        what=f"referral id on {opportunity_id}",
    )


def test_flagged_opportunity_becomes_a_cosell_referral_with_id_link_status_and_audit(
    crm: CrmSeller, pc: PartnerCenterReader
) -> None:
    opportunity_id = crm.opportunity(Name="Adatum: backup", Amount=42000, country="GB")
    record = linked(crm, opportunity_id)
    referral = pc.referral(record["Referral_Identifier__c"])
    assert referral["externalReferenceId"] == opportunity_id
    assert referral["direction"] == "Outgoing"
    assert referral["name"] == "Adatum: backup"
    assert float(referral["details"]["dealValue"]) == 42000
    assert referral["inviteContext"]["assistanceRequestCode"] == "ProofOfConceptOrDemo"
    assert [s["id"] for s in referral["details"]["requirements"]["solutions"]] == ["SOL-E2E"]
    assert referral["customerProfile"]["address"]["country"] == "GB"
    assert [m["email"] for m in referral["customerProfile"]["team"]] == ["buyer@customer.example"]
    assert referral["id"] in record["Referral_Link__c"]
    done = wait_until(
        lambda: (
            (o := opportunity(crm, opportunity_id))["Co_sell_Sync_Status__c"].startswith("✔") and o
        ),
        what="the ✔ status",
    )
    assert referral["id"] in done["Audit__c"]
    assert not done["Co_sell_Sync_Error__c"]
    assert len(pc.for_opportunity(opportunity_id)) == 1


def unsynced_for_lack_of_country(crm: CrmSeller, name: str) -> str:
    """A flagged opportunity whose account has no country, once cosell has said why."""
    opportunity_id = crm.opportunity(Name=name, country=None)
    reason = wait_until(
        lambda: opportunity(crm, opportunity_id)["Co_sell_Sync_Error__c"],
        what="the reason on the record",
    )
    assert "Customer country is required" in reason
    assert "Account.BillingCountry" in reason
    return opportunity_id


def test_missing_country_is_explained_on_the_record_and_nothing_is_sent(
    crm: CrmSeller, pc: PartnerCenterReader
) -> None:
    opportunity_id = unsynced_for_lack_of_country(crm, "Litware: rollout")
    record = opportunity(crm, opportunity_id)
    assert record["Co_sell_Sync_Status__c"].startswith("✖")
    assert "country" in record["Audit__c"]
    assert record["Referral_Identifier__c"] is None
    assert pc.for_opportunity(opportunity_id) == []


def test_fixed_country_on_the_opportunity_syncs_without_further_action(
    crm: CrmSeller, pc: PartnerCenterReader
) -> None:
    opportunity_id = unsynced_for_lack_of_country(crm, "Litware: phase two")
    account_id = crm.get("Opportunity", opportunity_id)["AccountId"]
    crm.update("Account", account_id, BillingCountry="FR")
    crm.edit("Opportunity", opportunity_id, NextStep="Country added")  # saved with the fix
    record = linked(crm, opportunity_id)
    referral = pc.referral(record["Referral_Identifier__c"])
    assert referral["customerProfile"]["address"]["country"] == "FR"
    assert not opportunity(crm, opportunity_id)["Co_sell_Sync_Error__c"]
    assert len(pc.for_opportunity(opportunity_id)) == 1


def test_opportunity_edits_reach_the_referral(crm: CrmSeller, pc: PartnerCenterReader) -> None:
    opportunity_id = crm.opportunity(Name="Proseware: analytics", CurrencyIsoCode="USD")
    referral_id = linked(crm, opportunity_id)["Referral_Identifier__c"]
    crm.edit(
        "Opportunity",
        opportunity_id,
        Name="Proseware: analytics and AI",
        Amount=91000.5,
        CurrencyIsoCode="EUR",
        CloseDate="2027-09-15",
        Description="Scope grew after the workshop.",
        Products__c="SOL-E2E;SOL-AI",
    )

    def updated() -> dict[str, Any] | None:
        referral = pc.referral(referral_id)
        details = referral["details"]
        solutions = {s["id"] for s in details["requirements"]["solutions"]}
        done = (
            referral["name"] == "Proseware: analytics and AI"
            and float(details["dealValue"]) == 91000.5
            and details["currency"] == "EUR"
            and str(details["closingDateTime"]).startswith("2027-09-15")
            and details["notes"] == "Scope grew after the workshop."
            and solutions == {"SOL-E2E", "SOL-AI"}
        )
        return referral if done else None

    wait_until(updated, what="the edits on the referral")
    assert len(pc.for_opportunity(opportunity_id)) == 1
