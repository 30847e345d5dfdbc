"""The engine's scenarios, once per CRM side: Salesforce opportunities and HubSpot deals.

Each test is written in the mapping's terms (canonical field names, stage roles) and runs
against both sides from this one suite: creates both ways, updates both ways, accept, decline,
won, expiry, related records, no echo and no duplicates under faults.
"""

from __future__ import annotations

from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import pytest
from crm_worlds import CRMS, CrashingStore, CrmWorld, build_crm_world
from sync_samples import fabrikam_share

from cosell.errors import ServerError

CREATE_FAULTS: dict[str, dict[str, object]] = {
    # the create: one composite request, after the one reading the lookup and the match
    "salesforce": {"path": "/services/data/v62.0/composite", "after": 1},
    "hubspot": {"path": "/crm/v3/objects/deals/batch/upsert"},
}


@pytest.fixture(params=CRMS)
def world(tmp_path: Path, request: pytest.FixtureRequest) -> Iterator[CrmWorld]:
    built = build_crm_world(tmp_path, request.param)
    yield built
    built.store.close()


def shared(world: CrmWorld, **overrides: Any) -> str:
    body = fabrikam_share(**overrides)
    return str(world.share_referral(**body)["id"])


def synced_incoming(world: CrmWorld) -> tuple[str, str]:
    rid = shared(world)
    world.sync(f"referral:{rid}")
    [record] = world.seller.records()
    return rid, record


def test_flagged_record_becomes_a_cosell_referral_with_ids_written_back(world: CrmWorld) -> None:
    record = world.seller.flagged_record()
    world.sync(f"opportunity:{record}")
    [referral] = world.referrals()
    assert referral["externalReferenceId"] == record
    assert referral["type"] == "Shared"
    assert referral["name"] == "Northwind renewal"
    assert referral["details"]["dealValue"] == 125000
    assert referral["details"]["closingDateTime"].startswith("2026-09-30")
    assert referral["inviteContext"]["assistanceRequestCode"] == "CustomerTechnicalArchitecture"
    assert referral["customerProfile"]["name"] == "Northwind Traders"
    assert referral["customerProfile"]["team"][0]["email"] == "buyer@northwind.example"
    assert world.value(record, "referral_id") == referral["id"]
    assert str(world.value(record, "referral_link")).endswith(f"/referrals/{referral['id']}")
    assert world.store.link_by_opportunity(world.tenant, record).referral_id == referral["id"]


def test_shared_referral_becomes_an_on_hold_record_with_its_customer(world: CrmWorld) -> None:
    rid, record = synced_incoming(world)
    assert world.value(record, "referral_id") == rid
    assert world.value(record, "name") == "Fabrikam data platform"
    assert world.value(record, "stage") == "New/Pending"
    assert world.value(record, "deal_value") == "48000.00"
    assert world.value(record, "close_date") == "2026-12-31"
    assert world.value(record, "customer_name") == "Fabrikam"
    assert [c["email"] for c in world.value(record, "customer_contacts")] == [
        "rui@fabrikam.example"
    ]
    assert world.referral(rid)["externalReferenceId"] == record


def test_repeated_syncs_make_no_second_record_or_company(world: CrmWorld) -> None:
    rid, record = synced_incoming(world)
    world.sync(f"referral:{rid}")
    world.full_pass()
    assert world.seller.records() == [record]
    assert world.seller.companies() == 1


def test_microsoft_updates_flow_to_the_record(world: CrmWorld) -> None:
    rid, record = synced_incoming(world)
    world.microsoft_update(
        rid, details={"dealValue": 61000, "notes": "PoC"}, status="Active", substatus="Accepted"
    )
    world.sync(f"referral:{rid}")
    assert (world.value(record, "deal_value"), world.value(record, "notes")) == ("61000.00", "PoC")
    assert world.value(record, "stage") == "Active/Accepted"
    world.microsoft_update(rid, status="Closed", substatus="Won")
    world.sync(f"referral:{rid}")
    assert world.value(record, "stage") == "Closed/Won"


def test_edits_on_hold_are_kept_until_the_seller_accepts(world: CrmWorld) -> None:
    rid, record = synced_incoming(world)
    world.seller.edit(record, deal_value=99)
    world.sync(f"opportunity:{record}")
    assert world.referral(rid)["details"]["dealValue"] == 48000
    world.seller.move_to(record, "active")
    world.sync(f"opportunity:{record}")
    accepted = world.referral(rid)
    assert (accepted["status"], accepted["substatus"]) == ("Active", "Accepted")
    assert accepted["details"]["dealValue"] == 99


def test_crm_edits_flow_to_the_referral_while_flagged(world: CrmWorld) -> None:
    record = world.seller.flagged_record()
    world.sync(f"opportunity:{record}")
    world.seller.edit(record, deal_value=130000, notes="Expanded scope")
    world.sync(f"opportunity:{record}")
    [referral] = world.referrals()
    assert referral["details"]["dealValue"] == 130000
    assert referral["details"]["notes"] == "Expanded scope"


@pytest.mark.parametrize(
    ("role", "expected"),
    [
        ("declined", ("Closed", "Declined")),
        ("won", ("Closed", "Won")),
        ("lost", ("Closed", "Lost")),
    ],
)
def test_closing_stages_close_the_referral(
    world: CrmWorld, role: str, expected: tuple[str, str]
) -> None:
    rid, record = synced_incoming(world)
    if role != "declined":
        world.seller.move_to(record, "active")
        world.sync(f"opportunity:{record}")
    world.seller.move_to(record, role)
    world.sync(f"opportunity:{record}")
    closed = world.referral(rid)
    assert (closed["status"], closed["substatus"]) == expected


def test_an_unanswered_referral_expires_and_the_record_follows(world: CrmWorld) -> None:
    rid, record = synced_incoming(world)
    world.pc_control.post("/_emulator/clock", json={"advance_seconds": 15 * 86400})
    world.sync(f"referral:{rid}")
    assert world.value(record, "stage") in ("Closed/Expired", "Closed/Lost")
    assert world.referral(rid)["status"] == "Closed"


def test_after_syncs_both_ways_a_full_pass_writes_nothing(world: CrmWorld) -> None:
    rid, _ = synced_incoming(world)
    world.microsoft_update(rid, details={"notes": "changed"})
    outgoing = world.seller.flagged_record()
    world.full_pass()
    before = world.writes()
    world.full_pass()
    assert world.writes() == before
    assert len(world.seller.records()) == 2
    assert len(world.referrals()) == 2
    assert outgoing in world.seller.records()


def test_a_failing_crm_create_is_retried_into_exactly_one_record(world: CrmWorld) -> None:
    rid = shared(world)
    fault = {"kind": "server_error", "count": 3, **CREATE_FAULTS[world.crm]}
    world.seller.app.state.emulator.faults.add(fault)  # two attempts fail, then the next two
    with pytest.raises(ServerError):
        world.sync(f"referral:{rid}")
    world.sync(f"referral:{rid}")
    [record] = world.seller.records()
    assert world.value(record, "referral_id") == rid
    assert world.referral(rid)["externalReferenceId"] == record


def test_a_create_whose_commit_was_lost_is_found_not_repeated(tmp_path: Path, crm: str) -> None:
    world = build_crm_world(tmp_path, crm, store_class=CrashingStore)
    assert isinstance(world.store, CrashingStore)
    rid = shared(world)
    world.store.crash_next = True
    with pytest.raises(RuntimeError):
        world.sync(f"referral:{rid}")
    world.sync(f"referral:{rid}")
    world.full_pass()
    [record] = world.seller.records()
    assert world.seller.companies() == 1
    assert world.referral(rid)["externalReferenceId"] == record
    world.store.close()


@pytest.fixture(params=CRMS)
def crm(request: pytest.FixtureRequest) -> str:
    return str(request.param)


def accepted_pair(world: CrmWorld) -> tuple[str, str]:
    rid, record = synced_incoming(world)
    world.seller.move_to(record, "active")
    world.sync(f"opportunity:{record}")
    assert world.referral(rid)["status"] == "Active"
    return rid, record


def test_both_sides_change_one_field_the_owner_wins_audited_and_it_settles(
    world: CrmWorld,
) -> None:
    rid, record = accepted_pair(world)
    world.microsoft_update(rid, details={"notes": "from Microsoft"})
    world.seller.edit(record, notes="from the seller")
    world.sync(f"opportunity:{record}")

    assert world.mapping.fields["notes"].owner == "crm"
    assert world.referral(rid)["details"]["notes"] == "from the seller"
    assert world.value(record, "notes") == "from the seller"
    [row] = [r for r in world.store.audit_for(world.tenant, record) if r.outcome == "conflict"]
    assert (row.field, row.old, row.new) == ("notes", "from Microsoft", "from the seller")
    assert "crm wins" in row.message
    assert world.store.conflicts(world.tenant) == []
    world.full_pass()
    before = world.writes()
    world.full_pass()
    world.full_pass()
    assert world.writes() == before  # no loop: nothing is written back and forth
    audited = [r for r in world.store.audit_for(world.tenant, record) if r.outcome == "conflict"]
    assert len(audited) == 1


RUI = {"firstName": "Rui", "lastName": "Costa", "email": "rui@fabrikam.example"}
ANA = {"firstName": "Ana", "lastName": "Lima", "email": "ana@fabrikam.example"}
CORRECTED = "ana.lima@fabrikam.example"


def pair_with_contacts(world: CrmWorld) -> tuple[str, str, dict[str, Any]]:
    """An accepted pair whose referral's team (Rui, Ana) is synced to the record: the
    referral's id, the record's and the referral's customer."""
    rid, record = accepted_pair(world)
    customer: dict[str, Any] = world.referral(rid)["customerProfile"]
    world.microsoft_update(rid, customerProfile={**customer, "team": [RUI, ANA]})
    world.sync(f"referral:{rid}")
    return rid, record, customer


def test_related_records_follow_both_ways(world: CrmWorld) -> None:
    rid, record, _ = pair_with_contacts(world)
    emails = sorted(c["email"] for c in world.value(record, "customer_contacts"))
    assert emails == ["ana@fabrikam.example", "rui@fabrikam.example"]

    world.seller.edit(record, solutions="SOL-9;SOL-10")
    world.sync(f"opportunity:{record}")
    solutions = world.referral(rid)["details"]["requirements"]["solutions"]
    assert sorted(s["id"] for s in solutions) == ["SOL-10", "SOL-9"]

    world.full_pass()
    before = world.writes()
    world.full_pass()
    assert world.writes() == before
    emails = sorted(c["email"] for c in world.value(record, "customer_contacts"))
    assert emails == ["ana@fabrikam.example", "rui@fabrikam.example"]


def test_both_sides_change_different_contacts_and_both_changes_are_kept(world: CrmWorld) -> None:
    """Microsoft adds a contact while the seller corrects another's phone: two people, two
    changes. The contacts field was merged whole, and its owner (the CRM) sent its list back
    over Microsoft's: the contact Microsoft added was removed from the referral."""
    rid, record, customer = pair_with_contacts(world)
    mia = {"firstName": "Mia", "lastName": "Sousa", "email": "mia@fabrikam.example"}
    world.microsoft_update(rid, customerProfile={**customer, "team": [RUI, ANA, mia]})
    world.seller.edit_contact("ana@fabrikam.example", "+49 30 1234")
    world.sync(f"opportunity:{record}")

    expected = {
        "ana@fabrikam.example": "+49 30 1234",
        "mia@fabrikam.example": None,
        "rui@fabrikam.example": None,
    }
    members = world.referral(rid)["customerProfile"]["team"]
    assert {m["email"]: m.get("phoneNumber") for m in members} == expected
    contacts = world.value(record, "customer_contacts")
    assert {c["email"]: c.get("phone") for c in contacts} == expected
    audited = world.store.audit_for(world.tenant, record)
    assert [r for r in audited if r.outcome == "conflict"] == []
    world.full_pass()
    before = world.writes()
    world.full_pass()
    assert world.writes() == before  # settled: nothing goes back and forth


def test_microsoft_corrects_a_contacts_email_and_the_record_keeps_that_contact(
    world: CrmWorld,
) -> None:
    """A corrected email read as one person gone and another new: the record's contact was
    unlinked and a second contact of the same person made beside it."""
    rid, record, customer = pair_with_contacts(world)
    ana = world.seller.contacts_named("Ana", "Lima")
    assert len(ana) == 1
    world.microsoft_update(
        rid, customerProfile={**customer, "team": [RUI, {**ANA, "email": CORRECTED}]}
    )
    world.sync(f"referral:{rid}")

    assert world.seller.contacts_named("Ana", "Lima") == ana  # that contact, no second one
    emails = sorted(c["email"] for c in world.value(record, "customer_contacts"))
    assert emails == [CORRECTED, "rui@fabrikam.example"]
    world.full_pass()
    before = world.writes()
    world.full_pass()
    assert world.writes() == before


@pytest.mark.parametrize(
    ("microsofts_ana", "sellers_change", "expected_phone"),
    [
        pytest.param(
            {**ANA, "email": CORRECTED},
            {"phone": "+49 30 1234"},
            "+49 30 1234",
            id="Microsoft corrects the email, the seller the phone",
        ),
        pytest.param(
            {**ANA, "phoneNumber": "+49 30 9999"},
            {"new_email": CORRECTED},
            "+49 30 9999",
            id="the seller corrects the email, Microsoft the phone",
        ),
    ],
)
def test_one_contact_corrected_on_both_sides_stays_one_person_with_both_changes(
    world: CrmWorld,
    microsofts_ana: dict[str, Any],
    sellers_change: dict[str, str],
    expected_phone: str,
) -> None:
    """A corrected email was read as one person gone and another new: with Microsoft's email,
    the owner (the CRM) kept its Ana beside Microsoft's (two Anas on both sides); with the
    seller's, Microsoft's phone was lost."""
    rid, record, customer = pair_with_contacts(world)
    world.microsoft_update(rid, customerProfile={**customer, "team": [RUI, microsofts_ana]})
    world.seller.edit_contact("ana@fabrikam.example", **sellers_change)
    world.sync(f"opportunity:{record}")

    expected = {CORRECTED: expected_phone, "rui@fabrikam.example": None}
    members = world.referral(rid)["customerProfile"]["team"]
    assert {m["email"]: m.get("phoneNumber") for m in members} == expected
    contacts = world.value(record, "customer_contacts")
    assert {c["email"]: c.get("phone") for c in contacts} == expected
    assert len(world.seller.contacts_named("Ana", "Lima")) == 1
    audited = world.store.audit_for(world.tenant, record)
    assert [r for r in audited if r.outcome == "conflict"] == []
    world.full_pass()
    before = world.writes()
    world.full_pass()
    assert world.writes() == before


def test_a_contact_corrected_on_both_sides_after_cosells_read_keeps_the_owners_email(
    world: CrmWorld, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Microsoft corrects Ana's email, and the seller corrects it otherwise after cosell read
    the record and before it wrote: the contact's write is refused (a guard or a check of its
    stamp), the record read again, and the owner's (the CRM's) email ends on both sides,
    the conflict audited (was: Microsoft's email written over the seller's, nothing audited)."""
    rid, record, customer = pair_with_contacts(world)
    world.microsoft_update(
        rid, customerProfile={**customer, "team": [RUI, {**ANA, "email": CORRECTED}]}
    )
    sellers = "a.lima@fabrikam.example"
    read = world.engine.crm.read
    raced: list[str] = []

    def read_then_race(record_id: str) -> Any:
        found = read(record_id)
        if not raced:
            raced.append(record_id)
            world.emulator_clock.advance(1)
            world.seller.edit_contact("ana@fabrikam.example", new_email=sellers)
        return found

    monkeypatch.setattr(world.engine.crm, "read", read_then_race)
    world.sync(f"referral:{rid}")

    assert raced == [record]
    expected = [sellers, "rui@fabrikam.example"]
    assert sorted(m["email"] for m in world.referral(rid)["customerProfile"]["team"]) == expected
    assert sorted(c["email"] for c in world.value(record, "customer_contacts")) == expected
    assert len(world.seller.contacts_named("Ana", "Lima")) == 1
    conflicts = [r for r in world.store.audit_for(world.tenant, record) if r.outcome == "conflict"]
    assert [r.field for r in conflicts] == ["customer_contacts"]
    world.full_pass()
    before = world.writes()
    world.full_pass()
    assert world.writes() == before


def test_both_sides_change_one_contact_differently_and_the_owner_wins_that_contact(
    world: CrmWorld,
) -> None:
    rid, record, customer = pair_with_contacts(world)
    ana_by_microsoft = {**ANA, "phoneNumber": "+49 30 9999"}
    rui_by_microsoft = {**RUI, "phoneNumber": "+351 21 0000"}
    world.microsoft_update(
        rid, customerProfile={**customer, "team": [ana_by_microsoft, rui_by_microsoft]}
    )
    world.seller.edit_contact("ana@fabrikam.example", "+49 30 1234")
    world.sync(f"opportunity:{record}")

    assert world.mapping.fields["customer_contacts"].owner == "crm"
    expected = {"ana@fabrikam.example": "+49 30 1234", "rui@fabrikam.example": "+351 21 0000"}
    members = world.referral(rid)["customerProfile"]["team"]
    assert {m["email"]: m.get("phoneNumber") for m in members} == expected
    contacts = world.value(record, "customer_contacts")
    assert {c["email"]: c.get("phone") for c in contacts} == expected
    conflicts = [r for r in world.store.audit_for(world.tenant, record) if r.outcome == "conflict"]
    assert [r.field for r in conflicts] == ["customer_contacts"]  # Ana's, and Ana's alone
    assert "+49 30 9999" in str(conflicts[0].old)
    assert "+49 30 1234" in str(conflicts[0].new)
    assert "rui" not in str(conflicts[0].old)
    world.full_pass()
    before = world.writes()
    world.full_pass()
    assert world.writes() == before


def test_faults_on_both_sides_make_no_duplicate_either_way(world: CrmWorld) -> None:
    rid = shared(world)
    outgoing = world.seller.flagged_record()

    def failing(count: int) -> Callable[[], None]:
        def arm() -> None:
            for app in (world.pc_app, world.seller.app):
                app.state.emulator.faults.add({"kind": "server_error", "count": count})

        return arm

    first = world.full_pass(failing(2))
    assert first.retried > 0, first  # the faults were met, inside reconciles
    world.full_pass(failing(1))
    world.full_pass()

    records, referrals = world.seller.records(), world.referrals()
    assert len(records) == 2, records
    assert len(referrals) == 2, [r["id"] for r in referrals]
    incoming = next(r for r in records if r != outgoing)
    assert world.value(incoming, "referral_id") == rid
    assert world.referral(rid)["externalReferenceId"] == incoming
    created = next(r for r in referrals if r["id"] != rid)
    assert created["externalReferenceId"] == outgoing
    assert world.value(outgoing, "referral_id") == created["id"]
    assert world.seller.companies() == 2
    before = world.writes()
    world.full_pass()
    assert world.writes() == before
