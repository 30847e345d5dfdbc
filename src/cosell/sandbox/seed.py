"""Demo data for a new sandbox: two referrals shared by Microsoft sellers and two opportunities
flagged by the partner's sellers, one of them missing the customer's country so a user sees the
precise reason cosell writes on the record (and sees it sync once the country is filled in).

Seeding acts as the people on each side would: Microsoft sellers through the Partner Center
emulator's ``/_emulator`` surface, partner sellers through the Salesforce REST API.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import date, timedelta
from typing import Any

import httpx

from cosell.clients.salesforce import SalesforceClient

SYNC_FLAG = "Sync_with_Partner_Center__c"
HELP_FIELD = "How_can_Microsoft_help__c"
PRODUCTS_FIELD = "Products__c"


@dataclass
class Seeded:
    """What the seed created, by name."""

    referrals: dict[str, str] = field(default_factory=dict)
    opportunities: dict[str, str] = field(default_factory=dict)

    def as_dict(self) -> dict[str, dict[str, str]]:
        return {"referrals": dict(self.referrals), "opportunities": dict(self.opportunities)}


def _member(first: str, last: str, email: str) -> dict[str, Any]:
    return {"firstName": first, "lastName": last, "email": email, "phoneNumber": None}


def demo_referrals(today: date) -> list[dict[str, Any]]:
    """Two co-sell referrals as Microsoft sellers share them."""
    closing = (today + timedelta(days=120)).isoformat() + "T00:00:00Z"
    return [
        {
            "name": "Contoso: Azure migration",
            "type": "Shared",
            "customerProfile": {
                "name": "Contoso Ltd",
                "address": {"addressLine1": "1 Main Street", "city": "Seattle", "country": "US"},
                "team": [_member("Dana", "Lee", "dana.lee@contoso.example")],
            },
            "details": {
                "dealValue": 48000,
                "currency": "USD",
                "closingDateTime": closing,
                "notes": "Customer wants to move 40 VMs before their renewal.",
                "requirements": {"solutions": [{"id": "SOL-AZURE-MIGRATE", "name": "Migration"}]},
            },
        },
        {
            "name": "Fabrikam: data platform",
            "type": "Shared",
            "customerProfile": {
                "name": "Fabrikam GmbH",
                "address": {"addressLine1": "Hauptstrasse 5", "city": "Berlin", "country": "DE"},
                "team": [_member("Jonas", "Becker", "jonas.becker@fabrikam.example")],
            },
            "details": {
                "dealValue": 120000,
                "currency": "EUR",
                "closingDateTime": closing,
                "notes": "Analytics modernisation; Microsoft seller asks for a demo.",
                "requirements": {"solutions": [{"id": "SOL-DATA-PLATFORM", "name": "Data"}]},
            },
        },
    ]


def share_referrals(pc_url: str, today: date) -> dict[str, str]:
    """Share the demo referrals as a Microsoft seller; their ids by name."""
    shared = {}
    with httpx.Client(base_url=pc_url, timeout=30.0) as control:
        for body in demo_referrals(today):
            response = control.post("/_emulator/referrals", json=body)
            response.raise_for_status()
            shared[body["name"]] = str(response.json()["id"])
    return shared


def flag_opportunity(
    crm: SalesforceClient,
    *,
    name: str,
    account: dict[str, Any],
    contact: dict[str, Any],
    fields: dict[str, Any],
) -> str:
    """A partner seller's opportunity with its account and contact, flagged for co-sell."""
    account_id = crm.create("Account", account)
    opportunity_id = crm.create(
        "Opportunity", {"Name": name, "AccountId": account_id, SYNC_FLAG: True, **fields}
    )
    contact_id = crm.create("Contact", {"AccountId": account_id, **contact})
    role = {"OpportunityId": opportunity_id, "ContactId": contact_id, "Role": "Decision Maker"}
    crm.create("OpportunityContactRole", role)
    return opportunity_id


def flag_opportunities(crm: SalesforceClient, today: date) -> dict[str, str]:
    """Two flagged opportunities: one ready for co-sell, one whose account has no country."""
    common = {
        "StageName": "Prospecting",
        "CloseDate": (today + timedelta(days=90)).isoformat(),
        HELP_FIELD: "Proof of concept or demo",
    }
    northwind = flag_opportunity(
        crm,
        name="Northwind: security rollout",
        account={"Name": "Northwind Traders", "BillingCity": "Chicago", "BillingCountry": "US"},
        contact={"FirstName": "Ari", "LastName": "Cole", "Email": "ari.cole@northwind.example"},
        fields={**common, "Amount": 75000, "CurrencyIsoCode": "USD", PRODUCTS_FIELD: "SOL-SEC"},
    )
    tailspin = flag_opportunity(
        crm,
        name="Tailspin: analytics pilot",
        account={"Name": "Tailspin Toys", "BillingCity": "Lyon"},
        contact={"FirstName": "Noa", "LastName": "Roux", "Email": "noa.roux@tailspin.example"},
        fields={**common, "Amount": 30000, "CurrencyIsoCode": "EUR", PRODUCTS_FIELD: "SOL-DATA"},
    )
    return {"Northwind: security rollout": northwind, "Tailspin: analytics pilot": tailspin}


def seed(pc_url: str, crm: SalesforceClient, today: date) -> Seeded:
    """Share two referrals and flag two opportunities."""
    return Seeded(share_referrals(pc_url, today), flag_opportunities(crm, today))
