"""The mapping's ``crm`` section (the fields cosell owns) and the customer fields' direction."""

from __future__ import annotations

from sync_samples import crm_record, referral

from cosell.sync.core.mapping import default_mapping, default_mapping_text, parse_mapping
from cosell.sync.core.plan import PlanFacts, plan
from cosell.sync.core.records import CreateContext, Value
from cosell.sync.core.translate import (
    to_crm_create,
    to_partner_center_create,
    to_partner_center_ops,
)

MAPPING = default_mapping()
CUSTOMER = (
    "customer_name",
    "customer_street",
    "customer_city",
    "customer_state",
    "customer_postal_code",
    "customer_country",
)
OLD_CRM_SECTION = """crm:
  object: Opportunity
  sync_flag_field: Sync_with_Partner_Center__c
  status_field: Partner_Center_Sync_Status__c
  audit_field: Audit__c
  solution_id_field: Solution_Id__c
"""


def old_style_text() -> str:
    """The shipped mapping with the ``crm`` section an earlier cosell wrote."""
    text = default_mapping_text()
    start = text.index("crm:\n")
    end = text.index("\npartner_center:")
    return text[:start] + OLD_CRM_SECTION + text[end:]


def test_the_shipped_mapping_names_every_engine_owned_field() -> None:
    crm = MAPPING.crm
    assert crm.status_field == "Co_sell_Sync_Status__c"
    assert crm.error_field == "Co_sell_Sync_Error__c"
    assert crm.solution_object == "Microsoft_Solution__c"
    assert crm.solution_opportunity_field == "Opportunity__c"
    assert crm.solution_id_field == "Solution_Id__c"
    assert crm.solution_name_field == "Solution_Name__c"


def test_an_older_mapping_without_the_new_keys_loads_with_defaults() -> None:
    mapping = parse_mapping(old_style_text(), "old.yaml")
    assert mapping.crm.status_field == "Partner_Center_Sync_Status__c"  # its own value is kept
    assert mapping.crm.error_field == "Co_sell_Sync_Error__c"
    assert mapping.crm.solution_object == "Microsoft_Solution__c"
    assert mapping.crm.solution_name_field == "Solution_Name__c"


def test_customer_fields_make_no_patch_ops_after_create() -> None:
    changes: dict[str, Value] = dict.fromkeys(CUSTOMER[:-1], "x")
    changes["customer_country"] = "IE"
    assert to_partner_center_ops(changes, referral(), MAPPING) == []
    contacts: dict[str, Value] = {"customer_contacts": [{"email": "new@fabrikam.example"}]}
    paths = [op["path"] for op in to_partner_center_ops(contacts, referral(), MAPPING)]
    assert paths == ["/customerProfile/team"]  # contacts stay two-way


def test_a_crm_edit_of_the_customer_is_skipped_and_a_partner_center_one_flows_to_the_crm() -> None:
    base: dict[str, Value] = {"referral_id": "r1", "customer_city": "Leeds"}
    facts = PlanFacts(direction="incoming")
    crm_edit = plan(base, base, {**base, "customer_city": "York"}, MAPPING, facts)
    assert crm_edit.to_partner_center == {}
    assert [(s.field, s.reason) for s in crm_edit.skipped] == [
        ("customer_city", "direction on_create")
    ]
    pc_edit = plan(base, {**base, "customer_city": "Hull"}, base, MAPPING, facts)
    assert pc_edit.to_crm == {"customer_city": "Hull"}


def test_creates_on_both_sides_still_carry_the_customer() -> None:
    body = to_partner_center_create(crm_record(), CreateContext("006P"), MAPPING)
    assert body["customerProfile"]["name"] == "Northwind GmbH"
    assert body["customerProfile"]["address"]["city"] == "Berlin"
    incoming = {"customer_name": "Fabrikam Ltd", "customer_city": "Leeds", "referral_id": "r1"}
    write = to_crm_create(incoming, MAPPING)
    assert write.account == {"Name": "Fabrikam Ltd", "BillingCity": "Leeds"}
