"""Drift detection against both emulators: every linked pair read from outside and compared per
the mapping, repaired where the rules allow, recorded, and checked a few pairs at a time."""

from __future__ import annotations

from typing import Any

import pytest
import sqlalchemy as sa
from engine_world import World

from cosell.operations import verify
from cosell.operations.verify import BudgetedVerify, Verifier, reconcile_now
from cosell.store import drift as marks
from cosell.store.records import LinkedPair, LinkUpdate
from cosell.sync.core.plan import NOT_SYNCABLE, ON_HOLD
from cosell.sync.sides.salesforce import side as salesforce_side

HELP = "Customer technical architecture"


def shared(world: World, name: str = "Fabrikam data platform") -> str:
    referral = world.share_referral(
        name=name,
        details={
            "dealValue": 48000,
            "currency": "EUR",
            "closingDateTime": "2026-12-31T00:00:00Z",
            "notes": "Migrate the warehouse",
            "requirements": {"solutions": [{"id": "SOL-9", "name": "Nine"}]},
        },
        customerProfile={
            "name": "Fabrikam",
            "address": {"country": "DE"},
            "team": [{"firstName": "Rui", "lastName": "Costa", "email": "rui@fabrikam.example"}],
        },
        inviteContext={"assistanceRequestCode": "ProofOfConceptOrDemo"},
    )
    rid = str(referral["id"])
    world.sync(f"referral:{rid}")
    return rid


def accepted(world: World, name: str = "Fabrikam data platform") -> tuple[str, str]:
    """A shared referral, synced and accepted in the CRM: both sides hold the same values."""
    rid = shared(world, name)
    opp_id = world.store.link_by_referral(world.tenant, rid).opportunity_id  # type: ignore[union-attr]
    world.edit(opp_id, StageName="Qualification")
    world.sync(f"opportunity:{opp_id}")
    return rid, opp_id


def outgoing(world: World) -> tuple[str, str]:
    opp_id = world.opportunity(
        solutions=("SOL-100",), Sync_with_Partner_Center__c=True, How_can_Microsoft_help__c=HELP
    )
    world.sync(f"opportunity:{opp_id}")
    link = world.link_for(opp_id)
    return str(link.referral_id), opp_id


def verifier(world: World) -> Verifier:
    return Verifier(world.engine, world.clock)


def only(world: World) -> LinkedPair:
    [link] = verifier(world).pairs()
    return link


def fields(check: Any) -> set[str]:
    return {d.field for d in check.drift}


def test_pairs_synced_both_ways_agree_field_by_field(world: World) -> None:
    accepted(world)
    outgoing(world)
    report = verifier(world).run(verifier(world).pairs(), record=False)
    assert [p.state for p in report.pairs] == ["agrees", "agrees"]
    assert report.ok
    compared = verifier(world).check(verifier(world).pairs()[0])
    assert compared.drift == []


def test_a_side_changed_behind_cosells_back_is_drift_with_both_values(world: World) -> None:
    rid, opp_id = accepted(world)
    world.edit(opp_id, Amount=51000, Description="Changed in the CRM")
    world.microsoft_update(
        rid, customerProfile={"team": [{"firstName": "Ana", "email": "ana@fabrikam.example"}]}
    )

    check = verifier(world).check(only(world))

    assert check.state == "drift"
    assert fields(check) == {"deal_value", "notes", "customer_contacts"}
    by_field = {d.field: d for d in check.drift}
    assert (by_field["deal_value"].partner_center, by_field["deal_value"].crm) == (
        "48000.00",
        "51000.00",
    )
    assert by_field["notes"].crm == "Changed in the CRM"
    assert any(
        "deal_value: Partner Center '48000.00' ≠ CRM '51000.00'" in line for line in check.lines()
    )


def test_drift_is_found_when_the_stored_base_claims_agreement(world: World) -> None:
    """The store says both sides hold the new value; only Partner Center does."""
    rid, _ = accepted(world)
    world.microsoft_update(rid, details={"dealValue": 77000})
    link = world.link_for(only(world).opportunity_id or "")
    lying = {**link.base, "deal_value": "77000.00"}
    world.store.commit_sync(world.tenant, LinkUpdate(link_id=link.id, base=lying), [])

    check = verifier(world).check(only(world))

    assert [(d.field, d.partner_center, d.crm) for d in check.drift] == [
        ("deal_value", "77000.00", "48000.00")
    ]


def test_repair_reconciles_the_pair_then_records_and_clears_the_mark(world: World) -> None:
    rid, opp_id = accepted(world)
    world.microsoft_update(rid, details={"dealValue": 64000})
    check = verifier(world)

    found = check.run(check.pairs())  # no repair: reported, marked, audited
    assert not found.ok
    assert set(marks.flags(world.store, world.tenant)) == {only(world).id}
    rows = [r for r in world.store.audit_for(world.tenant, rid) if r.outcome == "drift"]
    assert [(r.field, r.old, r.new) for r in rows] == [("deal_value", "64000.00", "48000.00")]

    check.run(check.pairs())  # the same drift again: nothing new is written
    assert len([r for r in world.store.audit_for(world.tenant, rid) if r.outcome == "drift"]) == 1

    repaired = check.run(check.pairs(), repair=reconcile_now(world.engine))
    assert repaired.ok
    [pair] = repaired.pairs
    assert (pair.state, [d.field for d in pair.repaired]) == ("agrees", ["deal_value"])
    assert world.opp(opp_id)["Amount"] == 64000
    assert marks.flags(world.store, world.tenant) == {}
    messages = [r.message for r in world.store.audit_for(world.tenant, rid) if r.outcome == "drift"]
    assert messages[0].startswith("drift repaired")


def test_printed_lines_carry_no_terminal_control_characters(world: World) -> None:
    _, opp_id = accepted(world)
    world.edit(opp_id, Description="\x1b]0;owned\x07\x1b[2Jred")
    [line] = [x for x in verifier(world).check(only(world)).lines() if "notes" in x]
    assert "\x1b" not in line
    assert "\x07" not in line
    assert "red" in line


def test_drift_the_engine_cannot_move_stays_marked(world: World) -> None:
    """A one-way field (Partner Center → CRM) edited in the CRM: reconciling does not undo it."""
    _, opp_id = accepted(world)
    world.edit(opp_id, Microsoft_CRM_Identifier__c="typed-by-a-seller")
    check = verifier(world)
    report = check.run(check.pairs(), repair=reconcile_now(world.engine))
    assert not report.ok
    assert fields(report.pairs[0]) == {"msx_id"}
    assert set(marks.flags(world.store, world.tenant)) == {only(world).id}


def test_differences_the_rules_hold_back_are_listed_with_their_reason(world: World) -> None:
    rid = shared(world)  # on hold in the CRM
    opp_id = only(world).opportunity_id or ""
    world.edit(opp_id, Amount=99)
    world.sync(f"opportunity:{opp_id}")
    check = verifier(world).check(only(world))
    assert (check.state, [(h.field, h.reason) for h in check.held]) == (
        "held",
        [("deal_value", ON_HOLD)],
    )

    world.microsoft_update(rid, status="Closed", substatus="Lost")
    world.sync(f"referral:{rid}")
    world.edit(opp_id, Description="after the close")
    world.sync(f"opportunity:{opp_id}")
    check = verifier(world).check(only(world))
    assert check.state == "held"
    assert ("notes", NOT_SYNCABLE) in [(h.field, h.reason) for h in check.held]


def test_a_held_pair_is_reconciled_so_what_may_still_flow_flows(world: World) -> None:
    """On hold, Microsoft's edit flows and the seller's is kept: from outside both look alike."""
    rid = shared(world)
    world.microsoft_update(rid, details={"dealValue": 52000})
    first = verifier(world).check(only(world))
    assert [(h.field, h.reason) for h in first.held] == [("deal_value", ON_HOLD)]

    report = verifier(world).run(verifier(world).pairs(), repair=reconcile_now(world.engine))

    [pair] = report.pairs
    assert (pair.state, [d.field for d in pair.repaired]) == ("agrees", ["deal_value"])
    assert world.opp(only(world).opportunity_id or "")["Amount"] == 52000


def test_solution_rows_out_of_step_with_the_products_text_are_drift(world: World) -> None:
    _, opp_id = outgoing(world)
    world.emulator_clock.advance(1)
    world.sf_client.update("Opportunity", opp_id, {"Products__c": "SOL-100;SOL-7"})
    world.add_solution(opp_id, "SOL-7")
    world.sf_client.update("Opportunity", opp_id, {"Products__c": "SOL-100"})
    check = verifier(world).check(only(world))
    assert "solutions" in fields(check)


def test_a_deleted_side_is_reported_not_compared(world: World) -> None:
    _, opp_id = accepted(world)
    world.sf_client.delete("Opportunity", opp_id)
    check = verifier(world).check(only(world))
    assert (check.state, check.missing, check.disagrees) == ("missing", "opportunity", False)


def test_the_budgeted_check_rotates_through_the_pairs(world: World) -> None:
    for n in range(3):
        accepted(world, f"Deal {n}")
    ids = [link.id for link in verifier(world).pairs()]
    seen: list[list[int]] = []

    class Recording(Verifier):
        def run(self, links: Any, **kwargs: Any) -> Any:
            links = list(links)
            seen.append([link.id for link in links])
            return super().run(links, **kwargs)

    queued: list[LinkedPair] = []
    look = BudgetedVerify(
        Recording(world.engine, world.clock), lambda link: bool(queued.append(link)), 2
    )
    assert [look.look(), look.look(), look.look()] == [0, 0, 0]
    assert seen == [ids[:2], [ids[2], ids[0]], ids[1:3]]
    assert queued == []

    link = verifier(world).pairs()[0]
    world.microsoft_update(link.referral_id or "", details={"dealValue": 1})
    assert look.look() == 1  # the fourth look wraps round to the first two pairs
    assert seen[-1] == ids[:2]
    assert [q.id for q in queued] == [link.id]


def test_the_service_audits_drift_only_when_the_next_visit_sees_it_again(world: World) -> None:
    """A pair read while its reconcile runs can look drifted for a moment: not worth a row."""
    rid, _ = accepted(world)
    world.microsoft_update(rid, details={"dealValue": 5})
    look = BudgetedVerify(verifier(world), lambda link: False, 5)

    def drift_rows() -> int:
        rows = world.store.audit_for(world.tenant, rid)
        return len([r for r in rows if r.outcome == "drift"])

    assert look.look() == 1
    assert drift_rows() == 0
    assert marks.flags(world.store, world.tenant) == {}  # seen once: not shown as drift yet
    assert (
        marks.flags(world.store, world.tenant, unconfirmed=True)[only(world).id]["sightings"] == 1
    )
    assert look.look() == 1
    assert drift_rows() == 1
    assert look.look() == 1
    assert drift_rows() == 1
    world.sync(f"referral:{rid}")
    assert look.look() == 0
    assert drift_rows() == 2
    assert marks.flags(world.store, world.tenant) == {}


def test_a_pair_whose_link_is_replaced_reads_the_new_one(world: World) -> None:
    """The store's link is only the pair's ids: the values come from the two sides."""
    _, opp_id = accepted(world)
    link = only(world)
    world.store.commit_sync(world.tenant, LinkUpdate(link_id=link.id, base={}), [])
    check = verifier(world).check(link)
    assert check.state == "agrees"
    assert check.opportunity_id == opp_id


def test_the_opportunities_of_many_pairs_are_read_in_one_query(world: World) -> None:
    pairs = [accepted(world, f"Fabrikam platform {n}") for n in range(4)]
    world.sf_app.state.emulator.calls.reset()

    report = verifier(world).run(verifier(world).pairs())

    assert report.ok
    assert len(report.pairs) == len(pairs)
    calls = world.sf_app.state.emulator.calls.snapshot()["calls"]
    assert sum(n for route, n in calls.items() if route.endswith("/query")) == 2  # was 8


def test_more_pairs_than_one_query_holds_are_read_five_queries_to_a_call(
    world: World, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Opportunity ids beyond one ``IN`` list's worth are read by several queries, which go
    together as the subrequests of one ``composite`` call (five to a call)."""
    monkeypatch.setattr(salesforce_side, "READ_BATCH", 2)  # as if these were hundreds of pairs
    pairs = [accepted(world, f"Fabrikam platform {n}") for n in range(5)]
    world.edit(pairs[3][1], Amount=12345)
    world.sf_app.state.emulator.calls.reset()

    report = verifier(world).run(verifier(world).pairs())

    calls = world.sf_app.state.emulator.calls.snapshot()["calls"]
    assert calls["POST /services/data/v{version}/composite"] == 1  # three queries of two ids
    assert sum(n for route, n in calls.items() if route.endswith("/query")) == 1  # the users
    assert [c.opportunity_id for c in report.pairs] == [opp for _, opp in pairs]
    assert [fields(c) for c in report.pairs] == [set(), set(), set(), {"deal_value"}, set()]


def pc_reads(world: World) -> dict[str, int]:
    calls = world.pc_app.state.emulator.calls.snapshot()["calls"]
    return {route: n for route, n in calls.items() if route.startswith("GET /v1.0/engagements")}


LISTING = "GET /v1.0/engagements/referrals"
ONE = "GET /v1.0/engagements/referrals/{id}"


def test_many_pairs_take_their_referrals_from_the_listing(
    world: World, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(verify, "LIST_FROM", 2)  # as if these were hundreds of pairs
    pairs = [accepted(world, f"Fabrikam platform {n}") for n in range(4)]
    drifted = pairs[1][0]
    world.microsoft_update(drifted, details={"dealValue": 51000})
    world.pc_app.state.emulator.calls.reset()

    report = verifier(world).run(verifier(world).pairs())

    assert pc_reads(world) == {LISTING: 1}  # one page holds them all: no referral read alone
    assert [c.referral_id for c in report.pairs] == [rid for rid, _ in pairs]
    assert [fields(c) for c in report.pairs] == [set(), {"deal_value"}, set(), set()]
    [amount] = report.pairs[1].drift
    assert (amount.partner_center, amount.crm) == ("51000.00", "48000.00")


def test_pairs_fewer_than_listing_pages_read_their_referrals_one_by_one(
    world: World, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(verify, "LIST_FROM", 2)
    for n in range(210):  # three listing pages of referrals cosell never linked
        world.share_referral(name=f"Unlinked {n}", type="Independent")
    pairs = [accepted(world, f"Fabrikam platform {n}") for n in range(2)]
    world.pc_app.state.emulator.calls.reset()

    report = verifier(world).run(verifier(world).pairs())

    assert report.ok
    assert [c.referral_id for c in report.pairs] == [rid for rid, _ in pairs]
    # the first page says how many there are (212: three pages for two pairs): the two are
    # read on their own, the rest of the listing is not read
    assert pc_reads(world) == {LISTING: 1, ONE: 2}


def test_a_check_reads_the_drift_marks_once_and_writes_only_where_a_mark_changes(
    world: World,
) -> None:
    """A pair that agrees and carries no mark costs the store nothing: the marks are read once a
    run, not once a pair, and a mark is deleted only where there is one."""
    pairs = [accepted(world, f"Fabrikam platform {n}") for n in range(4)]
    world.edit(pairs[2][1], Amount=12345)
    statements: list[str] = []

    def seen(_conn: Any, _cursor: Any, statement: str, *_args: Any) -> None:
        if "cursors" in statement:
            statements.append(" ".join(statement.split()[:2]).upper())

    sa.event.listen(world.store.engine, "before_cursor_execute", seen)
    try:
        first = verifier(world).run(verifier(world).pairs())
        reads, writes = _split(statements)
        assert [fields(c) for c in first.pairs] == [set(), set(), {"deal_value"}, set()]
        assert len(reads) == 2  # parked loops and drift marks, once a run (marks: once a pair)
        assert writes  # the new mark
        assert not any(w.startswith("DELETE") for w in writes)  # (was one a pair)

        world.edit(pairs[2][1], Amount=48000)
        statements.clear()
        again = verifier(world).run(verifier(world).pairs())
        reads, writes = _split(statements)
        assert again.ok
        assert len(reads) == 2
        assert writes == ["DELETE FROM"]  # the one mark there was (was a DELETE a pair)
    finally:
        sa.event.remove(world.store.engine, "before_cursor_execute", seen)
    assert marks.flags(world.store, world.tenant) == {}


def _split(statements: list[str]) -> tuple[list[str], list[str]]:
    reads = [s for s in statements if s.startswith("SELECT")]
    return reads, [s for s in statements if not s.startswith("SELECT")]


def test_a_report_of_only_the_pairs_worth_a_look_still_counts_them_all(world: World) -> None:
    """``cosell sync`` checks every pair after its pass and prints the ones that disagree: its
    report keeps those, and counts the rest, instead of holding every pair's result."""
    pairs = [accepted(world, f"Fabrikam platform {n}") for n in range(4)]
    world.edit(pairs[1][1], Amount=12345)

    report = verifier(world).run(verifier(world).pairs(), every_pair=False)

    assert [c.opportunity_id for c in report.pairs] == [pairs[1][1]]
    assert not report.ok
    assert report.summary() == (
        "pairs: 4, agrees: 3, held: 0, drift: 1, missing: 0, unreadable: 0, parked: 0, repaired: 0"
    )
