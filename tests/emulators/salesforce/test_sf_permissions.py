"""Permission sets: PermissionSet, ObjectPermissions, FieldPermissions and
PermissionSetAssignment over REST, their save-time checks, and strict access hiding custom
objects and fields from the integration user until an assigned set grants them."""

from collections.abc import Iterator
from typing import Any

import pytest
from sf_api import Api, TestClient, login

from cosell.clock import ManualClock
from cosell.emulators.salesforce import SalesforceEmulatorConfig, create_app

SOLUTION = "Microsoft_Solution__c"
SOLUTION_OBJECT = {
    "FullName": SOLUTION,
    "Metadata": {
        "label": "Microsoft Solution",
        "pluralLabel": "Microsoft Solutions",
        "nameField": {"type": "Text", "label": "Solution Name"},
        "deploymentStatus": "Deployed",
        "sharingModel": "ReadWrite",
    },
}
ALL = {
    "PermissionsRead": True,
    "PermissionsCreate": True,
    "PermissionsEdit": True,
    "PermissionsDelete": True,
}


@pytest.fixture
def strict(clock: ManualClock) -> Iterator[Api]:
    config = SalesforceEmulatorConfig(fls_strict=True)
    with TestClient(create_app(config, clock=clock)) as client:
        yield Api(client, client.app, login(client, config))  # type: ignore[arg-type]


def add_solution_object(api: Api) -> None:
    assert api.post("tooling/sobjects/CustomObject", json=SOLUTION_OBJECT).status_code == 201
    api.add_field(f"{SOLUTION}.Solution_Id__c", type="Text", label="Solution Id", length=100)


def error(response: Any) -> tuple[int, str, str]:
    [body] = response.json()
    return response.status_code, body["errorCode"], body["message"]


def soql(api: Api, text: str) -> Any:
    return api.get("query", params={"q": text})


def test_permission_records_are_created_and_queried(api: Api) -> None:
    pset = api.create("PermissionSet", Name="cosell_Integration", Label="cosell Integration")
    assert pset.startswith("0PS")
    perm = api.create("ObjectPermissions", ParentId=pset, SobjectType="Account", **ALL)
    assert perm.startswith("110")
    rows = soql(
        api,
        "SELECT Id, SobjectType, PermissionsRead, PermissionsViewAllRecords "  # noqa: S608
        f"FROM ObjectPermissions WHERE ParentId = '{pset}'",
    ).json()["records"]
    assert [
        (r["SobjectType"], r["PermissionsRead"], r["PermissionsViewAllRecords"]) for r in rows
    ] == [("Account", True, False)]
    described = api.get("sobjects/ObjectPermissions/describe").json()
    assert {"PermissionsModifyAllRecords", "SobjectType"} <= {
        f["name"] for f in described["fields"]
    }


@pytest.mark.parametrize(
    ("sobject", "fields"),
    [
        ("PermissionSet", {"Label": "No name"}),
        ("ObjectPermissions", {"SobjectType": "Account"}),
        ("FieldPermissions", {"SobjectType": "Account", "Field": "Account.Name"}),
        ("PermissionSetAssignment", {}),
    ],
)
def test_required_fields_are_enforced(api: Api, sobject: str, fields: dict[str, Any]) -> None:
    status, code, _ = error(api.post(f"sobjects/{sobject}", json=fields))
    assert (status, code) == (400, "REQUIRED_FIELD_MISSING")


def test_duplicates_are_refused(api: Api) -> None:
    pset = api.create("PermissionSet", Name="cosell_Integration", Label="cosell Integration")
    same_name = api.post(
        "sobjects/PermissionSet", json={"Name": "COSELL_integration", "Label": "x"}
    )
    assert error(same_name)[:2] == (400, "DUPLICATE_VALUE")

    api.create("ObjectPermissions", ParentId=pset, SobjectType="Account", PermissionsRead=True)
    again = api.post(
        "sobjects/ObjectPermissions",
        json={"ParentId": pset, "SobjectType": "account", "PermissionsRead": True},
    )
    assert error(again)[:2] == (400, "DUPLICATE_VALUE")

    field = {"ParentId": pset, "SobjectType": "Account", "Field": "Account.DunsNumber"}
    api.create("FieldPermissions", **field, PermissionsRead=True)
    assert error(api.post("sobjects/FieldPermissions", json=field))[:2] == (400, "DUPLICATE_VALUE")

    user = api.emulator.org.integration_user_id
    api.create("PermissionSetAssignment", PermissionSetId=pset, AssigneeId=user)
    twice = api.post(
        "sobjects/PermissionSetAssignment", json={"PermissionSetId": pset, "AssigneeId": user}
    )
    status, code, message = error(twice)
    assert (status, code) == (400, "DUPLICATE_VALUE")
    assert "Duplicate PermissionSetAssignment" in message


def test_a_permission_needs_the_ones_it_depends_on(api: Api) -> None:
    pset = api.create("PermissionSet", Name="cosell_Integration", Label="cosell Integration")
    edit_only = api.post(
        "sobjects/FieldPermissions",
        json={
            "ParentId": pset,
            "SobjectType": "Account",
            "Field": "Account.DunsNumber",
            "PermissionsEdit": True,
        },
    )
    status, code, message = error(edit_only)
    assert (status, code) == (400, "FIELD_INTEGRITY_EXCEPTION")
    assert "depends on permission(s): Read" in message
    delete_without_edit = api.post(
        "sobjects/ObjectPermissions",
        json={
            "ParentId": pset,
            "SobjectType": "Account",
            "PermissionsRead": True,
            "PermissionsDelete": True,
        },
    )
    assert "depends on permission(s): Edit" in error(delete_without_edit)[2]


@pytest.mark.parametrize(
    ("sobject", "fields"),
    [
        ("ObjectPermissions", {"SobjectType": "Nothing__c"}),
        ("FieldPermissions", {"SobjectType": "Account", "Field": "Account.Nothing__c"}),
        ("FieldPermissions", {"SobjectType": "Account", "Field": "Opportunity.Name"}),
    ],
)
def test_permissions_name_an_object_and_field_of_the_org(
    api: Api, sobject: str, fields: dict[str, Any]
) -> None:
    pset = api.create("PermissionSet", Name="cosell_Integration", Label="cosell Integration")
    body = {"ParentId": pset, "PermissionsRead": True, **fields}
    status, code, _ = error(api.post(f"sobjects/{sobject}", json=body))
    assert (status, code) == (400, "INVALID_OR_NULL_FOR_RESTRICTED_PICKLIST")


def test_without_strict_access_a_new_object_is_usable_at_once(api: Api) -> None:
    add_solution_object(api)
    assert api.get(f"sobjects/{SOLUTION}/describe").status_code == 200
    api.create(SOLUTION, Name="Azure", Solution_Id__c="SOL-1")


def test_strict_access_hides_a_custom_object_until_an_assigned_set_grants_it(
    strict: Api,
) -> None:
    api = strict
    add_solution_object(api)
    assert error(api.get(f"sobjects/{SOLUTION}/describe"))[:2] == (404, "NOT_FOUND")
    assert error(soql(api, "SELECT Id FROM Microsoft_Solution__c"))[:2] == (400, "INVALID_TYPE")
    global_names = {o["name"] for o in api.get("sobjects").json()["sobjects"]}
    assert SOLUTION not in global_names
    assert "Opportunity" in global_names

    pset = api.create("PermissionSet", Name="cosell_Integration", Label="cosell Integration")
    api.create("ObjectPermissions", ParentId=pset, SobjectType=SOLUTION, PermissionsRead=True)
    assert api.get(f"sobjects/{SOLUTION}/describe").status_code == 404  # not assigned yet
    user = api.emulator.org.integration_user_id
    api.create("PermissionSetAssignment", PermissionSetId=pset, AssigneeId=user)

    described = api.get(f"sobjects/{SOLUTION}/describe").json()
    names = {f["name"] for f in described["fields"]}
    assert "Name" in names
    assert "Solution_Id__c" not in names  # a custom field still needs its own grant
    assert soql(api, "SELECT Id FROM Microsoft_Solution__c").json()["records"] == []
    refused = api.post(f"sobjects/{SOLUTION}", json={"Name": "Azure"})
    assert error(refused)[:2] == (400, "INSUFFICIENT_ACCESS_OR_READONLY")


def test_strict_access_with_every_grant_reads_and_writes_the_object(strict: Api) -> None:
    api = strict
    add_solution_object(api)
    pset = api.create("PermissionSet", Name="cosell_Integration", Label="cosell Integration")
    api.create("ObjectPermissions", ParentId=pset, SobjectType=SOLUTION, **ALL)
    api.create(
        "FieldPermissions",
        ParentId=pset,
        SobjectType=SOLUTION,
        Field=f"{SOLUTION}.Solution_Id__c",
        PermissionsRead=True,
        PermissionsEdit=True,
    )
    user = api.emulator.org.integration_user_id
    api.create("PermissionSetAssignment", PermissionSetId=pset, AssigneeId=user)
    row = api.create(SOLUTION, Name="Azure", Solution_Id__c="SOL-1")
    [found] = soql(api, "SELECT Solution_Id__c FROM Microsoft_Solution__c").json()["records"]
    assert found["Solution_Id__c"] == "SOL-1"
    assert api.delete(f"sobjects/{SOLUTION}/{row}").status_code == 204


def test_strict_access_can_be_switched_on_through_the_control_surface(api: Api) -> None:
    add_solution_object(api)
    assert api.client.get("/_emulator/access").json() == {"fls_strict": False}
    switched = api.client.put("/_emulator/access", json={"fls_strict": True})
    assert switched.json() == {"fls_strict": True}
    assert api.get(f"sobjects/{SOLUTION}/describe").status_code == 404
    assert api.client.put("/_emulator/access", json={"fls_strict": "yes"}).status_code == 400
    api.client.put("/_emulator/access", json={"fls_strict": False})
    assert api.get(f"sobjects/{SOLUTION}/describe").status_code == 200
