"""The full shape of a referral as the service returns it, with its default (often null) values."""

from __future__ import annotations

from typing import Any

MICROSOFT = ("msft", "Microsoft")


def skeleton(owner: tuple[str, str], direction: str, microsoft_invite: bool) -> dict[str, Any]:
    """Every top-level key a real referral carries; the service writes explicit nulls."""
    invited_by = {"organizationId": MICROSOFT[0], "organizationName": MICROSOFT[1]}
    if not microsoft_invite:
        invited_by = {"organizationId": owner[0], "organizationName": owner[1]}
    return {
        "id": None,
        "engagementId": None,
        "name": None,
        "organizationId": owner[0],
        "organizationName": owner[1],
        "lastModifiedVia": None,
        "lastRunId": None,
        "externalReferenceId": None,
        "createdDateTime": None,
        "updatedDateTime": None,
        "expirationDateTime": None,
        "status": "New",
        "substatus": "Pending",
        "statusReason": None,
        "qualification": "SalesQualified" if microsoft_invite else "None",
        "type": "Independent",
        "referralSource": None,
        "eTag": None,
        "favorite": False,
        "campaignId": None,
        "salesStage": None,
        "quality": "Unknown",
        "isSpam": False,
        "direction": direction,
        "mpnId": "1000001",
        "referralProgram": None,
        "dealSensitivity": "None",
        "createdVia": None,
        "tags": [],
        "acceptedDateTime": None,
        "closedDateTime": None,
        "callToAction": None,
        "registrationStatus": "None",
        "target": [],
        "customerProfile": _customer(microsoft_invite),
        "consent": {
            "consentToToShareInfoWithOthers": True,
            "consentToContact": True,
            "consentToShareReferralWithMicrosoftSellers": microsoft_invite,
        },
        "details": _details(),
        "team": [],
        "inviteContext": {
            "notes": None,
            "assistanceRequestCode": "Unknown",
            "invitedMpnId": None,
            "invitedBy": invited_by,
        },
        "links": None,
        "trackingInfo": {
            "microsoftMsxId": None,
            "microsoftUSFedOpportunityId": None,
            "microsoftUSFedLeadId": None,
            "migratedPSCDealId": None,
            "migratedPSCPartnerDealId": None,
        },
        "registrations": [],
    }


def _customer(filled: bool) -> dict[str, Any]:
    """A sample customer for referrals Microsoft shares; empty fields for partner creates."""
    address = {
        "addressLine1": "1 Sample Street" if filled else None,
        "addressLine2": None,
        "city": "Springfield" if filled else None,
        "state": None,
        "postalCode": "00001" if filled else None,
        "country": "US" if filled else None,
        "region": None,
    }
    team = [_member("Casey", "Customer", "casey.customer@customer.example")] if filled else []
    return {
        "name": "Sample Customer Ltd" if filled else None,
        "size": "51to500employees" if filled else "",
        "isMatchingComplete": False,
        "address": address,
        "team": team,
        "ids": [],
    }


def _details() -> dict[str, Any]:
    return {
        "notes": None,
        "dealValue": None,
        "currency": None,
        "closingDateTime": None,
        "customerRequestedContact": None,
        "customerAction": None,
        "incentiveLevel": None,
        "requirements": {
            "industries": [],
            "products": [],
            "services": [],
            "solutions": [],
            "salesPlays": [],
            "offers": [],
        },
    }


def _member(first: str, last: str, email: str) -> dict[str, Any]:
    return {
        "firstName": first,
        "lastName": last,
        "phoneNumber": None,
        "email": email,
        "title": None,
        "contactPreference": {"locale": None, "disableNotifications": False},
    }
