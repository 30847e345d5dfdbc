from dataclasses import dataclass, field
from typing import Any

import pytest
from sync_samples import MAPPING, crm_record, pc_record

from cosell.sync.core.mapping import SyncMapping
from cosell.sync.core.plan import (
    FILLED_PREFIX,
    NOT_SYNCABLE,
    ON_HOLD,
    SYNC_OFF,
    Decision,
    FieldConflict,
    PlanFacts,
    Skip,
    plan,
)
from cosell.sync.core.records import Value

BASE: dict[str, Value] = {
    "name": "Deal",
    "deal_value": "100.00",
    "notes": "n",
    "stage": "Active/Accepted",
    "visibility": True,
    "referral_id": "r1",
    "external_reference_id": "006A",
}
HELD: dict[str, Value] = {**BASE, "stage": "New/Received"}


def rec(start: dict[str, Value] = BASE, **changes: Value) -> dict[str, Value]:
    return {**start, **changes}


@dataclass
class Case:
    id: str
    base: dict[str, Value] | None
    pc: dict[str, Value] | None
    crm: dict[str, Value] | None
    to_pc: dict[str, Value] = field(default_factory=dict)
    to_crm: dict[str, Value] = field(default_factory=dict)
    conflicts: list[tuple[str, str]] = field(default_factory=list)
    skipped: list[tuple[str, str]] = field(default_factory=list)
    facts: PlanFacts = field(default_factory=PlanFacts)
    base_after: dict[str, Value] = field(default_factory=dict)

    def to_partner_center_and_crm(self) -> dict[str, Value]:
        return {**self.to_pc, **self.to_crm}


CASES = [
    Case("nothing changed", BASE, BASE, BASE),
    Case(
        "partner center changed: flows to the crm",
        BASE,
        rec(deal_value="150.00"),
        BASE,
        to_crm={"deal_value": "150.00"},
        base_after={"deal_value": "150.00"},
    ),
    Case(
        "crm changed: flows to partner center",
        BASE,
        BASE,
        rec(notes="new"),
        to_pc={"notes": "new"},
        base_after={"notes": "new"},
    ),
    Case(
        "both changed to the same value: no write, base advances",
        BASE,
        rec(name="Same"),
        rec(name="Same"),
        base_after={"name": "Same"},
    ),
    Case(
        "both changed differently: crm owner wins",
        BASE,
        rec(deal_value="1.00"),
        rec(deal_value="2.00"),
        to_pc={"deal_value": "2.00"},
        conflicts=[("deal_value", "crm")],
        base_after={"deal_value": "2.00"},
    ),
    Case(
        "both changed differently: partner center owner wins",
        BASE,
        rec(status_reason="pc reason"),
        rec(status_reason="crm reason"),
        to_crm={"status_reason": "pc reason"},
        conflicts=[("status_reason", "partner_center")],
    ),
    Case(
        "one-way field: its source wins a conflict",
        BASE,
        rec(msx_id="MSX-1"),
        rec(msx_id="typed by hand"),
        to_crm={"msx_id": "MSX-1"},
        conflicts=[("msx_id", "partner_center")],
    ),
    Case(
        "crm edit of a to_crm field is skipped",
        BASE,
        BASE,
        rec(referral_id="edited"),
        skipped=[("referral_id", "direction to_crm")],
        base_after={"referral_id": "r1"},
    ),
    Case(
        "closed referral: crm edits not syncable, partner center close still flows",
        BASE,
        rec(stage="Closed/Expired", status_reason="No response"),
        rec(notes="late edit"),
        to_crm={"stage": "Closed/Expired", "status_reason": "No response"},
        skipped=[("notes", NOT_SYNCABLE)],
        base_after={"notes": "n", "stage": "Closed/Expired"},
    ),
    Case(
        "closed fact without a stage value",
        BASE,
        BASE,
        rec(notes="x"),
        facts=PlanFacts(pc_closed=True),
        skipped=[("notes", NOT_SYNCABLE)],
    ),
    Case(
        "microsoft declines: the crm moves to the decline stage with the reason",
        HELD,
        rec(HELD, stage="Closed/Declined", status_reason="Customer did not respond"),
        rec(HELD, stage="New/Pending"),
        to_crm={"stage": "Closed/Declined", "status_reason": "Customer did not respond"},
    ),
    Case(
        "expired read back as closed lost is an echo",
        rec(stage="Closed/Expired"),
        rec(stage="Closed/Expired"),
        rec(stage="Closed/Lost"),
    ),
    Case(
        "on hold: crm edits are kept, base does not advance",
        HELD,
        HELD,
        rec(HELD, stage="New/Pending", notes="prep"),
        skipped=[("notes", ON_HOLD)],
        base_after={"notes": "n", "held@notes": "prep"},
    ),
    Case(
        "leaving on-hold accepts and sends the kept edits",
        HELD,
        HELD,
        rec(HELD, stage="Active/Accepted", notes="prep"),
        to_pc={"stage": "Active/Accepted", "notes": "prep"},
        base_after={"stage": "Active/Accepted", "notes": "prep"},
    ),
    Case(
        "accepted in partner center releases the hold in the same plan",
        HELD,
        rec(HELD, stage="Active/Accepted"),
        rec(HELD, stage="New/Pending", notes="prep"),
        to_crm={"stage": "Active/Accepted"},
        to_pc={"notes": "prep"},
    ),
    Case(
        "decline stage closes the referral as declined with the reason",
        HELD,
        HELD,
        rec(HELD, stage="Closed/Declined", status_reason="Not a customer"),
        to_pc={"stage": "Closed/Declined", "status_reason": "Not a customer"},
    ),
    Case(
        "closed won in the crm closes the referral as won",
        BASE,
        BASE,
        rec(stage="Closed/Won"),
        to_pc={"stage": "Closed/Won"},
    ),
    Case(
        "closed lost with a reason",
        BASE,
        BASE,
        rec(stage="Closed/Lost", status_reason="Budget"),
        to_pc={"stage": "Closed/Lost", "status_reason": "Budget"},
    ),
    Case(
        "partner center cannot go back from accepted to on hold",
        BASE,
        BASE,
        rec(stage="New/Pending"),
        skipped=[
            ("stage", "Partner Center cannot move a referral from Active/Accepted to New/Pending")
        ],
        base_after={"stage": "Active/Accepted"},
    ),
    Case(
        "visibility never goes from shared back to private",
        BASE,
        BASE,
        rec(visibility=False),
        skipped=[("visibility", "visibility cannot go from shared back to private")],
    ),
    Case(
        "private to shared is an allowed upgrade",
        rec(visibility=False),
        rec(visibility=False),
        rec(visibility=True),
        to_pc={"visibility": True},
    ),
    Case(
        "sync flag off: crm edits stay, partner center edits still arrive",
        BASE,
        rec(deal_value="5.00"),
        rec(notes="local"),
        facts=PlanFacts(sync_enabled=False),
        to_crm={"deal_value": "5.00"},
        skipped=[("notes", SYNC_OFF)],
    ),
    Case(
        "no base, both sides, outgoing: the crm values are the base",
        None,
        rec(referral_id="r9", stage="Active/Accepted"),
        rec(referral_id=None),
        facts=PlanFacts(direction="outgoing"),
        to_crm={"referral_id": "r9"},
    ),
    Case(
        "no base, both sides, incoming: the referral values are the base",
        None,
        rec(HELD, external_reference_id=None),
        rec(HELD, stage="New/Pending", external_reference_id="006Z"),
        facts=PlanFacts(direction="incoming"),
        to_pc={"external_reference_id": "006Z"},
    ),
    Case(
        "no base, incoming, the create stopped half-way: the referral's values finish it",
        None,
        rec(HELD, deal_value="200.00", notes="new"),
        rec(HELD, deal_value="100.00", notes=None),
        facts=PlanFacts(direction="incoming"),
        to_crm={"deal_value": "200.00", "notes": "new"},
    ),
    Case(
        "no base, outgoing, the create stopped half-way: the crm values finish it",
        None,
        rec(deal_value="100.00", notes=None),
        rec(deal_value="200.00", notes="new"),
        facts=PlanFacts(direction="outgoing"),
        to_pc={"deal_value": "200.00", "notes": "new"},
    ),
    Case(
        "both changed, the crm owner wins but the referral is on hold: decided once, base moves",
        HELD,
        rec(HELD, deal_value="1.00"),
        rec(HELD, deal_value="2.00"),
        facts=PlanFacts(crm_on_hold=True),
        conflicts=[("deal_value", "crm")],
        skipped=[("deal_value", ON_HOLD)],
        base_after={"deal_value": "1.00", "held@deal_value": "2.00"},
    ),
    Case(
        "no base and unknown creator: differing fields are owner-resolved conflicts",
        None,
        rec(deal_value="1.00"),
        rec(deal_value="2.00"),
        to_pc={"deal_value": "2.00"},
        conflicts=[("deal_value", "crm")],
    ),
    Case(
        "linked referral gone",
        BASE,
        None,
        BASE,
        skipped=[("*", "linked referral not found")],
    ),
    Case(
        "crm record flagged but sync off: no create",
        None,
        None,
        BASE,
        facts=PlanFacts(sync_enabled=False),
        skipped=[("*", SYNC_OFF)],
    ),
    Case(
        "lead not in incoming kinds: no opportunity",
        None,
        BASE,
        None,
        facts=PlanFacts(referral_kind="lead"),
        skipped=[
            (
                "*",
                "not imported: Partner Center classes this referral as 'lead' and the mapping "
                "imports only co_sell; add 'lead' to partner_center.incoming_kinds to import it",
            )
        ],
    ),
]


def expect_base(case: Case) -> dict[str, Value]:
    """The starting base plus every value written, plus agreed values."""
    start = case.base if case.base is not None else {}
    return {**start, **case.to_partner_center_and_crm(), **case.base_after}


@pytest.mark.parametrize("case", CASES, ids=[c.id for c in CASES])
def test_plan_rules(case: Case) -> None:
    result = plan(case.base, case.pc, case.crm, MAPPING, case.facts)
    assert result.to_partner_center == case.to_pc
    assert result.to_crm == case.to_crm
    assert [(c.field, c.resolution) for c in result.conflicts] == case.conflicts
    assert [(s.field, s.reason) for s in result.skipped] == case.skipped
    if case.base is not None:
        assert result.new_base == expect_base(case)
    assert result.create is None


def test_conflicts_carry_all_three_values_and_the_loser_is_audited() -> None:
    result = plan(BASE, rec(deal_value="1.00"), rec(deal_value="2.00"), MAPPING, PlanFacts())
    assert result.conflicts == [FieldConflict("deal_value", "100.00", "1.00", "2.00", "crm")]
    assert result.decisions == [Decision("deal_value", "crm", "100.00", "2.00")]


def test_a_microsoft_edit_after_a_held_crm_edit_wins_when_the_hold_ends() -> None:
    held = plan(HELD, HELD, rec(HELD, notes="seller"), MAPPING, PlanFacts())
    assert [(s.field, s.reason) for s in held.skipped] == [("notes", ON_HOLD)]
    # Microsoft edits the same field later; the seller then accepts.
    accepted = rec(HELD, stage="Active/Accepted", notes="seller")
    result = plan(held.new_base, rec(HELD, notes="microsoft"), accepted, MAPPING, PlanFacts())
    assert result.conflicts == [
        FieldConflict("notes", "n", "microsoft", "seller", "partner_center")
    ]
    assert result.to_crm == {"notes": "microsoft"}
    assert result.to_partner_center == {"stage": "Active/Accepted"}
    assert result.new_base["notes"] == "microsoft"
    assert "held@notes" not in result.new_base


def test_a_both_sides_change_with_no_held_edit_before_it_still_goes_to_the_owner() -> None:
    accepted = rec(HELD, stage="Active/Accepted", notes="seller")
    result = plan(HELD, rec(HELD, notes="microsoft"), accepted, MAPPING, PlanFacts())
    assert result.conflicts == [FieldConflict("notes", "n", "microsoft", "seller", "crm")]
    assert result.to_partner_center == {"stage": "Active/Accepted", "notes": "seller"}


def manual(mapping: SyncMapping, name: str) -> SyncMapping:
    fields = dict(mapping.fields)
    fields[name] = fields[name].model_copy(update={"owner": "manual"})
    return mapping.model_copy(update={"fields": fields})


def test_manual_owner_parks_the_field_and_the_rest_still_syncs() -> None:
    pc, crm = rec(notes="pc notes"), rec(notes="crm notes", name="Renamed")
    result = plan(BASE, pc, crm, manual(MAPPING, "notes"), PlanFacts())
    assert result.conflicts == [FieldConflict("notes", "n", "pc notes", "crm notes", "manual")]
    assert result.to_partner_center == {"name": "Renamed"}
    assert result.to_crm == {}
    assert result.new_base["notes"] == "n"


def test_decisions_name_the_source_and_old_and_new_values() -> None:
    result = plan(BASE, rec(deal_value="7.00"), rec(notes="m"), MAPPING, PlanFacts())
    assert sorted(result.decisions, key=lambda d: d.field) == [
        Decision("deal_value", "partner_center", "100.00", "7.00"),
        Decision("notes", "crm", "n", "m"),
    ]


def test_first_sync_of_a_shared_referral_creates_an_opportunity() -> None:
    pc = pc_record()
    result = plan(None, pc, None, MAPPING, PlanFacts(referral_kind="co_sell"))
    assert result.create == "opportunity"
    assert result.new_base == pc
    assert result.to_crm["referral_id"] == pc["referral_id"]
    assert "external_reference_id" not in result.to_crm
    assert result.to_partner_center == {}


def test_a_flagged_opportunity_creates_a_referral_and_its_values_are_the_base() -> None:
    crm = crm_record()
    result = plan(None, None, crm, MAPPING, PlanFacts())
    assert result.create == "referral"
    assert result.new_base == crm
    assert crm["stage"] == "Active/Accepted"
    assert result.to_partner_center["deal_value"] == "125000.00"
    assert "referral_id" not in result.to_partner_center


def test_a_won_opportunity_flagged_late_is_closed_as_won_after_the_create() -> None:
    crm = crm_record(StageName="Closed Won")
    created = plan(None, None, crm, MAPPING, PlanFacts())
    assert created.new_base["stage"] == "Active/Accepted"
    pc_after_create = {**crm, "stage": "Active/Accepted", "referral_id": "r5"}
    follow_up = plan(created.new_base, pc_after_create, crm, MAPPING, PlanFacts())
    assert follow_up.to_partner_center == {"stage": "Closed/Won"}
    assert follow_up.to_crm == {"referral_id": "r5"}


def test_a_referral_first_seen_closed_creates_no_opportunity() -> None:
    result = plan(None, pc_record(status="Closed", substatus="Expired"), None, MAPPING, PlanFacts())
    assert result.create is None
    assert result.skipped == [Skip("*", "referral is Closed: no opportunity is created for it")]


def test_a_missing_opportunity_with_a_link_is_not_recreated() -> None:
    result = plan(None, BASE, None, MAPPING, PlanFacts(link_exists=True))
    assert result.create is None
    assert result.skipped == [Skip("*", "linked opportunity not found")]


def test_nothing_on_either_side_plans_nothing() -> None:
    result = plan(BASE, None, None, MAPPING, PlanFacts())
    assert not result.has_writes
    assert result.new_base == BASE


@pytest.mark.parametrize("facts", [PlanFacts(), PlanFacts(direction="incoming")])
def test_plan_does_not_mutate_its_inputs(facts: PlanFacts) -> None:
    base, pc, crm = rec(), rec(deal_value="3.00"), rec(notes="z")
    snapshot: list[Any] = [dict(base), dict(pc), dict(crm)]
    plan(base, pc, crm, MAPPING, facts)
    assert [base, pc, crm] == snapshot


def test_a_create_base_holds_the_defaults_the_create_writes() -> None:
    referral = {k: v for k, v in pc_record().items() if k != "currency"}
    result = plan(None, referral, None, MAPPING, PlanFacts(direction="incoming"))
    assert result.create == "opportunity"
    assert result.new_base["currency"] == "USD"


@pytest.mark.parametrize(
    ("pc", "crm"), [(None, "USD"), ("USD", None)], ids=["pc has none", "crm has none"]
)
def test_no_value_and_the_default_are_the_same(pc: Value, crm: Value) -> None:
    base = rec(HELD, currency="USD")
    result = plan(base, rec(base, currency=pc), rec(base, currency=crm), MAPPING, PlanFacts())
    assert (result.to_crm, result.to_partner_center, result.skipped) == ({}, {}, [])
    edit = plan(base, rec(base, currency=None), rec(base, currency="EUR"), MAPPING, PlanFacts())
    assert edit.skipped == [Skip("currency", ON_HOLD)]  # a real edit is still one


def test_a_referral_without_a_close_date_gets_the_default_and_it_is_no_edit() -> None:
    referral = {k: v for k, v in pc_record().items() if k != "close_date"}
    facts = PlanFacts(direction="incoming", default_close_date="2027-03-02")
    created = plan(None, referral, None, MAPPING, facts)
    assert created.to_crm["close_date"] == "2027-03-02"
    assert created.new_base.get("close_date") is None  # Partner Center still has none
    assert created.new_base[FILLED_PREFIX + "close_date"] == "2027-03-02"
    base, opportunity = created.new_base, {**referral, "close_date": "2027-03-02"}

    echo = plan(base, referral, opportunity, MAPPING, PlanFacts())
    assert (echo.to_crm, echo.to_partner_center, echo.skipped) == ({}, {}, [])

    seller = plan(base, referral, {**opportunity, "close_date": "2027-06-30"}, MAPPING, PlanFacts())
    assert seller.skipped == [Skip("close_date", ON_HOLD)]  # a real edit, sent on accept

    microsoft = {**referral, "close_date": "2027-05-01"}
    dated = plan(base, microsoft, opportunity, MAPPING, PlanFacts())
    assert dated.to_crm == {"close_date": "2027-05-01"}
    cleared = plan(dated.new_base, referral, microsoft, MAPPING, PlanFacts())
    assert cleared.to_crm == {"close_date": "2027-03-02"}  # the filler, never an empty date
    again = plan(cleared.new_base, referral, opportunity, MAPPING, PlanFacts())
    assert (again.to_crm, again.to_partner_center) == ({}, {})


def test_a_referral_with_a_close_date_keeps_it_and_records_no_filler() -> None:
    facts = PlanFacts(direction="incoming", default_close_date="2027-03-02")
    created = plan(None, pc_record(), None, MAPPING, facts)
    assert created.to_crm["close_date"] == pc_record()["close_date"] != "2027-03-02"
    assert FILLED_PREFIX + "close_date" not in created.new_base
