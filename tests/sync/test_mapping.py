from pathlib import Path

import pytest

from cosell.errors import ConfigError
from cosell.sync.core.mapping import (
    default_mapping,
    default_mapping_text,
    load_mapping,
    parse_mapping,
)
from cosell.sync.core.mapping_errors import MappingError

DEFAULT = default_mapping_text()


def line_of(text: str, needle: str) -> int:
    """1-based line of the first line containing ``needle``."""
    return next(i for i, line in enumerate(text.splitlines(), 1) if needle in line)


def edit(old: str, new: str, text: str = DEFAULT) -> str:
    assert text.count(old) >= 1, old
    return text.replace(old, new, 1)


def test_the_shipped_mapping_loads_and_mirrors_the_connector() -> None:
    mapping = default_mapping()
    pairs = {(s.partner_center, s.crm) for s in mapping.fields.values()}
    assert ("details.dealValue", "Amount") in pairs
    assert ("details.closingDateTime", "CloseDate") in pairs
    assert ("customerProfile.address.country", "Account.BillingCountry") in pairs
    assert ("inviteContext.assistanceRequestCode", "How_can_Microsoft_help__c") in pairs
    assert mapping.referral_id_field == "Referral_Identifier__c"
    assert mapping.referral_link_field == "Referral_Link__c"
    assert mapping.stage_field() == "stage"
    assert mapping.crm.sync_flag_field == "Sync_with_Partner_Center__c"
    assert len(mapping.fields["help_code"].values or {}) == 6


def test_load_mapping_reads_a_file(tmp_path: Path) -> None:
    path = tmp_path / "mine.yaml"
    path.write_text(edit("max_length: 120", "max_length: 80"), encoding="utf-8")
    assert load_mapping(path).fields["name"].max_length == 80


# (description, old text, new text, line needle in the edited text, key, message fragment)
MISTAKES = [
    (
        "unknown transform",
        "transform: decimal",
        "transform: decimel",
        "decimel",
        "fields.deal_value.transform",
        "unknown transform 'decimel' (choose from: text, decimal, date,",
    ),
    (
        "unknown direction",
        "direction: to_crm\n",
        "direction: to_salesforce\n",
        "to_salesforce",
        "fields.referral_id.direction",
        "unknown direction 'to_salesforce'",
    ),
    (
        "unknown owner",
        "owner: partner_center",
        "owner: microsoft",
        "owner: microsoft",
        "fields.stage.owner",
        "unknown owner 'microsoft'",
    ),
    (
        "misspelt key",
        "    crm: Amount",
        "    crm_field: Amount",
        "crm_field",
        "fields.deal_value.crm_field",
        "unknown key 'crm_field'",
    ),
    (
        "missing key",
        "    crm: CloseDate\n",
        "",
        "  close_date:",
        "fields.close_date.crm",
        "required key is missing",
    ),
    (
        "bad Partner Center path",
        "partner_center: details.notes",
        "partner_center: details..notes",
        "details..notes",
        "fields.notes.partner_center",
        "not a Partner Center path",
    ),
    (
        "bad CRM path",
        "crm: Description",
        "crm: Opportunity.Owner.Name",
        "Opportunity.Owner.Name",
        "fields.notes.crm",
        "not a CRM field",
    ),
    (
        "max_length on a non-text field",
        "    transform: decimal\n",
        "    transform: decimal\n    max_length: 10\n",
        "max_length: 10",
        "fields.deal_value.max_length",
        "applies only to transform 'text'",
    ),
    (
        "negative max_length",
        "max_length: 120",
        "max_length: -1",
        "max_length: -1",
        "fields.name.max_length",
        "greater than 0",
    ),
    (
        "writing a read-only Partner Center path",
        "    crm: Microsoft_CRM_Identifier__c\n    transform: text\n    direction: to_crm",
        "    crm: Microsoft_CRM_Identifier__c\n    transform: text\n    direction: both",
        "direction: both",
        "fields.msx_id.direction",
        "'trackingInfo' is read-only",
    ),
    (
        "two fields writing one CRM field",
        "crm: Description",
        "crm: Amount  # again",
        "# again",
        "fields.notes.crm",
        "'Amount' is already written by 'deal_value'",
    ),
    (
        "unsupported related object",
        "crm: Account.BillingCity",
        "crm: Owner.City",
        "Owner.City",
        "fields.customer_city.crm",
        "related object 'Owner' unsupported",
    ),
    (
        "members on an opportunity field",
        "crm: Contacts",
        "crm: Contacts__c",
        "Contacts__c",
        "fields.customer_contacts.crm",
        "transform 'members' syncs",
    ),
    (
        "link template without an id",
        'link_url_template: "https://partner.microsoft.com/dashboard/v2/referrals/{id}"',
        'link_url_template: "http://example.com/referral"',
        "link_url_template",
        "partner_center.link_url_template",
        "https:// URL containing '{id}'",
    ),
    (
        "unknown incoming kind",
        "incoming_kinds: [co_sell]",
        "incoming_kinds: [co_sell, leads]",
        "incoming_kinds",
        "partner_center.incoming_kinds.1",
        "unknown 1 'leads'",
    ),
    (
        "stages that cannot be told apart",
        "won: Closed Won ",
        "won: Closed Lost ",
        "stages:",
        "stages",
        "must be different stages",
    ),
    (
        "stage transform on another path",
        "partner_center: status\n",
        "partner_center: substatus\n",
        "partner_center: substatus",
        "fields.stage.partner_center",
        "transform 'stage' reads 'status'",
    ),
    (
        "value map on a non-text field",
        "    transform: list\n",
        "    transform: list\n    values: {A: B}\n",
        "values: {A: B}",
        "fields.solutions.values",
        "value maps apply only to transform 'text'",
    ),
    (
        "unknown version",
        "version: 1",
        "version: 2",
        "version: 2",
        "version",
        "unknown version 2",
    ),
]


@pytest.mark.parametrize(
    ("old", "new", "needle", "key", "fragment"),
    [m[1:] for m in MISTAKES],
    ids=[m[0] for m in MISTAKES],
)
def test_mistakes_name_the_line_and_key(
    old: str, new: str, needle: str, key: str, fragment: str
) -> None:
    text = edit(old, new)
    with pytest.raises(ConfigError) as caught:
        parse_mapping(text, "mapping.yaml")
    expected_prefix = f"mapping.yaml:{line_of(text, needle)} {key}: "
    messages = str(caught.value).splitlines()
    assert any(m.startswith(expected_prefix) and fragment in m for m in messages), messages


def test_every_mistake_is_reported_not_just_the_first() -> None:
    text = edit("transform: decimal", "transform: decimel")
    text = edit("owner: partner_center", "owner: nobody", text)
    with pytest.raises(MappingError) as caught:
        parse_mapping(text)
    assert [p.key for p in caught.value.problems] == [
        "fields.deal_value.transform",
        "fields.stage.owner",
    ]


def test_yaml_syntax_errors_name_the_line() -> None:
    text = edit("    crm: Amount\n", "    crm: [Amount\n")
    with pytest.raises(MappingError) as caught:
        parse_mapping(text, "m.yaml")
    assert str(caught.value).startswith("m.yaml:")
    assert "invalid YAML" in str(caught.value)
    assert caught.value.problems[0].line is not None
    assert caught.value.problems[0].line >= line_of(text, "crm: [Amount")


def test_a_mapping_without_a_referral_id_field_is_refused() -> None:
    text = edit(
        "  referral_id:\n    partner_center: id\n", "  referral_id:\n    partner_center: name\n"
    )
    with pytest.raises(MappingError, match="no field maps Partner Center 'id'"):
        parse_mapping(text)


def test_a_document_that_is_not_a_mapping_is_refused() -> None:
    with pytest.raises(MappingError, match=r"mapping\.yaml:1: a mapping file is a YAML mapping"):
        parse_mapping("- a\n- b\n")


def test_a_missing_file_is_a_config_error(tmp_path: Path) -> None:
    with pytest.raises(ConfigError, match=r"absent\.yaml: cannot read"):
        load_mapping(tmp_path / "absent.yaml")


def test_field_names_must_be_snake_case() -> None:
    text = edit("  name:\n    partner_center: name", "  DealName:\n    partner_center: name")
    with pytest.raises(MappingError) as caught:
        parse_mapping(text, "m.yaml")
    assert str(caught.value) == (
        f"m.yaml:{line_of(text, 'DealName:')} fields.DealName: field names are lower_snake_case"
    )
