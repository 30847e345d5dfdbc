from typing import Any

import pytest
from sync_samples import MAPPING

from cosell.sync.core.mapping import FieldSpec
from cosell.sync.core.records import Side, Value
from cosell.sync.core.transforms import canonical, outbound, project


def spec(transform: str, **extra: Any) -> FieldSpec:
    return FieldSpec.model_validate(
        {"partner_center": "a.b", "crm": "X__c", "transform": transform, **extra}
    )


# (transform, extra, side, raw wire value, canonical value)
READS: list[tuple[str, dict[str, Any], Side, Any, Value]] = [
    ("text", {}, "crm", "  Deal  ", "Deal"),
    ("text", {}, "crm", "", None),
    ("text", {}, "partner_center", None, None),
    ("text", {"max_length": 4}, "crm", "abcdefgh", "abcd"),
    ("text", {}, "partner_center", 42, "42"),
    ("decimal", {}, "partner_center", 12500, "12500.00"),
    ("decimal", {}, "partner_center", 48000.5, "48000.50"),
    ("decimal", {}, "crm", "1e3", "1000.00"),
    ("decimal", {}, "crm", 0.125, "0.12"),
    ("decimal", {}, "crm", "12,5", "12,5"),
    ("decimal", {}, "crm", None, None),
    ("date", {}, "partner_center", "2027-03-31T00:00:00Z", "2027-03-31"),
    ("date", {}, "partner_center", "2027-03-31T23:30:00-05:00", "2027-04-01"),
    ("date", {}, "partner_center", "2027-03-31T10:00:00.1234567Z", "2027-03-31"),
    ("date", {}, "crm", "2027-03-31", "2027-03-31"),
    ("date", {}, "crm", "31/03/2027", "31/03/2027"),
    ("currency", {}, "partner_center", " usd ", "USD"),
    ("currency", {}, "crm", "EUR", "EUR"),
    ("iso2_country", {}, "crm", "United States", "US"),
    ("iso2_country", {}, "crm", "USA", "US"),
    ("iso2_country", {}, "crm", "Germany ", "DE"),
    ("iso2_country", {}, "crm", "de", "DE"),
    ("iso2_country", {}, "crm", "UK", "GB"),
    ("iso2_country", {}, "crm", "Narnia", "Narnia"),
    ("iso2_country", {}, "crm", "XX", "XX"),
    ("bool", {}, "crm", True, True),
    ("bool", {}, "crm", "false", False),
    ("bool", {}, "crm", "Yes", True),
    ("bool", {}, "crm", "maybe", "maybe"),
    ("bool", {}, "crm", None, None),
    ("list", {}, "crm", "SOL-2; SOL-1;SOL-2", ["SOL-1", "SOL-2"]),
    ("list", {}, "partner_center", ["b", "a", None, ""], ["a", "b"]),
    ("list", {}, "crm", "", None),
]


@pytest.mark.parametrize(("transform", "extra", "side", "raw", "expected"), READS)
def test_reading_a_side_value_gives_its_canonical_form(
    transform: str, extra: dict[str, Any], side: Side, raw: Any, expected: Value
) -> None:
    assert canonical(spec(transform, **extra), raw, side, MAPPING) == expected


# (transform, side, canonical value, wire value written)
WRITES: list[tuple[str, Side, Value, Any]] = [
    ("text", "crm", "Deal", "Deal"),
    ("decimal", "partner_center", "12500.00", 12500.0),
    ("decimal", "crm", "48000.50", 48000.5),
    ("decimal", "crm", "abc", "abc"),
    ("date", "partner_center", "2027-03-31", "2027-03-31T00:00:00Z"),
    ("date", "crm", "2027-03-31", "2027-03-31"),
    ("date", "partner_center", "soon", "soon"),
    ("currency", "partner_center", "USD", "USD"),
    ("iso2_country", "partner_center", "DE", "DE"),
    ("bool", "partner_center", True, True),
    ("list", "partner_center", ["SOL-1", "SOL-2"], ["SOL-1", "SOL-2"]),
    ("list", "crm", ["SOL-1", "SOL-2"], "SOL-1;SOL-2"),
    ("list", "crm", None, None),
]


@pytest.mark.parametrize(("transform", "side", "value", "wire"), WRITES)
def test_writing_a_canonical_value_gives_the_side_wire_value(
    transform: str, side: Side, value: Value, wire: Any
) -> None:
    field = spec(transform)
    assert outbound(field, value, side, MAPPING) == wire
    assert canonical(field, wire, side, MAPPING) == value


HELP = MAPPING.fields["help_code"]


@pytest.mark.parametrize(("code", "label"), sorted((HELP.values or {}).items()))
def test_help_codes_map_to_picklist_labels_both_ways(code: str, label: str) -> None:
    assert outbound(HELP, code, "crm", MAPPING) == label
    assert canonical(HELP, label, "crm", MAPPING) == code
    assert canonical(HELP, label.upper(), "crm", MAPPING) == code
    assert canonical(HELP, code, "partner_center", MAPPING) == code


def test_an_unknown_picklist_label_is_kept_for_validation_to_report() -> None:
    assert canonical(HELP, "Free pizza", "crm", MAPPING) == "Free pizza"
    assert outbound(HELP, "Free pizza", "crm", MAPPING) == "Free pizza"


MEMBERS = MAPPING.fields["customer_contacts"]


def test_members_are_normalised_and_sorted_by_email() -> None:
    pc_rows = [
        {"firstName": "Zoe", "lastName": "Z", "email": "Zoe@X.example", "title": "CTO"},
        {"firstName": "Al", "lastName": "A", "email": "al@x.example", "phoneNumber": "+44 1"},
    ]
    value = canonical(MEMBERS, pc_rows, "partner_center", MAPPING)
    assert value == [
        {"first_name": "Al", "last_name": "A", "email": "al@x.example", "phone": "+44 1"},
        {"first_name": "Zoe", "last_name": "Z", "email": "zoe@x.example"},
    ]
    crm_rows = outbound(MEMBERS, value, "crm", MAPPING)
    assert crm_rows[0] == {
        "FirstName": "Al",
        "LastName": "A",
        "Email": "al@x.example",
        "Phone": "+44 1",
    }
    assert canonical(MEMBERS, crm_rows, "crm", MAPPING) == value


def test_link_is_built_from_the_configured_template() -> None:
    link = MAPPING.fields["referral_link"]
    assert canonical(link, "abc", "partner_center", MAPPING) == (
        "https://partner.microsoft.com/dashboard/v2/referrals/abc"
    )
    assert canonical(link, "https://x.example/1", "crm", MAPPING) == "https://x.example/1"


def test_projection_is_what_a_side_reads_back() -> None:
    stage = MAPPING.fields["stage"]
    assert project(stage, "Closed/Expired", "crm", MAPPING) == "Closed/Lost"
    assert project(stage, "New/Received", "crm", MAPPING) == "New/Pending"
    assert project(stage, "Closed/Expired", "partner_center", MAPPING) == "Closed/Expired"
    assert project(spec("decimal"), "1.00", "crm", MAPPING) == "1.00"
