"""Money that is not money (1e308, NaN, infinities) is an input error named on the record, never
an exception retried as if temporary."""

from __future__ import annotations

import pytest
from sync_samples import MAPPING, crm_record

from cosell.sync.core.transforms import canonical
from cosell.sync.core.validation import check_cosell_ready


@pytest.mark.parametrize(
    ("raw", "reason"),
    [
        (1e308, "'1e+308' is out of range"),
        ("1e308", "'1e308' is out of range"),
        (float("nan"), "'nan' is not a finite number"),
        ("NaN", "'NaN' is not a finite number"),
        (float("inf"), "'inf' is not a finite number"),
        ("-Infinity", "'-Infinity' is not a finite number"),
    ],
)
def test_unusable_deal_values_are_refusals_naming_the_value(raw: object, reason: str) -> None:
    spec = MAPPING.fields["deal_value"]
    for side in ("partner_center", "crm"):
        value = canonical(spec, raw, side, MAPPING)  # type: ignore[arg-type]
        problems = check_cosell_ready({**crm_record(), "deal_value": value}, MAPPING)
        assert [p.field for p in problems] == ["deal_value"]
        assert problems[0].reason.startswith(f"Amount {reason}")


def test_a_large_but_real_amount_still_rounds_to_cents() -> None:
    spec = MAPPING.fields["deal_value"]
    assert canonical(spec, 123456789012.345, "partner_center", MAPPING) == "123456789012.34"
