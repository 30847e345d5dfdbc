from typing import Any

import jsonpatch
import pytest
from sync_samples import MAPPING, crm_record, opportunity, pc_record, referral, related

from cosell.sync.core import paths
from cosell.sync.core.records import CreateContext, CrmRelated, Value
from cosell.sync.core.translate import (
    from_crm,
    from_partner_center,
    referral_kind,
    to_crm_create,
    to_crm_fields,
    to_partner_center_create,
    to_partner_center_ops,
)

LINK = "https://partner.microsoft.com/dashboard/v2/referrals/5f1c2d3e-0000-4000-8000-00000000abcd"


def test_a_referral_reads_as_canonical_values() -> None:
    assert pc_record() == {
        "name": "Fabrikam data platform",
        "deal_value": "48000.50",
        "currency": "GBP",
        "close_date": "2027-03-31",
        "notes": "Migrate the warehouse",
        "stage": "New/Received",
        "status_reason": None,
        "help_code": "CustomerTechnicalArchitecture",
        "solutions": ["SOL-100-A", "SOL-200-B"],
        "visibility": True,
        "customer_name": "Fabrikam Ltd",
        "customer_street": "1 Harbour Rd",
        "customer_city": "Leeds",
        "customer_state": None,
        "customer_postal_code": None,
        "customer_country": "GB",
        "customer_contacts": [
            {"first_name": "Rui", "last_name": "Costa", "email": "rui@fabrikam.example"}
        ],
        "partner_team": [
            {"first_name": "Ines", "last_name": "Moreau", "email": "ines@partner.example"}
        ],
        "referral_id": "5f1c2d3e-0000-4000-8000-00000000abcd",
        "referral_link": LINK,
        "external_reference_id": None,
        "msx_id": None,
    }


def test_an_opportunity_reads_as_canonical_values() -> None:
    record = crm_record()
    assert record["deal_value"] == "125000.00"
    assert record["stage"] == "Active/Accepted"
    assert record["help_code"] == "ProofOfConceptOrDemo"
    assert record["customer_country"] == "DE"
    assert record["customer_name"] == "Northwind GmbH"
    assert record["solutions"] == ["SOL-300-C"]
    assert record["external_reference_id"] == "0065g00000AbCdEAAZ"
    assert record["customer_contacts"] == [
        {"first_name": "Lena", "last_name": "Vogel", "email": "lena@northwind.example"}
    ]
    assert record["visibility"] is False


def test_solutions_come_from_the_related_list_else_the_products_field() -> None:
    rows = related(solutions=[{"Solution_Id__c": "SOL-9"}, {"Solution_Id__c": "SOL-1"}])
    assert from_crm(opportunity(), rows, MAPPING)["solutions"] == ["SOL-1", "SOL-9"]
    unfetched = CrmRelated(account={})
    assert from_crm(opportunity(Products__c="B;A"), unfetched, MAPPING)["solutions"] == ["A", "B"]
    assert from_crm(opportunity(), unfetched, MAPPING)["customer_contacts"] is None


def apply(ops: list[dict[str, Any]], document: dict[str, Any]) -> dict[str, Any]:
    result: dict[str, Any] = jsonpatch.apply_patch(document, ops)
    return result


CHANGES: dict[str, Value] = {
    "deal_value": "50000.00",
    "close_date": "2027-04-30",
    "solutions": ["SOL-200-B", "SOL-300-C"],
    "stage": "Active/Accepted",
    "external_reference_id": "006Q",
    "help_code": "QuotesOrLicensing",
}


def test_patch_ops_write_the_changes_and_nothing_else() -> None:
    current = referral()
    ops = to_partner_center_ops(CHANGES, current, MAPPING)
    assert {op["op"] for op in ops} <= {"add", "replace"}
    assert ops[-2:] == [
        {"op": "replace", "path": "/status", "value": "Active"},
        {"op": "replace", "path": "/substatus", "value": "Accepted"},
    ]
    after = from_partner_center(apply(ops, current), MAPPING)
    before = from_partner_center(current, MAPPING)
    assert {k: v for k, v in after.items() if before[k] != v} == CHANGES


def test_customer_fields_are_not_patched_after_the_create() -> None:
    # Partner Center lets partners patch only the connector's paths: the customer's name and
    # address travel with the create and afterwards only from Partner Center to the CRM.
    changes: dict[str, Value] = {"customer_country": "IE", "customer_postal_code": "D02 X285"}
    assert to_partner_center_ops(changes, referral(), MAPPING) == []


def test_patch_ops_add_missing_parents() -> None:
    current = referral()
    current["details"].pop("requirements", None)
    ops = to_partner_center_ops({"solutions": ["SOL-1"]}, current, MAPPING)
    assert ops == [
        {
            "op": "add",
            "path": "/details/requirements",
            "value": {"solutions": [{"id": "SOL-1", "type": "Name"}]},
        }
    ]


def test_patch_ops_keep_solution_attributes() -> None:
    current = referral(customerProfile={"name": "Fabrikam Ltd"})
    ops = to_partner_center_ops(CHANGES, current, MAPPING)
    by_path = {op["path"]: op for op in ops}
    assert by_path["/details/requirements/solutions"]["value"] == [
        {"id": "SOL-200-B", "name": "Beta", "publisherName": "Us"},
        {"id": "SOL-300-C", "type": "Name"},
    ]
    assert by_path["/details/dealValue"] == {
        "op": "replace",
        "path": "/details/dealValue",
        "value": 50000.0,
    }
    assert by_path["/details/closingDateTime"]["value"] == "2027-04-30T00:00:00Z"


@pytest.mark.parametrize("name", ["referral_id", "referral_link", "msx_id"])
def test_fields_that_only_flow_to_the_crm_make_no_patch(name: str) -> None:
    assert to_partner_center_ops({name: "x"}, referral(), MAPPING) == []


def test_a_co_sell_create_body() -> None:
    body = to_partner_center_create(crm_record(), CreateContext("0065g00000AbCdEAAZ"), MAPPING)
    assert body["externalReferenceId"] == "0065g00000AbCdEAAZ"
    assert body["type"] == "Shared"
    assert body["consent"] == {"consentToShareReferralWithMicrosoftSellers": True}
    assert body["inviteContext"] == {"assistanceRequestCode": "ProofOfConceptOrDemo"}
    assert (body["status"], body["substatus"]) == ("New", "Pending")
    assert body["details"]["dealValue"] == 125000.0
    assert body["details"]["requirements"]["solutions"] == [{"id": "SOL-300-C", "type": "Name"}]
    assert body["customerProfile"]["address"] == {"city": "Berlin", "country": "DE"}
    assert body["customerProfile"]["team"][0]["email"] == "lena@northwind.example"
    assert body["team"] == [
        {"firstName": "Sam", "lastName": "Okafor", "email": "sam@partner.example"}
    ]
    assert not {"id", "trackingInfo", "direction", "eTag"} & set(body)


def test_a_private_create_body_uses_defaults() -> None:
    record = {**crm_record(), "help_code": None, "currency": None}
    body = to_partner_center_create(record, CreateContext("006P"), MAPPING)
    assert body["type"] == "Independent"
    assert body["consent"] == {"consentToShareReferralWithMicrosoftSellers": False}
    assert "inviteContext" not in body
    assert body["details"]["currency"] == "USD"


def test_a_create_body_reads_back_as_the_record() -> None:
    record = crm_record()
    body = to_partner_center_create(record, CreateContext("0065g00000AbCdEAAZ"), MAPPING)
    echoed = from_partner_center(body, MAPPING)
    differing = {k for k in record if echoed[k] != record[k]}
    # Partner Center answers Active/Accepted; a help code shares the referral with Microsoft.
    assert differing == {"stage", "visibility"}


def test_crm_writes_split_opportunity_account_and_related_intents() -> None:
    changes: dict[str, Value] = {
        "help_code": "GeneralOrOther",
        "customer_city": "Cork",
        "customer_contacts": [{"first_name": "Ann", "email": "ann@x.example"}],
        "solutions": ["SOL-1", "SOL-2"],
        "stage": "Closed/Expired",
        "external_reference_id": "006Z",
    }
    write = to_crm_fields(changes, MAPPING)
    assert write.opportunity == {
        "How_can_Microsoft_help__c": "General or other",
        "Products__c": "SOL-1;SOL-2",
        "StageName": "Closed Lost",
    }
    assert write.account == {"BillingCity": "Cork"}
    assert write.contacts == [{"FirstName": "Ann", "Email": "ann@x.example"}]
    assert write.solutions == ["SOL-1", "SOL-2"]
    assert write.team is None
    assert not write.is_empty()
    assert to_crm_fields({}, MAPPING).is_empty()


def test_an_incoming_referral_creates_an_on_hold_opportunity() -> None:
    write = to_crm_create(pc_record(), MAPPING)
    assert write.opportunity["StageName"] == "On Hold"
    assert write.opportunity["Sync_with_Partner_Center__c"] is True
    assert write.opportunity["Referral_Identifier__c"] == "5f1c2d3e-0000-4000-8000-00000000abcd"
    assert write.opportunity["Referral_Link__c"] == LINK
    assert write.opportunity["How_can_Microsoft_help__c"] == "Customer technical architecture"
    assert write.opportunity["CloseDate"] == "2027-03-31"
    assert "Id" not in write.opportunity
    assert write.account == {
        "Name": "Fabrikam Ltd",
        "BillingStreet": "1 Harbour Rd",
        "BillingCity": "Leeds",
        "BillingCountry": "GB",
    }
    assert write.solutions == ["SOL-100-A", "SOL-200-B"]


def test_a_created_opportunity_reads_back_as_the_referral() -> None:
    pc = pc_record()
    write = to_crm_create(pc, MAPPING)
    rows = [{"Solution_Id__c": s} for s in write.solutions or []]
    related_rows = CrmRelated(write.account, write.contacts, write.team, rows)
    crm = from_crm({**write.opportunity, "Id": "006N"}, related_rows, MAPPING)
    assert {k for k in pc if crm[k] != pc[k]} == {"stage", "external_reference_id"}
    assert crm["stage"] == "New/Pending"


@pytest.mark.parametrize(
    ("overrides", "kind"),
    [
        ({}, "co_sell"),
        ({"qualification": "Direct", "type": "Independent"}, "lead"),
        ({"qualification": "MarketingQualified"}, "lead"),
        ({"type": "Independent", "qualification": "SalesQualified"}, "lead"),
        (
            {"type": "Independent", "inviteContext": {"invitedBy": {"organizationId": "org-7"}}},
            "co_sell",
        ),
    ],
)
def test_referral_kind(overrides: dict[str, Any], kind: str) -> None:
    assert referral_kind(referral(**overrides)) == kind


def test_asking_for_help_on_a_private_referral_shares_it() -> None:
    private = referral(consent={"consentToShareReferralWithMicrosoftSellers": False})
    del private["inviteContext"]
    ops = to_partner_center_ops({"help_code": "QuotesOrLicensing"}, private, MAPPING)
    assert [(op["op"], op["path"], op["value"]) for op in ops] == [
        ("add", "/inviteContext", {"assistanceRequestCode": "QuotesOrLicensing"}),
        ("replace", "/consent/consentToShareReferralWithMicrosoftSellers", True),
    ]
    already_shared = to_partner_center_ops({"help_code": "QuotesOrLicensing"}, referral(), MAPPING)
    assert len(already_shared) == 1


def test_an_empty_stage_makes_no_status_ops() -> None:
    assert to_partner_center_ops({"stage": None}, referral(), MAPPING) == []


def test_a_cleared_value_is_written_as_null() -> None:
    ops = to_partner_center_ops({"notes": None}, referral(), MAPPING)
    assert ops == [{"op": "replace", "path": "/details/notes", "value": None}]


def test_a_copied_referral_equals_it_and_shares_nothing_that_can_change() -> None:
    original = referral()
    copy_ = paths.copied(original)
    assert copy_ == original
    copy_["customerProfile"]["team"].append({"email": "x@example.com"})
    copy_["details"]["dealValue"] = 1
    assert copy_ != original
    assert original == referral()
