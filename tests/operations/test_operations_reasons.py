"""Engine reasons in plain words: which side said what, without URLs, status lines or a repeated
code, and what to do about it."""

from __future__ import annotations

import pytest

from cosell.operations.reasons import plain_reason

SF_URL = "https://acme.my.salesforce.com/services/data/v62.0/sobjects/Opportunity/006B"
PC_URL = "https://api.partner.microsoft.com/v1.0/engagements/referrals/R-1"


@pytest.mark.parametrize(
    ("raw", "text", "fix"),
    [
        (
            f"RejectedError: PATCH {SF_URL} -> 400 FIELD_CUSTOM_VALIDATION_EXCEPTION: "
            "FIELD_CUSTOM_VALIDATION_EXCEPTION: Close date must be in the future",
            "Salesforce refused this record: Close date must be in the future "
            "(field custom validation exception)",
            "Correct the record",
        ),
        (
            f"gave up after 8 attempts: ServerError: PATCH {PC_URL} -> 503: Service Unavailable",
            "Partner Center did not answer properly after 8 tries: Service Unavailable",
            "Retry once Partner Center is working again",
        ),
        (
            f"halted: AuthError: POST {SF_URL} -> 401 INVALID_SESSION_ID: Session expired",
            "cosell cannot sign in to Salesforce: Session expired (invalid session id)",
            "Renew cosell's access to Salesforce",
        ),
        (
            f"NotFound: GET {PC_URL} -> 404: Referral 'R-1' was not found.",
            "Partner Center no longer has this record: Referral 'R-1' was not found.",
            "Check whether it was deleted",
        ),
        (
            "NotReady: Customer country is required (CRM field Account.BillingCountry)",
            "Partner Center cannot take this record yet: Customer country is required "
            "(CRM field Account.BillingCountry)",
            "Fill in what is missing in the CRM",
        ),
        ("ValueError('boom')", "ValueError('boom')", "Press Retry"),
    ],
)
def test_reasons_read_as_plain_words(raw: str, text: str, fix: str) -> None:
    reason = plain_reason(raw)
    assert reason.text == text
    assert reason.fix.startswith(fix)
    assert reason.raw == raw
    assert "https://" not in reason.text
    assert "->" not in reason.text
