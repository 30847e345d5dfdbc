import pytest
from sync_samples import MAPPING, crm_record

from cosell.sync.core.records import Value
from cosell.sync.core.validation import check_cosell_ready


def reasons(**changes: Value) -> list[tuple[str, str]]:
    record = {**crm_record(), **changes}
    return [(p.field, p.reason) for p in check_cosell_ready(record, MAPPING)]


def test_a_complete_co_sell_record_is_ready() -> None:
    assert reasons() == []


@pytest.mark.parametrize(
    ("changes", "expected"),
    [
        (
            {"customer_country": "Germny"},
            ("customer_country", "Customer country 'Germny' is not an ISO 3166 two-letter code"),
        ),
        (
            {"customer_country": None},
            ("customer_country", "Customer country is required (CRM field Account.BillingCountry)"),
        ),
        (
            {"customer_country": "XX"},
            ("customer_country", "Customer country 'XX' is not an ISO 3166 two-letter code"),
        ),
        ({"solutions": None}, ("solutions", "Solution ID is required for co-sell (add one)")),
        (
            {"customer_contacts": [{"first_name": "No", "last_name": "Email"}]},
            (
                "customer_contacts",
                "A customer contact with an email is required when Microsoft help is requested",
            ),
        ),
        ({"name": None}, ("name", "Deal name is required (CRM field Name is empty)")),
        (
            {"deal_value": None},
            ("deal_value", "Deal value is required (CRM field Amount is empty)"),
        ),
        ({"deal_value": "12,5"}, ("deal_value", "Amount '12,5' is not a number")),
        (
            {"close_date": None},
            ("close_date", "Close date is required (CRM field CloseDate is empty)"),
        ),
        ({"close_date": "soon"}, ("close_date", "CloseDate 'soon' is not a date (YYYY-MM-DD)")),
        (
            {"currency": "EURO"},
            ("currency", "Currency 'EURO' is not an ISO 4217 three-letter code (e.g. 'USD')"),
        ),
        (
            {"help_code": "Free pizza"},
            ("help_code", "'How can Microsoft help?' value 'Free pizza'"),
        ),
    ],
)
def test_each_problem_has_a_precise_reason(
    changes: dict[str, Value], expected: tuple[str, str]
) -> None:
    found = reasons(**changes)
    assert len(found) == 1, found
    assert found[0][0] == expected[0]
    assert found[0][1].startswith(expected[1])


def test_a_misspelt_country_suggests_the_code() -> None:
    (found,) = reasons(customer_country="Germny")
    assert "(expected e.g. 'DE')" in found[1]


def test_without_a_help_code_solutions_and_contacts_are_optional() -> None:
    assert reasons(help_code=None, solutions=None, customer_contacts=None) == []


def test_several_problems_are_all_reported() -> None:
    fields = [f for f, _ in reasons(name=None, solutions=None, customer_country="Atlantis")]
    assert sorted(fields) == ["customer_country", "name", "solutions"]
