"""A list of people both sides changed is merged person by person (``members`` fields)."""

from __future__ import annotations

import pytest
from sync_samples import MAPPING

from cosell.sync.core.member_merge import RowConflict, listed, merge_members
from cosell.sync.core.pending import creating, finish_create
from cosell.sync.core.plan import ON_HOLD, FieldConflict, PlanFacts, plan
from cosell.sync.core.records import Side, Value

FIELD = "customer_contacts"
ANA: dict[str, Value] = {"first_name": "Ana", "last_name": "Lima", "email": "ana@f.example"}
RUI: dict[str, Value] = {"first_name": "Rui", "last_name": "Costa", "email": "rui@f.example"}
MIA: dict[str, Value] = {"first_name": "Mia", "last_name": "Sousa", "email": "mia@f.example"}


def phone(person: dict[str, Value], number: str) -> dict[str, Value]:
    return {**person, "phone": number}


def merged(base: Value, pc: Value, crm: Value, winner: Side = "crm") -> tuple[Value, list[str]]:
    merge = merge_members(base, pc, crm, base_pc=base, base_crm=base, winner=winner)
    assert merge is not None
    emails = [str(row.key) for row in merge.conflicts]
    return listed(merge.merged), emails


@pytest.mark.parametrize(
    ("base", "pc", "crm", "winner", "expected", "conflicts"),
    [
        pytest.param(
            [ANA],
            [ANA, MIA],
            [phone(ANA, "1")],
            "crm",
            [phone(ANA, "1"), MIA],
            [],
            id="one side adds a person, the other edits another: both kept",
        ),
        pytest.param(
            [ANA, RUI],
            [ANA],
            [ANA, RUI, MIA],
            "crm",
            [ANA, MIA],
            [],
            id="one side removes a person the other left alone: removed; an addition kept",
        ),
        pytest.param(
            [ANA],
            [phone(ANA, "1")],
            [phone(ANA, "2")],
            "crm",
            [phone(ANA, "2")],
            ["ana@f.example"],
            id="one person edited differently: the owner's edit",
        ),
        pytest.param(
            [ANA],
            [phone(ANA, "1")],
            [phone(ANA, "2")],
            "partner_center",
            [phone(ANA, "1")],
            ["ana@f.example"],
            id="the other owner",
        ),
        pytest.param(
            [ANA, RUI],
            [ANA, phone(RUI, "1")],
            [ANA],
            "crm",
            [ANA],
            ["rui@f.example"],
            id="edited on one side, removed on the other: the owner's (removed)",
        ),
        pytest.param(
            [ANA],
            [ANA, MIA],
            [ANA, MIA],
            "crm",
            [ANA, MIA],
            [],
            id="both add the same person: no conflict",
        ),
        pytest.param(
            [ANA],
            [phone(ANA, "1")],
            [{**ANA, "first_name": "Ana Maria"}],
            "crm",
            [{**phone(ANA, "1"), "first_name": "Ana Maria"}],
            [],
            id="one person, a different detail edited on each side: both kept",
        ),
        pytest.param(
            [ANA],
            [{**ANA, "email": "ana@g.example"}],
            [phone(ANA, "2")],
            "crm",
            [{**phone(ANA, "2"), "email": "ana@g.example"}],
            [],
            id="Microsoft corrects an email, the seller edits that person: one person, both kept",
        ),
        pytest.param(
            [ANA],
            [phone(ANA, "1")],
            [{**ANA, "email": "ana@g.example"}, MIA],
            "partner_center",
            [{**phone(ANA, "1"), "email": "ana@g.example"}, MIA],
            [],
            id="the seller corrects an email, Microsoft edits that person",
        ),
        pytest.param(
            [ANA],
            [{**ANA, "email": "ana@g.example"}],
            [{**ANA, "email": "ana@h.example"}],
            "crm",
            [{**ANA, "email": "ana@h.example"}],
            ["ana@f.example"],
            id="both correct one email differently: the owner's",
        ),
        pytest.param(
            [ANA, {**ANA, "email": "ana@g.example"}],
            [{**ANA, "email": "ana@h.example"}],
            [phone(ANA, "2"), {**ANA, "email": "ana@g.example"}],
            "crm",
            [phone(ANA, "2"), {**ANA, "email": "ana@h.example"}],
            ["ana@f.example"],
            id="two people of one name gone: no guess, each email its own person",
        ),
    ],
)
def test_people_merge_one_by_one(
    base: Value, pc: Value, crm: Value, winner: Side, expected: Value, conflicts: list[str]
) -> None:
    rows, conflicted = merged(base, pc, crm, winner)
    assert rows == expected
    assert conflicted == conflicts


def test_values_that_are_not_lists_of_people_are_merged_whole() -> None:
    assert merge_members("a", "b", "c", base_pc="a", base_crm="a", winner="crm") is None
    assert merge_members([ANA], ["x"], [ANA], base_pc=[ANA], base_crm=[ANA], winner="crm") is None


def test_a_conflict_names_the_person_and_all_three_of_their_rows() -> None:
    merge = merge_members(
        [ANA], [phone(ANA, "1")], [phone(ANA, "2")], base_pc=[ANA], base_crm=[ANA], winner="crm"
    )
    assert merge is not None
    assert merge.conflicts == [RowConflict("ana@f.example", ANA, phone(ANA, "1"), phone(ANA, "2"))]


BASE: dict[str, Value] = {
    "name": "Deal",
    "deal_value": "100.00",
    "stage": "Active/Accepted",
    "visibility": True,
    "referral_id": "r1",
    "external_reference_id": "006A",
    FIELD: [ANA, RUI],
}


def test_the_planner_writes_the_merged_people_to_both_sides() -> None:
    pc = {**BASE, FIELD: [ANA, MIA, RUI]}
    crm = {**BASE, FIELD: [phone(ANA, "1"), RUI]}
    result = plan(BASE, pc, crm, MAPPING, PlanFacts())
    everyone: Value = [phone(ANA, "1"), MIA, RUI]
    assert result.to_crm == {FIELD: everyone}
    assert result.to_partner_center == {FIELD: everyone}
    assert result.new_base[FIELD] == everyone
    assert result.conflicts == []


def test_a_conflict_of_one_person_is_audited_with_that_persons_rows() -> None:
    pc = {**BASE, FIELD: [phone(ANA, "1"), MIA, RUI]}
    crm = {**BASE, FIELD: [phone(ANA, "2"), RUI]}
    result = plan(BASE, pc, crm, MAPPING, PlanFacts())
    assert result.conflicts == [FieldConflict(FIELD, ANA, phone(ANA, "1"), phone(ANA, "2"), "crm")]
    assert result.to_crm == {FIELD: [phone(ANA, "2"), MIA, RUI]}


def test_with_a_manual_owner_only_a_person_changed_differently_waits_for_a_decision() -> None:
    fields = dict(MAPPING.fields)
    fields[FIELD] = fields[FIELD].model_copy(update={"owner": "manual"})
    mapping = MAPPING.model_copy(update={"fields": fields})
    apart = plan(
        BASE, {**BASE, FIELD: [ANA, MIA, RUI]}, {**BASE, FIELD: [ANA]}, mapping, PlanFacts()
    )
    assert apart.conflicts == []
    assert apart.to_crm == {FIELD: [ANA, MIA]}
    pc, crm = {**BASE, FIELD: [phone(ANA, "1"), RUI]}, {**BASE, FIELD: [phone(ANA, "2"), RUI]}
    same = plan(BASE, pc, crm, mapping, PlanFacts())
    assert [(c.field, c.resolution) for c in same.conflicts] == [(FIELD, "manual")]
    assert (same.to_crm, same.to_partner_center) == ({}, {})


def test_on_hold_the_crm_takes_microsofts_people_and_the_sellers_edit_waits() -> None:
    held = {**BASE, "stage": "New/Received"}
    pc = {**held, FIELD: [ANA, MIA, RUI]}
    crm = {**held, FIELD: [phone(ANA, "1"), RUI]}
    result = plan(held, pc, crm, MAPPING, PlanFacts())
    assert result.to_crm == {FIELD: [phone(ANA, "1"), MIA, RUI]}
    assert result.to_partner_center == {}
    assert (FIELD, ON_HOLD) in [(s.field, s.reason) for s in result.skipped]
    # Agreed: Microsoft's addition. The seller's edit is still the CRM's own change.
    assert result.new_base[FIELD] == [ANA, MIA, RUI]

    accepted = {**crm, "stage": "Active/Accepted", FIELD: [phone(ANA, "1"), MIA, RUI]}
    after = plan(
        result.new_base, {**pc, "stage": "Active/Accepted"}, accepted, MAPPING, PlanFacts()
    )
    assert after.to_partner_center.get(FIELD) == [phone(ANA, "1"), MIA, RUI]


def test_a_create_stopped_between_its_rows_keeps_a_sellers_edit_of_a_row_it_made() -> None:
    """The record and Ana were made, Rui was not; the seller then edits Ana. The rows the
    record held were the base (Ana as edited), so the referral's Ana went back over the edit."""
    stored = creating(BASE, {FIELD: [ANA, RUI]})
    crm = {**BASE, FIELD: [phone(ANA, "1")]}
    base = finish_create(stored, crm, MAPPING)
    assert base is not None
    result = plan(base, {**BASE, FIELD: [ANA, RUI]}, crm, MAPPING, PlanFacts())
    assert result.to_crm == {FIELD: [phone(ANA, "1"), RUI]}
    assert result.to_partner_center == {FIELD: [phone(ANA, "1"), RUI]}
