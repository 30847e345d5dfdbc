"""The declarative org spec and the field comparison rules."""

from __future__ import annotations

from typing import Any

import pytest

from cosell.orgsetup.salesforce import field_differences
from cosell.orgsetup.spec import HELP_VALUES, FieldSpec, OrgNames, connector_spec


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
