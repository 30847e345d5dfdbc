"""Sample records in Partner Center and Salesforce shapes, written for cosell's sync tests."""

from __future__ import annotations

from typing import Any

from cosell.sync.core.mapping import default_mapping
from cosell.sync.core.records import CrmRelated, Value
from cosell.sync.core.translate import from_crm, from_partner_center

MAPPING = default_mapping()


def fabrikam_share(**overrides: Any) -> dict[str, Any]:
    """What a Microsoft seller shares (the emulator's ``share_referral`` body): Fabrikam, EUR."""
    return {
        "name": "Fabrikam data platform",
        "details": {
            "dealValue": 48000,
            "currency": "EUR",
            "closingDateTime": "2026-12-31T00:00:00Z",
            "notes": "Migrate the warehouse",
            "requirements": {"solutions": [{"id": "SOL-9", "name": "Nine"}]},
        },
        "customerProfile": {
            "name": "Fabrikam",
            "address": {"country": "DE", "postalCode": "10115", "city": "Berlin"},
            "team": [{"firstName": "Rui", "lastName": "Costa", "email": "rui@fabrikam.example"}],
        },
        "inviteContext": {"assistanceRequestCode": "ProofOfConceptOrDemo"},
        **overrides,
    }


def contoso_share(**overrides: Any) -> dict[str, Any]:
    """What a Microsoft seller shares: Contoso, USD, one solution and one contact."""
    return {
        "name": "Contoso analytics",
        "details": {
            "dealValue": 30000,
            "currency": "USD",
            "closingDateTime": "2026-12-31T00:00:00Z",
            "requirements": {"solutions": [{"id": "SOL-1", "name": "One"}]},
        },
        "customerProfile": {
            "name": "Contoso",
            "address": {"country": "US", "postalCode": "98052"},
            "team": [{"firstName": "Ana", "lastName": "Lee", "email": "ana@contoso.example"}],
        },
        "inviteContext": {"assistanceRequestCode": "ProofOfConceptOrDemo"},
        **overrides,
    }


def referral(**overrides: Any) -> dict[str, Any]:
    """An incoming co-sell referral, New/Received, shared by a Microsoft seller."""
    body: dict[str, Any] = {
        "id": "5f1c2d3e-0000-4000-8000-00000000abcd",
        "engagementId": "9a8b7c6d-0000-4000-8000-00000000dcba",
        "name": "Fabrikam data platform",
        "status": "New",
        "substatus": "Received",
        "type": "Shared",
        "qualification": "SalesQualified",
        "direction": "Incoming",
        "eTag": '"00001111-0000-0000-0000-222233334444"',
        "customerProfile": {
            "name": "Fabrikam Ltd",
            "address": {"addressLine1": "1 Harbour Rd", "city": "Leeds", "country": "GB"},
            "team": [{"firstName": "Rui", "lastName": "Costa", "email": "Rui@Fabrikam.example"}],
        },
        "consent": {"consentToShareReferralWithMicrosoftSellers": True},
        "details": {
            "dealValue": 48000.5,
            "currency": "gbp",
            "closingDateTime": "2027-03-31T00:00:00Z",
            "notes": "Migrate the warehouse",
            "requirements": {
                "solutions": [
                    {"id": "SOL-200-B", "name": "Beta", "publisherName": "Us"},
                    {"id": "SOL-100-A", "name": "Alpha"},
                ]
            },
        },
        "team": [{"firstName": "Ines", "lastName": "Moreau", "email": "ines@partner.example"}],
        "inviteContext": {
            "assistanceRequestCode": "CustomerTechnicalArchitecture",
            "invitedBy": {"organizationId": "msft", "organizationName": "Microsoft"},
        },
        "trackingInfo": {"microsoftMsxId": None},
    }
    body.update(overrides)
    return body


def opportunity(**overrides: Any) -> dict[str, Any]:
    """A Salesforce opportunity flagged for co-sell, before any referral exists."""
    record: dict[str, Any] = {
        "Id": "0065g00000AbCdEAAZ",
        "Name": "Northwind renewal",
        "Amount": 125000,
        "CurrencyIsoCode": "EUR",
        "CloseDate": "2027-06-30",
        "Description": "Three-year renewal",
        "StageName": "Prospecting",
        "How_can_Microsoft_help__c": "Proof of concept or demo",
        "Products__c": "SOL-300-C",
        "Microsoft_Referral_Visibility__c": False,
        "Sync_with_Partner_Center__c": True,
        "Referral_Identifier__c": None,
    }
    record.update(overrides)
    return record


def related(**overrides: Any) -> CrmRelated:
    """The opportunity's account, contacts, team and solution rows."""
    values: dict[str, Any] = {
        "account": {"Name": "Northwind GmbH", "BillingCity": "Berlin", "BillingCountry": "Germany"},
        "contacts": [{"FirstName": "Lena", "LastName": "Vogel", "Email": "lena@northwind.example"}],
        "team": [{"FirstName": "Sam", "LastName": "Okafor", "Email": "sam@partner.example"}],
        "solutions": [{"Solution_Id__c": "SOL-300-C"}],
    }
    values.update(overrides)
    return CrmRelated(**values)


def pc_record(**overrides: Any) -> dict[str, Value]:
    """The canonical record of :func:`referral`."""
    return from_partner_center(referral(**overrides), MAPPING)


def crm_record(**overrides: Any) -> dict[str, Value]:
    """The canonical record of :func:`opportunity` with :func:`related`."""
    return from_crm(opportunity(**overrides), related(), MAPPING)
