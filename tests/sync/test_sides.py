"""The two sides and the audit summary: normalisation, fitting the mapping, related rows."""

from __future__ import annotations

from datetime import UTC, datetime

import pytest
from engine_world import World

from cosell.store.records import AuditEntry
from cosell.sync.core import audit_trail
from cosell.sync.core.mapping import default_mapping
from cosell.sync.core.names import CrmNames
from cosell.sync.core.records import CrmWrite
from cosell.sync.sides.partner_center import pc_record, split_patchable
from cosell.sync.sides.salesforce.schema import fit
from cosell.sync.sides.salesforce.side import CrmRecord

NAMES = CrmNames(
    sync_flag_field="Sync_with_Partner_Center__c",
    referral_id_field="Referral_Identifier__c",
    status_field="Co_sell_Sync_Status__c",
    error_field=None,
    audit_field="Audit__c",
    products_field="Products__c",
    solution_object="Microsoft_Solution__c",
    solution_opportunity_field="Opportunity__c",
    solution_id_field="Solution_Id__c",
)
MOMENT = datetime(2026, 3, 2, 9, 30, tzinfo=UTC)


def test_unknown_help_code_reads_as_no_help_and_the_raw_referral_is_kept() -> None:
    raw = {"id": "r1", "inviteContext": {"assistanceRequestCode": "Unknown"}, "eTag": '"e1"'}
    record = pc_record(raw)
    assert record.wire["inviteContext"]["assistanceRequestCode"] is None
    assert record.raw["inviteContext"]["assistanceRequestCode"] == "Unknown"
    assert (record.id, record.etag) == ("r1", '"e1"')


def test_microsofts_own_referrals_are_recognised() -> None:
    assert pc_record({"id": "r", "organizationId": "msft"}).is_microsofts
    assert not pc_record({"id": "r", "organizationId": "partner"}).is_microsofts


@pytest.mark.parametrize(
    ("path", "patchable"),
    [
        ("/details/dealValue", True),
        ("/name", True),
        ("/details/requirements/solutions", True),
        ("/customerProfile/name", False),
        ("/inviteContext/assistanceRequestCode", True),
        ("/customerProfile/address/country", False),
    ],
)
def test_only_paths_partner_center_accepts_are_patched(path: str, patchable: bool) -> None:
    kept, refused = split_patchable([{"op": "replace", "path": path, "value": 1}])
    assert (len(kept) == 1) is patchable
    assert (refused == [path]) is not patchable


def test_solutions_are_the_rows_plus_the_products_field() -> None:
    record = CrmRecord(
        {"Id": "006", "Products__c": "SOL-2; SOL-3"},
        solutions=[{"Id": "a0X", "Solution_Id__c": "SOL-1"}],
    )
    ids = [row["Solution_Id__c"] for row in record.related(NAMES).solutions or []]
    assert [i.strip() for i in ids] == ["SOL-1", "SOL-2", "SOL-3"]


def test_mapped_fields_the_org_lacks_are_left_out_and_named() -> None:
    opportunity = frozenset({"Name", "Amount", "CloseDate", "StageName", "Referral_Identifier__c"})
    schema = fit(default_mapping(), NAMES, opportunity, frozenset({"Name"}), True, has_team=False)
    assert "deal_value" in schema.mapping.fields
    assert "solutions" in schema.mapping.fields  # the Microsoft Solution rows carry them
    assert "customer_name" in schema.mapping.fields
    assert "customer_city" not in schema.mapping.fields
    assert "partner_team (OpportunityTeam)" in schema.left_out  # no team selling in this org
    assert "notes (Description)" in schema.left_out
    assert "Description" not in schema.read_fields


def test_a_write_needs_its_guard_only_where_an_edit_since_the_read_could_be_overwritten() -> None:
    visible = "Microsoft_Referral_Visibility__c"
    opportunity = frozenset(
        {"Name", "Amount", "Referral_Identifier__c", "Referral_Link__c", visible, "Audit__c"}
    )
    opportunity |= {"Co_sell_Sync_Status__c", "Sync_with_Partner_Center__c"}
    checkboxes = frozenset({visible, "Sync_with_Partner_Center__c"})
    schema = fit(default_mapping(), NAMES, opportunity, frozenset(), True, checkboxes=checkboxes)
    read = {"Amount": 10.0, visible: False, "Referral_Link__c": None, "Audit__c": "old"}
    # cosell's own fields, and copies of Partner Center's values (to_crm only)
    copied = {"Referral_Identifier__c": "r-1", "Referral_Link__c": "https://example/r-1"}
    assert not schema.needs_guard({"Audit__c": "new", **copied}, read)
    # a checkbox turned to its other value: the only edit it can have had is to that value
    assert not schema.needs_guard({visible: True, **copied}, read)
    # a two-way field, whatever comes with it
    assert schema.needs_guard({"Amount": 20.0, "Audit__c": "new"}, read)
    assert schema.needs_guard({"Name": "Renamed", visible: True}, read)
    # a checkbox the read did not hold, or a value that is not true or false, keeps its guard
    assert schema.needs_guard({visible: True}, {})
    assert schema.needs_guard({visible: None}, read)
    # only describe's checkboxes count: a mapped field the org does not say is one is guarded
    plain = fit(default_mapping(), NAMES, opportunity, frozenset(), True)
    assert plain.needs_guard({visible: True}, read)


def entry(n: int, **kw: object) -> AuditEntry:
    values: dict[str, object] = {
        "direction": "to_crm",
        "outcome": "synced",
        "field": "deal_value",
        "old": f"{n}.00",
        "new": f"{n + 1}.00",
        "at": MOMENT,
    }
    values.update(kw)
    return AuditEntry(**values)  # type: ignore[arg-type]


def test_summary_is_newest_first() -> None:
    first = audit_trail.summary(None, [entry(1)], MOMENT)
    second = audit_trail.summary(first, [entry(2)], MOMENT)
    lines = second.splitlines()
    assert lines[0].endswith("deal_value: 2.00 → 3.00")
    assert lines[1].endswith("deal_value: 1.00 → 2.00")
    assert "Partner Center → CRM" in lines[0]


def test_summary_stays_under_the_field_limit_dropping_the_oldest_lines() -> None:
    text = ""
    for n in range(2000):
        text = audit_trail.summary(text, [entry(n, message="x" * 40)], MOMENT)
    assert len(text) <= audit_trail.AUDIT_LIMIT
    assert "1999.00 → 2000.00" in text.splitlines()[0]
    assert "deal_value: 0.00 → 1.00" not in text


def test_summary_never_shows_secrets() -> None:
    leaked = entry(1, message='retry failed: {"access_token": "eyJhbGciOi.secret.value"}')
    text = audit_trail.summary(None, [leaked], MOMENT)
    assert "eyJhbGciOi" not in text
    assert "secret.value" not in text


def test_failed_status_is_short_and_marked() -> None:
    status = audit_trail.failed_status("Solution ID is required " * 40)
    assert status.startswith(audit_trail.FAIL_MARK)
    assert len(status) <= audit_trail.STATUS_LIMIT


# --- the CRM side against the emulated org -------------------------------------------------------


def test_related_rows_are_reconciled_to_the_desired_sets(world: World) -> None:
    opp_id = world.opportunity(contacts=2, solutions=("SOL-1", "SOL-2"))
    crm = world.engine.crm
    record = crm.read(opp_id)
    assert record is not None
    assert len(record.contacts) == 2
    desired_contacts = [
        {"FirstName": "Jo", "LastName": "Buyer0", "Email": "buyer0@northwind.example"},
        {"FirstName": "Ana", "LastName": "Lopez", "Email": "ana@northwind.example"},
    ]
    write = CrmWrite(contacts=desired_contacts, solutions=["SOL-2", "SOL-3"])
    assert crm.update(record, write, {})

    after = crm.read(opp_id)
    assert after is not None
    assert sorted(c["Email"] for c in after.contacts) == [
        "ana@northwind.example",
        "buyer0@northwind.example",
    ]
    assert sorted(r["Solution_Id__c"] for r in after.solutions or []) == ["SOL-2", "SOL-3"]
    before = world.writes()
    assert not crm.update(after, write, {})  # compare before write: nothing left to do
    assert world.writes() == before


def test_reading_a_missing_opportunity_answers_none(world: World) -> None:
    opp_id = world.opportunity()
    world.sf_client.delete("Opportunity", opp_id)
    assert world.engine.crm.read(opp_id) is None
