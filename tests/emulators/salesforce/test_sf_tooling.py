from typing import Any

from sf_api import Api, TestClient, login

from cosell.clock import ManualClock
from cosell.emulators.salesforce import SalesforceEmulatorConfig, create_app

PICKLIST = {
    "type": "Picklist",
    "label": "How can Microsoft help",
    "valueSet": {
        "restricted": True,
        "valueSetDefinition": {
            "sorted": False,
            "value": [
                {"fullName": "Cosell", "label": "Co-sell", "default": False},
                {"fullName": "Technical", "label": "Technical", "default": False},
            ],
        },
    },
}


def field_names(api: Api, sobject: str) -> list[str]:
    return [f["name"] for f in api.get(f"sobjects/{sobject}/describe").json()["fields"]]


def test_new_field_is_in_describe_queryable_and_writable_at_once(api: Api) -> None:
    existing = api.opportunity()
    assert "How_can_Microsoft_help__c" not in field_names(api, "Opportunity")
    field_id = api.add_field("Opportunity.How_can_Microsoft_help__c", **PICKLIST)
    assert field_id.startswith("00N")
    described = api.get("sobjects/Opportunity/describe").json()
    entry = next(f for f in described["fields"] if f["name"] == "How_can_Microsoft_help__c")
    assert entry["custom"] is True
    assert entry["restrictedPicklist"] is True
    assert [p["value"] for p in entry["picklistValues"]] == ["Cosell", "Technical"]
    assert (
        api.patch(
            f"sobjects/Opportunity/{existing}", json={"How_can_Microsoft_help__c": "Cosell"}
        ).status_code
        == 204
    )
    bad = api.patch(
        f"sobjects/Opportunity/{existing}", json={"How_can_Microsoft_help__c": "cosell"}
    )
    assert bad.json()[0]["errorCode"] == "INVALID_OR_NULL_FOR_RESTRICTED_PICKLIST"
    rows = api.get(
        "query", params={"q": "SELECT How_can_Microsoft_help__c FROM Opportunity"}
    ).json()["records"]
    assert rows[0]["How_can_Microsoft_help__c"] == "Cosell"


def test_checkbox_default_applies_to_existing_records(api: Api) -> None:
    existing = api.opportunity()
    api.add_field(
        "Opportunity.Sync_with_Partner_Center__c",
        type="Checkbox",
        defaultValue="false",
        label="Sync with Partner Center",
    )
    got = api.get(f"sobjects/Opportunity/{existing}").json()
    assert got["Sync_with_Partner_Center__c"] is False


def test_tooling_get_patch_and_query(api: Api) -> None:
    field_id = api.add_field("Opportunity.Products__c", type="Text", label="Products", length=80)
    got = api.get(f"tooling/sobjects/CustomField/{field_id}").json()
    assert got["FullName"] == "Opportunity.Products__c"
    assert got["DeveloperName"] == "Products"
    assert got["Metadata"]["length"] == 80
    assert (
        api.patch(
            f"tooling/sobjects/CustomField/{field_id}", json={"Metadata": {"length": 255}}
        ).status_code
        == 204
    )
    entry = next(
        f
        for f in api.get("sobjects/Opportunity/describe").json()["fields"]
        if f["name"] == "Products__c"
    )
    assert entry["length"] == 255
    soql = "SELECT Id, DeveloperName FROM CustomField WHERE TableEnumOrId = 'Opportunity'"
    rows = api.get("tooling/query", params={"q": soql}).json()["records"]
    assert [(r["Id"], r["DeveloperName"]) for r in rows] == [(field_id, "Products")]
    duplicate = api.post(
        "tooling/sobjects/CustomField",
        json={
            "FullName": "Opportunity.Products__c",
            "Metadata": {"type": "Text", "label": "P", "length": 10},
        },
    )
    assert duplicate.status_code == 400


def test_custom_object_with_lookup_to_opportunity(api: Api) -> None:
    created = api.post(
        "tooling/sobjects/CustomObject",
        json={
            "FullName": "Microsoft_Solution__c",
            "Metadata": {
                "label": "Microsoft Solution",
                "pluralLabel": "Microsoft Solutions",
                "nameField": {"type": "Text", "label": "Solution Name"},
                "deploymentStatus": "Deployed",
                "sharingModel": "ReadWrite",
            },
        },
    )
    assert created.status_code == 201
    api.add_field(
        "Microsoft_Solution__c.Opportunity__c",
        type="Lookup",
        label="Opportunity",
        referenceTo="Opportunity",
        relationshipName="Microsoft_Solutions",
    )
    opp = api.opportunity(Name="Parent deal")
    solution = api.create("Microsoft_Solution__c", Name="Azure", Opportunity__c=opp)
    assert solution.startswith("a0X")
    rows = api.get(
        "query", params={"q": "SELECT Name, Opportunity__r.Name FROM Microsoft_Solution__c"}
    ).json()["records"]
    assert rows[0]["Opportunity__r"]["Name"] == "Parent deal"
    objects = api.get(
        "tooling/query", params={"q": "SELECT Id, DeveloperName FROM CustomObject"}
    ).json()["records"]
    assert [o["DeveloperName"] for o in objects] == ["Microsoft_Solution"]


def test_fls_strict_hides_fields_until_a_permission_set_grants_them(clock: ManualClock) -> None:
    config = SalesforceEmulatorConfig(fls_strict=True)
    with TestClient(create_app(config, clock=clock)) as client:
        api = Api(client, client.app, login(client, config))  # type: ignore[arg-type]
        api.add_field("Opportunity.Referral_Link__c", type="Url", label="Referral link")
        hidden = api.get("query", params={"q": "SELECT Referral_Link__c FROM Opportunity"})
        assert hidden.json()[0]["errorCode"] == "INVALID_FIELD"
        assert "Referral_Link__c" not in field_names(api, "Opportunity")
        pset = api.create("PermissionSet", Name="Cosell_Integration", Label="Cosell")
        api.create(
            "FieldPermissions",
            ParentId=pset,
            SobjectType="Opportunity",
            Field="Opportunity.Referral_Link__c",
            PermissionsRead=True,
            PermissionsEdit=True,
        )
        user = api.emulator.org.integration_user_id
        api.create("PermissionSetAssignment", PermissionSetId=pset, AssigneeId=user)
        assert "Referral_Link__c" in field_names(api, "Opportunity")
        opp = api.opportunity(Referral_Link__c="https://partner.microsoft.com/x")
        assert (
            api.get(f"sobjects/Opportunity/{opp}").json()["Referral_Link__c"].startswith("https://")
        )


STAGE_SET_SOQL = "SELECT Id, Metadata FROM StandardValueSet WHERE MasterLabel = 'OpportunityStage'"


def stage_set(api: Api) -> dict[str, Any]:
    rows = api.get("tooling/query", params={"q": STAGE_SET_SOQL}).json()["records"]
    assert len(rows) == 1
    record: dict[str, Any] = rows[0]
    return record


def stage_picklist(api: Api) -> list[str]:
    described = api.get("sobjects/Opportunity/describe").json()
    stage = next(f for f in described["fields"] if f["name"] == "StageName")
    return [p["value"] for p in stage["picklistValues"]]


def test_opportunity_stage_value_set_lists_the_stages_with_their_flags(api: Api) -> None:
    values = {v["fullName"]: v for v in stage_set(api)["Metadata"]["standardValue"]}
    assert list(values) == stage_picklist(api)
    won = values["Closed Won"]
    assert (won["closed"], won["won"], won["probability"], won["forecastCategory"]) == (
        True,
        True,
        100,
        "Closed",
    )
    assert (values["Prospecting"]["closed"], values["Prospecting"]["won"]) == (False, False)


def test_stages_added_through_the_value_set_are_valid_at_once(api: Api) -> None:
    record = stage_set(api)
    values = record["Metadata"]["standardValue"]
    added = [
        {"fullName": "On Hold", "label": "On Hold", "closed": False, "won": False,
         "probability": 10, "forecastCategory": "Pipeline"},
        {"fullName": "Declined", "label": "Declined", "closed": True, "won": False,
         "probability": 0, "forecastCategory": "Omitted"},
    ]  # fmt: skip
    metadata = {**record["Metadata"], "standardValue": values + added}
    url = f"tooling/sobjects/StandardValueSet/{record['Id']}"
    assert api.patch(url, json={"Metadata": metadata}).status_code == 204
    assert stage_picklist(api)[-2:] == ["On Hold", "Declined"]
    assert [v["fullName"] for v in stage_set(api)["Metadata"]["standardValue"]][-2:] == [
        "On Hold",
        "Declined",
    ]
    for stage, flags in {"On Hold": (False, False, 10), "Declined": (True, False, 0)}.items():
        opp = api.opportunity(StageName=stage)
        got = api.get(f"sobjects/Opportunity/{opp}").json()
        assert (got["IsClosed"], got["IsWon"], got["Probability"]) == flags


def test_value_set_changes_are_checked_before_any_is_made(api: Api) -> None:
    record = stage_set(api)
    url = f"tooling/sobjects/StandardValueSet/{record['Id']}"
    good = {"fullName": "Parked", "closed": False, "won": False}
    bad = {"fullName": "Won Open", "closed": False, "won": True}
    refused = api.patch(url, json={"Metadata": {"standardValue": [good, bad]}})
    assert refused.status_code == 400
    assert refused.json()[0]["errorCode"] == "FIELD_INTEGRITY_EXCEPTION"
    assert "Parked" not in stage_picklist(api)
    assert api.post("tooling/sobjects/StandardValueSet", json={}).status_code == 405
    unknown = api.opportunity()
    bad_stage = api.patch(f"sobjects/Opportunity/{unknown}", json={"StageName": "Parked"})
    assert bad_stage.status_code == 400
