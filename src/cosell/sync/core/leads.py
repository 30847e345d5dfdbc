"""A lead referral as a Salesforce ``Lead``: the fields a create writes (pure).

Partner Center classes marketing-qualified and independent referrals as leads. With
``partner_center.import_leads_as: lead`` (and ``lead`` in ``incoming_kinds``) cosell creates
one CRM Lead per such referral, keyed by the referral id, from the customer profile, its first
contact and the notes; qualifying and converting it is then the seller's work in the CRM.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

LEAD_OBJECT = "Lead"
LEAD_SOURCE = "Partner Referral"
UNKNOWN = "(not given)"
_ADDRESS = {
    "Street": "addressLine1",
    "City": "city",
    "State": "state",
    "PostalCode": "postalCode",
    "Country": "country",
}


def lead_fields(referral: Mapping[str, Any]) -> dict[str, Any]:
    """The ``Lead`` fields for ``referral`` (``LastName`` and ``Company`` always set)."""
    profile = _dict(referral.get("customerProfile"))
    team = profile.get("team") if isinstance(profile.get("team"), list) else []
    person = _dict(team[0]) if team else {}
    address = _dict(profile.get("address"))
    company = profile.get("name") or referral.get("name") or UNKNOWN
    fields: dict[str, Any] = {
        "FirstName": person.get("firstName"),
        "LastName": person.get("lastName") or company,
        "Company": company,
        "Email": person.get("email"),
        "Phone": person.get("phoneNumber"),
        "Description": _dict(referral.get("details")).get("notes") or referral.get("name"),
        "LeadSource": LEAD_SOURCE,
    }
    fields |= {crm: address.get(path) for crm, path in _ADDRESS.items()}
    return {name: value for name, value in fields.items() if value not in (None, "")}


def _dict(value: Any) -> Mapping[str, Any]:
    return value if isinstance(value, Mapping) else {}
