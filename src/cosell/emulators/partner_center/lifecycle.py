"""Partner Center's rules for referrals: the status machine, create validation, patchable paths."""

from __future__ import annotations

from typing import Any

from cosell.emulators.partner_center.countries import COUNTRIES
from cosell.emulators.partner_center.responses import ApiError, invalid

SUBSTATUSES: dict[str, frozenset[str]] = {
    "New": frozenset({"Pending", "Received"}),
    "Active": frozenset({"Accepted"}),
    "Closed": frozenset({"Won", "Lost", "Declined", "Expired"}),
}
NEXT_STATUSES: dict[str, frozenset[str]] = {
    "New": frozenset({"New", "Active", "Closed"}),
    "Active": frozenset({"Active", "Closed"}),
    "Closed": frozenset(),
}
HELP_CODES = frozenset(
    {
        "GeneralOrOther",
        "CustomerTechnicalArchitecture",
        "ProofOfConceptOrDemo",
        "QuotesOrLicensing",
        "PostSalesCustomerSuccess",
        "WorkloadSpecificValueProposition",
    }
)
# The paths Microsoft's co-sell connector may patch, plus /name (the connector syncs the deal
# name from the CRM) and the help request in /inviteContext (a private or partner-led referral
# may be upgraded to co-sell before it closes).
PATCHABLE_PATHS = frozenset(
    {
        "/campaignId",
        "/consent/consentToShareReferralWithMicrosoftSellers",
        "/customerProfile/team",
        "/customerProfile/team/-",
        "/details/closingDateTime",
        "/details/currency",
        "/details/dealValue",
        "/details/notes",
        "/details/requirements/solutions",
        "/details/requirements/solutions/-",
        "/externalReferenceId",
        "/inviteContext/assistanceRequestCode",
        "/inviteContext/notes",
        "/name",
        "/referralProgram",
        "/salesStage",
        "/status",
        "/substatus",
        "/statusReason",
        "/team",
        "/team/-",
    }
)
REQUIRED_ON_CREATE = ("type", "customerProfile", "consent", "details")


def check_status(referral: dict[str, Any], before: dict[str, Any] | None) -> None:
    """400 unless (status, substatus) is a valid pair reachable from ``before``."""
    status, substatus = referral.get("status"), referral.get("substatus")
    if status not in SUBSTATUSES:
        raise invalid(f"status {status!r} is not one of {sorted(SUBSTATUSES)}.", "status")
    if substatus not in SUBSTATUSES[status]:
        allowed = sorted(SUBSTATUSES[status])
        raise invalid(
            f"substatus {substatus!r} is not allowed with status {status!r}; allowed: {allowed}.",
            "substatus",
        )
    if before is None:
        return
    old = before.get("status", "New")
    if old == "Closed":
        raise closed_error()
    if status not in NEXT_STATUSES.get(old, frozenset()):
        raise invalid(f"status cannot move from {old!r} to {status!r}.", "status")


def check_visibility(referral: dict[str, Any], before: dict[str, Any]) -> None:
    """Sharing with Microsoft sellers is one-way: once granted it cannot be withdrawn."""
    key = "consentToShareReferralWithMicrosoftSellers"
    if (before.get("consent") or {}).get(key) and not (referral.get("consent") or {}).get(key):
        target = f"consent.{key}"
        raise invalid("Visibility to Microsoft sellers cannot be reverted once granted.", target)


def closed_error() -> ApiError:
    return invalid("The referral is Closed; no further updates are allowed.", "status")


def is_co_sell(referral: dict[str, Any]) -> bool:
    """Help requested from Microsoft: an assistanceRequestCode other than Unknown."""
    context = referral.get("inviteContext") or {}
    return context.get("assistanceRequestCode") in HELP_CODES


def check_create(body: dict[str, Any]) -> None:
    """400 naming the first missing or invalid field of a create body."""
    for key in REQUIRED_ON_CREATE:
        if body.get(key) in (None, "", {}):
            raise invalid(f"{key} is required.", key)
    for key in ("customerProfile", "consent", "details"):
        if not isinstance(body[key], dict):
            raise invalid(f"{key} must be an object.", key)
    check_fields(body)


def check_fields(referral: dict[str, Any]) -> None:
    """The co-sell requirements, and the shape rules every stored referral keeps."""
    country = ((referral.get("customerProfile") or {}).get("address") or {}).get("country")
    target = "customerProfile.address.country"
    if country not in (None, "") and country not in COUNTRIES:
        raise invalid(f"{target} {country!r} is not an ISO 3166-1 alpha-2 code.", target)
    if not is_co_sell(referral):
        return
    solutions = ((referral.get("details") or {}).get("requirements") or {}).get("solutions")
    if not solutions or not any(isinstance(s, dict) and s.get("id") for s in solutions):
        raise invalid(
            "Solution ID is required for a co-sell referral.", "details.requirements.solutions"
        )
    if not country:
        raise invalid(f"{target} is required for a co-sell referral.", target)
    contacts = (referral.get("customerProfile") or {}).get("team")
    if not contacts:
        raise invalid(
            "A customer contact is required for a co-sell referral.", "customerProfile.team"
        )


def coerce_deal_value(referral: dict[str, Any]) -> None:
    """Accept ``dealValue`` sent as a string (the service is lenient, its docs do it)."""
    details = referral.get("details")
    if not isinstance(details, dict) or not isinstance(details.get("dealValue"), str):
        return
    try:
        number = float(details["dealValue"])
    except ValueError:
        raise invalid("details.dealValue must be a number.", "details.dealValue") from None
    details["dealValue"] = int(number) if number.is_integer() else number
