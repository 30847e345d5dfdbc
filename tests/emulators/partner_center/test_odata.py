from typing import Any

import pytest

from cosell.emulators.partner_center.odata import FilterError, parse_filter

REFERRAL: dict[str, Any] = {
    "status": "New",
    "substatus": "Pending",
    "dealValue": 5,
    "statusReason": None,
    "engagementId": "66B72794-3581-4EDA-968D-837EA0730AC9",
    "updatedDateTime": "2026-02-01T00:00:00.0000000Z",
    "customerProfile": {"address": {"country": "US"}},
    "team": [{"email": "a@partner.example"}, {"email": "b@partner.example"}],
}


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ("status eq 'New'", True),
        ("status ne 'New'", False),
        ("STATUS eq 'New'", False),
        ("status eq 'New' and substatus eq 'Received'", False),
        ("status eq 'Active' or substatus eq 'Pending'", True),
        ("status eq 'Active' or status eq 'New' and substatus eq 'Received'", False),
        ("(status eq 'Active' or status eq 'New') and substatus eq 'Pending'", True),
        ("not (status eq 'New')", False),
        ("customerProfile/address/country eq 'US'", True),
        ("customerProfile/address/city eq null", True),
        ("statusReason eq null", True),
        ("statusReason ne null", False),
        ("dealValue gt 4 and dealValue le 5", True),
        ("dealValue lt 5.5 and dealValue ge 5.0", True),
        ("updatedDateTime ge 2026-01-01T00:00:00Z", True),
        ("updatedDateTime gt 2026-02-01T00:00:00.0000001Z", False),
        ("updatedDateTime le 2026-02-01T01:00:00+01:00", True),
        ("updatedDateTime lt 2026-02-01T01:00:00+01:00", False),
        ("engagementId eq 66b72794-3581-4eda-968d-837ea0730ac9", True),
        ("engagementId eq '66b72794-3581-4eda-968d-837ea0730ac9'", True),
        ("team/any(t:t/email eq 'b@partner.example')", True),
        ("team/any(t:t/email eq 'c@partner.example')", False),
        ("team/all(t:t/email ne null)", True),
        ("team/any()", True),
        ("status eq 'it''s'", False),
        ("status eq true", False),
    ],
)
def test_filter_evaluates(text: str, expected: bool) -> None:
    assert parse_filter(text)(REFERRAL) is expected


@pytest.mark.parametrize(
    ("text", "fragment"),
    [
        ("status eq", "ends unexpectedly"),
        ("status xx 'New'", "position 8"),
        ("status eq 'New' and", "ends unexpectedly"),
        ("(status eq 'New'", "ends unexpectedly"),
        ("team/any(t:t/email eq 'x'", "ends unexpectedly"),
    ],
)
def test_bad_filter_names_the_problem(text: str, fragment: str) -> None:
    with pytest.raises(FilterError, match=fragment):
        parse_filter(text)
