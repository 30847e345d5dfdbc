"""The declarative org spec and the field comparison rules."""

from __future__ import annotations

from typing import Any

import pytest

from cosell.orgsetup.salesforce import field_differences
from cosell.orgsetup.spec import (
    HELP_VALUES,
    FieldSpec,
    OrgNames,
    connector_spec,
    connector_spec_for,
)
from cosell.sync.core.mapping import default_mapping, default_mapping_text, parse_mapping


def by_name(name: str) -> FieldSpec:
    return next(f for f in connector_spec().fields if f.name == name)


def test_default_spec_lists_connector_fields_object_and_permission_set() -> None:
    spec = connector_spec()
    assert [o.name for o in spec.objects] == ["Microsoft_Solution__c"]
    assert {f.full_name for f in spec.fields} == {
        "Opportunity.Sync_with_Partner_Center__c",
        "Opportunity.Referral_Identifier__c",
        "Opportunity.Referral_Link__c",
        "Opportunity.How_can_Microsoft_help__c",
        "Opportunity.Products__c",
        "Opportunity.Audit__c",
        "Opportunity.Co_sell_Sync_Status__c",
        "Opportunity.Co_sell_Sync_Error__c",
        "Opportunity.Loss_Reason__c",
        "Opportunity.Microsoft_Referral_Visibility__c",
        "Opportunity.Microsoft_CRM_Identifier__c",
        "Microsoft_Solution__c.Opportunity__c",
        "Microsoft_Solution__c.Solution_Id__c",
        "Microsoft_Solution__c.Solution_Name__c",
    }
    assert spec.permission_set_label == "cosell Integration"


@pytest.mark.parametrize(
    ("name", "expected"),
    [
        (
            "Sync_with_Partner_Center__c",
            {"label": "Sync with Partner Center", "type": "Checkbox", "defaultValue": "false"},
        ),
        (
            "Referral_Identifier__c",
            {
                "label": "Referral Identifier",
                "type": "Text",
                "length": 100,
                "externalId": True,
                "unique": True,
                "caseSensitive": False,
            },
        ),
        ("Referral_Link__c", {"label": "Referral Link", "type": "Url"}),
        ("Products__c", {"label": "Products", "type": "Text", "length": 255}),
        (
            "Audit__c",
            {"label": "Audit", "type": "LongTextArea", "length": 100_000, "visibleLines": 4},
        ),
        (
            "Opportunity__c",
            {
                "label": "Opportunity",
                "type": "Lookup",
                "referenceTo": "Opportunity",
                "relationshipName": "Microsoft_Solutions",
                "deleteConstraint": "SetNull",
            },
        ),
    ],
)
def test_tooling_metadata(name: str, expected: dict[str, Any]) -> None:
    assert by_name(name).metadata() == expected


def test_help_picklist_is_restricted_with_the_six_connector_values() -> None:
    value_set = by_name("How_can_Microsoft_help__c").metadata()["valueSet"]
    assert value_set["restricted"] is True
    values = value_set["valueSetDefinition"]["value"]
    assert [v["fullName"] for v in values] == list(HELP_VALUES)
    assert len(values) == 6


def test_names_are_configurable() -> None:
    names = OrgNames(referral_id="Partner_Referral__c", solution_object="MS_Solution__c")
    spec = connector_spec(names)
    full_names = {f.full_name for f in spec.fields}
    assert "Opportunity.Partner_Referral__c" in full_names
    assert "MS_Solution__c.Solution_Id__c" in full_names
    assert spec.objects[0].name == "MS_Solution__c"


REF = "Referral_Identifier__c"


def describe(type_: str, **kw: Any) -> dict[str, Any]:
    return {"name": "X__c", "type": type_, "length": kw.pop("length", 0), **kw}


@pytest.mark.parametrize(
    ("name", "current", "problem"),
    [
        (
            "Referral_Identifier__c",
            describe("string", length=100, externalId=True, unique=True),
            None,
        ),
        (
            "Referral_Identifier__c",
            describe("textarea", length=100),
            "is textarea, expected string",
        ),
        (
            "Referral_Identifier__c",
            describe("string", length=50, externalId=True, unique=True),
            "length 50",
        ),
        (
            "Referral_Identifier__c",
            describe("string", length=100, unique=True),
            "not an external id",
        ),
        (REF, describe("string", length=100, externalId=True), "not unique"),
        ("Products__c", describe("string", length=1000), None),
        ("Sync_with_Partner_Center__c", describe("string", length=5), "expected boolean"),
        ("Audit__c", describe("textarea", length=131_072), None),
        (
            "How_can_Microsoft_help__c",
            describe("picklist", picklistValues=[{"value": v} for v in HELP_VALUES[:5]]),
            "picklist lacks General or other",
        ),
        ("Opportunity__c", describe("reference", referenceTo=["Account"]), "does not reference"),
        ("Opportunity__c", describe("reference", referenceTo=["Opportunity"]), None),
    ],
)
def test_field_differences(name: str, current: dict[str, Any], problem: str | None) -> None:
    problems = list(field_differences(by_name(name), current))
    if problem is None:
        assert problems == []
    else:
        assert len(problems) == 1
        assert problem in problems[0]


EXTRA_FIELDS = """
  won_on:
    partner_center: details.wonDate
    crm: Won_On__c
    transform: date
  forecast:
    partner_center: details.forecast
    crm: Forecast_Value__c
    transform: decimal
  long_story:
    partner_center: details.story
    crm: Account.Story__c
    transform: text
    max_length: 4000
  flagged:
    partner_center: details.flagged
    crm: Flagged__c
    transform: bool
"""


def extended_spec() -> dict[str, FieldSpec]:
    mapping = parse_mapping(default_mapping_text() + EXTRA_FIELDS, "extra.yaml")
    return {f.full_name: f for f in connector_spec_for(mapping).fields}


@pytest.mark.parametrize(
    ("full_name", "metadata"),
    [
        ("Opportunity.Won_On__c", {"label": "Won On", "type": "Date"}),
        (
            "Opportunity.Forecast_Value__c",
            {"label": "Forecast Value", "type": "Currency", "precision": 18, "scale": 2},
        ),
        (
            "Account.Story__c",
            {"label": "Story", "type": "LongTextArea", "length": 4000, "visibleLines": 3},
        ),
        (
            "Opportunity.Flagged__c",
            {"label": "Flagged", "type": "Checkbox", "defaultValue": "false"},
        ),
        ("Opportunity.Loss_Reason__c", {"label": "Loss Reason", "type": "Text", "length": 255}),
    ],
)
def test_mapped_fields_are_typed_from_their_transform(
    full_name: str, metadata: dict[str, Any]
) -> None:
    assert extended_spec()[full_name].metadata() == metadata


def test_standard_fields_are_checked_not_created() -> None:
    spec = connector_spec()
    standard = {f.full_name: f for f in spec.standard_fields}
    assert {"Opportunity.Amount", "Opportunity.StageName", "Account.BillingCity"} <= set(standard)
    assert not {f.full_name for f in spec.fields} & set(standard)
    assert standard["Opportunity.CurrencyIsoCode"].optional_because
    assert not standard["Opportunity.Amount"].optional_because


def test_stage_flags_follow_their_role() -> None:
    stages = {s.name: s for s in connector_spec().stages}
    assert len(stages) == 12
    assert (stages["On Hold"].closed, stages["On Hold"].probability) == (False, 10)
    assert (stages["Declined"].closed, stages["Declined"].won) == (True, False)
    assert stages["Closed Won"].value()["forecastCategory"] == "Closed"
    assert (stages["Closed Lost"].closed, stages["Closed Lost"].won) == (True, False)


def test_names_follow_the_mapping_crm_section() -> None:
    text = default_mapping_text().replace("Co_sell_Sync_Error__c", "Sync_Problem__c")
    mapping = parse_mapping(text)
    assert OrgNames.from_mapping(mapping).sync_error == "Sync_Problem__c"
    full_names = {f.full_name for f in connector_spec_for(mapping).fields}
    assert "Opportunity.Sync_Problem__c" in full_names
    assert "Opportunity.Co_sell_Sync_Error__c" not in full_names
    defaults = OrgNames()
    crm = default_mapping().crm
    assert (defaults.sync_status, defaults.sync_error) == (crm.status_field, crm.error_field)
    assert defaults.solution_object == crm.solution_object
