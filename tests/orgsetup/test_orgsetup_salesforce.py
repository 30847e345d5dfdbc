"""OrgSetup against a small in-test org (httpx.MockTransport): diff, create, verify, idempotence."""

from __future__ import annotations

import httpx
import pytest
from org_fakes import USER_ID, TinyOrg

from cosell.clients.salesforce import SalesforceClient
from cosell.clients.soql import soql_literal
from cosell.orgsetup.salesforce import OrgSetup
from cosell.orgsetup.spec import connector_spec, connector_spec_for
from cosell.sync.core.mapping import default_mapping_text, parse_mapping

BASE = "https://org.example.my.salesforce.com"


def setup_for(org: TinyOrg, assignee: str | None = USER_ID) -> OrgSetup:
    http = httpx.Client(transport=httpx.MockTransport(org), base_url=BASE)
    return OrgSetup(SalesforceClient(http), connector_spec(), assignee_id=assignee)


def test_empty_org_gets_everything_then_second_run_changes_nothing() -> None:
    org = TinyOrg()
    first = setup_for(org).apply()
    assert first.clean
    created = {(f.kind, f.status) for f in first.findings}
    assert created == {
        ("object", "created"),
        ("field", "created"),
        ("permission set", "created"),
        ("object access", "granted"),
        ("access", "granted"),
        ("assignment", "created"),
        ("standard field", "ok"),
        ("stage", "ok"),
        ("stage", "created"),
    }
    assert len(first.with_status("created")) == 1 + 14 + 8 + 1 + 1
    assert len(first.with_status("granted")) == 1 + 14
    assert org.stage_names[:4] == ["Prospecting", "Qualification", "Closed Won", "Closed Lost"]
    assert {"On Hold", "Declined", "Needs Analysis"} <= set(org.stage_names)
    pset_id = org.records["PermissionSet"][0]["Id"]
    assert org.records["PermissionSet"][0]["Name"] == "cosell_Integration"
    assert {p["ParentId"] for p in org.records["FieldPermissions"]} == {pset_id}
    assert all(p["PermissionsEdit"] for p in org.records["FieldPermissions"])
    [solutions] = org.records["ObjectPermissions"]
    assert solutions == {
        "Id": solutions["Id"],
        "ParentId": pset_id,
        "SobjectType": "Microsoft_Solution__c",
        "PermissionsRead": True,
        "PermissionsCreate": True,
        "PermissionsEdit": True,
        "PermissionsDelete": True,
    }
    assert org.records["PermissionSetAssignment"] == [
        {
            "Id": org.records["PermissionSetAssignment"][0]["Id"],
            "PermissionSetId": pset_id,
            "AssigneeId": USER_ID,
        }
    ]
    writes_before = len(org.writes)
    second = setup_for(org).apply()
    assert second.unchanged
    assert len(org.writes) == writes_before


def test_object_is_created_before_its_fields() -> None:
    org = TinyOrg()
    setup_for(org).apply()
    tooling = [path for method, path in org.writes if path.startswith("tooling/")]
    assert tooling[0] == "tooling/sobjects/CustomObject"
    assert tooling[1:15] == ["tooling/sobjects/CustomField"] * 14
    assert tooling[15:] == ["tooling/sobjects/StandardValueSet/0Ch000000000001AAA"]


def test_inspect_changes_nothing_and_lists_what_is_missing() -> None:
    org = TinyOrg()
    report = setup_for(org).inspect()
    assert org.writes == []
    assert not report.clean
    missing = report.with_status("missing")
    assert len([f for f in missing if f.kind == "field"]) == 14
    assert [f.name for f in missing if f.kind == "object"] == ["Microsoft_Solution__c"]


def test_wrong_type_is_reported_and_never_changed() -> None:
    org = TinyOrg()
    org.add_field("Opportunity", "Products__c", "boolean")
    report = setup_for(org).apply()
    differs = report.with_status("differs")
    assert [f.name for f in differs] == ["Opportunity.Products__c"]
    assert "is boolean, expected string" in differs[0].detail
    assert not report.clean
    assert org.objects["Opportunity"]["Products__c"]["type"] == "boolean"
    field_creates = [f for f in report.with_status("created") if f.kind == "field"]
    assert "Opportunity.Products__c" not in {f.name for f in field_creates}
    assert len(field_creates) == 13


def test_read_only_permission_is_upgraded_in_place() -> None:
    org = TinyOrg()
    setup_for(org).apply()
    perm = next(p for p in org.records["FieldPermissions"] if p["Field"] == "Opportunity.Audit__c")
    perm["PermissionsEdit"] = False
    count = len(org.records["FieldPermissions"])
    report = setup_for(org).apply()
    assert [f.name for f in report.with_status("granted")] == ["Opportunity.Audit__c"]
    assert perm["PermissionsEdit"] is True
    assert len(org.records["FieldPermissions"]) == count


def test_partial_object_access_is_raised_in_place() -> None:
    org = TinyOrg()
    setup_for(org).apply()
    [perm] = org.records["ObjectPermissions"]
    perm.update(PermissionsDelete=False, PermissionsEdit=False)
    check = setup_for(org).inspect()
    [finding] = [f for f in check.findings if f.kind == "object access"]
    assert (finding.status, finding.expected) == ("missing", "read + create + edit + delete")
    report = setup_for(org).apply()
    assert [(f.kind, f.name) for f in report.with_status("granted")] == [
        ("object access", "Microsoft_Solution__c")
    ]
    assert perm["PermissionsDelete"] is True
    assert perm["PermissionsEdit"] is True
    assert len(org.records["ObjectPermissions"]) == 1


def test_a_field_cosell_only_reads_gets_read_access_only() -> None:
    text = default_mapping_text() + (
        "  partner_note:\n"
        "    partner_center: details.requirements.note\n"
        "    crm: Partner_Note__c\n"
        "    transform: text\n"
        "    direction: to_partner_center\n"
    )
    spec = connector_spec_for(parse_mapping(text))
    org = TinyOrg()
    http = httpx.Client(transport=httpx.MockTransport(org), base_url=BASE)
    setup = OrgSetup(SalesforceClient(http), spec, assignee_id=USER_ID)
    assert setup.apply().clean
    grants = {p["Field"]: p for p in org.records["FieldPermissions"]}
    assert grants["Opportunity.Partner_Note__c"]["PermissionsRead"] is True
    assert grants["Opportunity.Partner_Note__c"]["PermissionsEdit"] is False
    assert grants["Opportunity.Audit__c"]["PermissionsEdit"] is True
    assert OrgSetup(SalesforceClient(http), spec, assignee_id=USER_ID).inspect().unchanged


def test_without_a_known_user_no_assignment_is_checked() -> None:
    report = setup_for(TinyOrg(), assignee=None).apply()
    assert not [f for f in report.findings if f.kind == "assignment"]


@pytest.mark.parametrize(
    ("raw", "literal"), [("a", "'a'"), ("it's", "'it\\'s'"), ("a\\b", "'a\\\\b'")]
)
def test_soql_literal_escapes(raw: str, literal: str) -> None:
    assert soql_literal(raw) == literal
