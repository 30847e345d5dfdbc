"""The engine when things go wrong: crashes, duplicated signals, races, faults, rejections."""

from __future__ import annotations

from collections.abc import Sequence
from datetime import timedelta
from pathlib import Path
from typing import Any

import pytest
from engine_world import World, build_world

from cosell.clock import ManualClock
from cosell.errors import StaleWrite
from cosell.store.records import AuditEntry, Link, LinkUpdate, TenantId
from cosell.store.sql import Store, sqlite_url
from cosell.sync.core.audit_trail import FAIL_MARK, OK_MARK
from cosell.sync.core.records import CreateContext
from cosell.sync.core.translate import to_partner_center_create
from cosell.sync.engine.engine import Engine
from cosell.sync.engine.reconcile import NotReady
from cosell.sync.sides.partner_center import PartnerCenterSide, PcRecord
from cosell.sync.sides.salesforce.side import CrmRecord, CrmSide

HELP = "Customer technical architecture"


class CrashingStore(Store):
    """A store whose next ``commit_sync`` fails, as if the process died before committing."""

    crash_next = False

    def commit_sync(
        self,
        tenant: TenantId,
        link: LinkUpdate,
        audit: Sequence[AuditEntry],
        cursors: dict[str, str] | None = None,
        current: Link | None = None,
    ) -> Link:
        if self.crash_next:
            self.crash_next = False
            raise RuntimeError("process died before the commit")
        return super().commit_sync(tenant, link, audit, cursors, current)


@pytest.fixture
def crashing(tmp_path: Path) -> World:
    store = CrashingStore.open(sqlite_url(tmp_path), clock=ManualClock())
    return build_world(tmp_path, store=store)


def engine_with(world: World, **sides: Any) -> Engine:
    return Engine(
        store=world.store,
        tenant=world.tenant,
        partner_center=sides.get("pc", world.engine.pc),
        crm=sides.get("crm", world.engine.crm),
        clock=world.clock,
    )


def flagged(world: World, **fields: Any) -> str:
    values = {"Sync_with_Partner_Center__c": True, "How_can_Microsoft_help__c": HELP, **fields}
    return world.opportunity(solutions=("SOL-100",), **values)


def run_queue_until_done(world: World, engine: Engine | None = None) -> None:
    """Run the queue, moving the clock over each backoff, until nothing is queued."""
    queue = world.queue(engine)
    for _ in range(10):
        queue.run_until_idle(timeout=30)
        due = world.store.next_due()
        if due is None:
            return
        world.clock.advance(max((due - world.clock.now()).total_seconds(), 0) + 1)
    pytest.fail("the queue did not settle")


# --- crash between the remote create and the local commit ---------------------------------------


def test_crash_after_creating_a_referral_leaves_exactly_one(crashing: World) -> None:
    world = crashing
    store = world.store
    assert isinstance(store, CrashingStore)
    opp_id = flagged(world)
    store.crash_next = True
    world.queue().enqueue(world.tenant, f"opportunity:{opp_id}")
    run_queue_until_done(world)
    assert not store.crash_next
    assert creates(world) == 1
    [referral] = world.referrals()
    assert referral["externalReferenceId"] == opp_id
    assert world.opp(opp_id)["Referral_Identifier__c"] == referral["id"]
    assert world.link_for(opp_id).referral_id == referral["id"]
    assert world.store.dead_letters(world.tenant) == []


def test_crash_after_creating_an_opportunity_leaves_exactly_one(crashing: World) -> None:
    world = crashing
    store = world.store
    assert isinstance(store, CrashingStore)
    referral = world.share_referral(
        details={"dealValue": 10, "closingDateTime": "2026-12-31T00:00:00Z"}
    )
    store.crash_next = True
    with pytest.raises(RuntimeError):
        world.sync(f"referral:{referral['id']}")
    world.sync(f"referral:{referral['id']}")
    [opp] = world.query("SELECT Id, Referral_Identifier__c FROM Opportunity")
    assert opp["Referral_Identifier__c"] == referral["id"]
    assert world.referral(referral["id"])["externalReferenceId"] == opp["Id"]


def test_a_recorded_intent_looks_the_referral_up_before_creating(world: World) -> None:
    opp_id = flagged(world)
    # An earlier run recorded its intent and created the referral, then died before anything else.
    key = f"opportunity:{opp_id}"
    world.store.record_create_intent(world.tenant, "partner_center", opp_id, key)
    values = world.engine.read("opportunity", opp_id).crm_values
    assert values is not None
    body = to_partner_center_create(values, CreateContext(opp_id), world.engine.mapping)
    earlier = world.pc_client.create_referral(body)
    world.sync(f"opportunity:{opp_id}")
    [referral] = world.referrals()
    assert referral["id"] == earlier.id
    assert world.opp(opp_id)["Referral_Identifier__c"] == earlier.id
    assert world.link_for(opp_id).intent is None


def creates(world: World) -> int:
    calls = world.pc_app.state.emulator.calls.snapshot()["calls"]
    return int(calls.get("POST /v1.0/engagements/referrals", 0))


# --- duplicated, dropped and reordered signals ---------------------------------------------------


def test_duplicated_signals_have_one_effect(world: World) -> None:
    referral = world.share_referral(
        details={"dealValue": 10, "closingDateTime": "2026-12-31T00:00:00Z"}
    )
    queue = world.queue()
    for _ in range(5):
        queue.enqueue(world.tenant, f"referral:{referral['id']}")
    stats = queue.run_until_idle(timeout=30)
    assert stats.claimed == 1
    assert len(world.query("SELECT Id FROM Opportunity")) == 1


def test_a_stale_replayed_signal_changes_nothing(world: World) -> None:
    referral = world.share_referral(
        details={"dealValue": 10, "closingDateTime": "2026-12-31T00:00:00Z"}
    )
    key = f"referral:{referral['id']}"
    world.sync(key)
    [opp] = world.query("SELECT Id FROM Opportunity")
    world.sync(f"opportunity:{opp['Id']}")
    before = world.writes()
    for _ in range(3):  # late, duplicated and out-of-order deliveries of the same events
        world.sync(key)
        world.sync(f"opportunity:{opp['Id']}")
    assert world.writes() == before


def test_a_dropped_signal_is_repaired_by_the_next_full_pass(world: World) -> None:
    referral = world.share_referral(
        details={"dealValue": 10, "closingDateTime": "2026-12-31T00:00:00Z"}
    )
    world.sync(f"referral:{referral['id']}")
    world.microsoft_update(referral["id"], details={"notes": "nobody told us"})
    world.full_pass()
    [opp] = world.query("SELECT Description FROM Opportunity")
    assert opp["Description"] == "nobody told us"


# --- 412: re-read and re-plan --------------------------------------------------------------------


class RacingPartnerCenter(PartnerCenterSide):
    """After its read, a Microsoft seller changes the referral once (so our eTag is stale)."""

    def __init__(self, world: World) -> None:
        super().__init__(world.pc_client)
        self.world = world
        self.race = True

    def read(self, referral_id: str) -> PcRecord | None:
        record = super().read(referral_id)
        if self.race:
            self.race = False
            self.world.microsoft_update(referral_id, details={"notes": "changed meanwhile"})
        return record


def test_stale_etag_rereads_and_merges_both_changes(world: World) -> None:
    opp_id = flagged(world)
    world.sync(f"opportunity:{opp_id}")
    world.edit(opp_id, Amount=300000)
    engine = engine_with(world, pc=RacingPartnerCenter(world))
    world.emulator_clock.advance(1)
    engine.reconcile_key(f"opportunity:{opp_id}")
    assert engine.stats.rereads == 1
    [referral] = world.referrals()
    assert referral["details"]["dealValue"] == 300000
    assert referral["details"]["notes"] == "changed meanwhile"
    assert world.opp(opp_id)["Description"] == "changed meanwhile"


class RacingCrm(CrmSide):
    """After its read, a seller edits the opportunity once (a second later)."""

    def __init__(self, world: World) -> None:
        base = world.engine.crm
        super().__init__(base.client, base.schema, base._clock)
        self.world = world
        self.race = True

    def read(self, opportunity_id: str) -> CrmRecord | None:
        record = super().read(opportunity_id)
        if self.race and record is not None:
            self.race = False
            self.world.edit(opportunity_id, NextStep="Call the buyer")
        return record


def test_crm_write_guarded_by_last_modified_rereads(world: World) -> None:
    opp_id = flagged(world)
    world.sync(f"opportunity:{opp_id}")
    referral_id = world.opp(opp_id)["Referral_Identifier__c"]
    world.microsoft_update(referral_id, details={"dealValue": 7})
    engine = engine_with(world, crm=RacingCrm(world))
    world.emulator_clock.advance(1)
    world.hold_time()
    engine.reconcile_key(f"referral:{referral_id}")
    # 412, then the re-read in the second of the racing edit: once more after that second.
    assert engine.stats.rereads == 2
    opp = world.opp(opp_id)
    assert (opp["Amount"], opp["NextStep"]) == (7, "Call the buyer")


class ContactRacingCrm(RacingCrm):
    """After its read, in that very second (the emulated org's time stands still), a seller
    corrects the email of the opportunity's contact, once."""

    def __init__(self, world: World, email: str) -> None:
        super().__init__(world)
        self.email = email

    def read(self, opportunity_id: str) -> CrmRecord | None:
        record = CrmSide.read(self, opportunity_id)
        if self.race and record is not None:
            self.race = False
            contact_id = str(record.contacts[0]["ContactId"])
            self.world.sf_client.update("Contact", contact_id, {"Email": self.email})
        return record


def test_a_contact_edited_in_the_second_of_cosells_read_is_not_written_over(world: World) -> None:
    """A contact's write is guarded as the opportunity's is, whole seconds and all: read in
    the second of the contact's last edit, it waits for the second to end and reads again.
    Microsoft and the seller corrected the email; the owner's (the CRM's) ends on both sides
    and the conflict is audited (was: the contact's write carried no guard, Microsoft's email
    was written over the seller's, nothing audited)."""
    opp_id = flagged(world)
    world.sync(f"opportunity:{opp_id}")
    referral_id = world.opp(opp_id)["Referral_Identifier__c"]
    profile = world.referral(referral_id)["customerProfile"]
    [member] = profile["team"]
    corrected = [{**member, "email": "jo.buyer@northwind.example"}]
    world.microsoft_update(referral_id, customerProfile={**profile, "team": corrected})
    world.emulator_clock.advance(1)
    world.hold_time()
    record = world.engine.crm.read(opp_id)
    assert record is not None
    contact_id = str(record.contacts[0]["ContactId"])
    # the contact's last edit: cosell reads in its second
    world.sf_client.update("Contact", contact_id, {"Phone": "+1 555 0100"})
    sellers = "jo@northwind.example"
    engine = engine_with(world, crm=ContactRacingCrm(world, sellers))
    engine.reconcile_key(f"referral:{referral_id}")

    assert engine.stats.rereads == 1
    assert world.sf_client.get("Contact", contact_id)["Email"] == sellers
    [member] = world.referral(referral_id)["customerProfile"]["team"]
    assert member["email"] == sellers
    conflicts = [r for r in world.store.audit_for(world.tenant, opp_id) if r.outcome == "conflict"]
    assert [r.field for r in conflicts] == ["customer_contacts"]


class SameSecondCrm(RacingCrm):
    """After its read, a seller edits the opportunity's amount in that very second (the
    emulated org's time stands still), once."""

    def read(self, opportunity_id: str) -> CrmRecord | None:
        record = CrmSide.read(self, opportunity_id)  # not the racing edit a second later
        if self.race and record is not None:
            self.race = False
            self.world.sf_client.update("Opportunity", opportunity_id, {"Amount": 99})
        return record


def test_a_seller_edit_in_the_second_of_cosells_read_is_not_written_over(world: World) -> None:
    """``If-Unmodified-Since`` compares whole seconds: an edit made after cosell's read, in the
    second of the record's last edit, passes the guard. A write whose read came in that second
    waits for it to end and reads again (was: Microsoft's amount written over the seller's)."""
    opp_id = flagged(world)
    world.sync(f"opportunity:{opp_id}")
    referral_id = world.opp(opp_id)["Referral_Identifier__c"]
    world.microsoft_update(referral_id, details={"dealValue": 7})
    world.emulator_clock.advance(1)
    world.hold_time()
    world.edit(opp_id, NextStep="Call the buyer")  # the last edit: cosell reads in its second
    engine = engine_with(world, crm=SameSecondCrm(world))
    engine.reconcile_key(f"referral:{referral_id}")
    # Both sides changed the amount: the owner (the CRM) wins, on both sides.
    assert world.opp(opp_id)["Amount"] == 99
    assert world.referral(referral_id)["details"]["dealValue"] == 99
    assert engine.stats.rereads == 1


def test_endless_races_give_up_with_stale_write(world: World) -> None:
    opp_id = flagged(world)
    world.sync(f"opportunity:{opp_id}")
    world.edit(opp_id, Amount=5)

    class Always(RacingPartnerCenter):
        def read(self, referral_id: str) -> PcRecord | None:
            self.race = True
            return super().read(referral_id)

    engine = engine_with(world, pc=Always(world))
    with pytest.raises(StaleWrite):
        engine.reconcile_key(f"opportunity:{opp_id}")


# --- validation before submit --------------------------------------------------------------------


def test_missing_cosell_data_is_shown_on_the_record_then_syncs_once_fixed(world: World) -> None:
    account = world.account(BillingCountry="Narnia")
    opp_id = world.opportunity(
        contacts=0,
        AccountId=account,
        Sync_with_Partner_Center__c=True,
        How_can_Microsoft_help__c=HELP,
    )
    queue = world.queue()
    queue.enqueue(world.tenant, f"opportunity:{opp_id}")
    queue.run_until_idle(timeout=30)
    assert world.referrals() == []
    opp = world.opp(opp_id)
    assert opp["Co_sell_Sync_Status__c"].startswith(FAIL_MARK)
    error = opp["Co_sell_Sync_Error__c"]
    assert "Solution ID is required" in error
    assert "'Narnia' is not an ISO 3166 two-letter code" in error
    assert "customer contact" in error
    [dead] = world.store.dead_letters(world.tenant)
    assert "Solution ID is required" in dead.reason

    world.sf_client.update("Account", account, {"BillingCountry": "GB"})
    world.add_contact(opp_id, "buyer@northwind.example", account)
    world.edit(opp_id, Products__c="SOL-1")  # the fix moves SystemModstamp: the poller enqueues
    queue.enqueue(world.tenant, f"opportunity:{opp_id}")
    queue.run_until_idle(timeout=30)
    [referral] = world.referrals()
    opp = world.opp(opp_id)
    assert opp["Referral_Identifier__c"] == referral["id"]
    assert opp["Co_sell_Sync_Status__c"].startswith(OK_MARK)
    assert opp["Co_sell_Sync_Error__c"] is None
    assert world.store.dead_letters(world.tenant) == []


def test_the_same_refusal_is_written_to_the_record_once(world: World) -> None:
    opp_id = world.opportunity(contacts=0, Sync_with_Partner_Center__c=True)
    opp_id_help = world.opportunity(
        contacts=0, Sync_with_Partner_Center__c=True, How_can_Microsoft_help__c=HELP
    )
    assert opp_id != opp_id_help
    with pytest.raises(NotReady):
        world.sync(f"opportunity:{opp_id_help}")
    before = world.writes()
    with pytest.raises(NotReady):
        world.sync(f"opportunity:{opp_id_help}")
    assert world.writes() == before


# --- faults: retried with backoff, or dead-lettered -----------------------------------------------


def test_partner_center_throttling_is_retried_after_retry_after(world: World) -> None:
    referral = world.share_referral(
        details={"dealValue": 10, "closingDateTime": "2026-12-31T00:00:00Z"}
    )
    emulator = world.pc_app.state.emulator
    emulator.faults.add({"kind": "throttle", "params": {"retry_after": 45}, "count": 2})
    queue = world.queue()
    queue.enqueue(world.tenant, f"referral:{referral['id']}")
    stats = queue.run_until_idle(timeout=30)
    assert stats.retried == 1
    due = world.store.next_due()
    assert due is not None
    assert due - world.clock.now() >= timedelta(seconds=45)
    world.clock.advance(46)
    assert queue.run_until_idle(timeout=30).completed == 1
    assert len(world.query("SELECT Id FROM Opportunity")) == 1


def test_partner_center_unavailable_is_retried(world: World) -> None:
    opp_id = flagged(world)
    emulator = world.pc_app.state.emulator
    emulator.faults.add({"kind": "server_error", "params": {"status": 503}, "count": 2})
    world.queue().enqueue(world.tenant, f"opportunity:{opp_id}")
    run_queue_until_done(world)
    assert len(world.referrals()) == 1
    assert world.store.dead_letters(world.tenant) == []


def test_salesforce_row_lock_is_retried(world: World) -> None:
    referral = world.share_referral(
        details={"dealValue": 10, "closingDateTime": "2026-12-31T00:00:00Z"}
    )
    emulator = world.sf_app.state.emulator
    emulator.faults.add({"kind": "unable_to_lock_row", "method": "PATCH", "count": 2})
    world.queue().enqueue(world.tenant, f"referral:{referral['id']}")
    run_queue_until_done(world)
    assert len(world.query("SELECT Id FROM Opportunity")) == 1
    assert world.store.dead_letters(world.tenant) == []


def test_permanent_rejection_is_dead_lettered_with_its_reason_and_retryable(world: World) -> None:
    referral = world.share_referral(
        details={"dealValue": 10, "closingDateTime": "2026-12-31T00:00:00Z"}
    )
    key = f"referral:{referral['id']}"
    world.sync(key)
    rule = {
        "sobject": "Opportunity",
        "field": "Description",
        "operator": "contains",
        "value": "forbidden",
        "message": "Descriptions may not say forbidden",
    }
    rules = world.sf_app.state.emulator.org.rules
    control = world.pc_control.__class__(world.sf_app, base_url="http://127.0.0.1:8602")
    assert control.post("/_emulator/validation-rules", json=rule).status_code == 201
    world.microsoft_update(referral["id"], details={"notes": "a forbidden word"})
    queue = world.queue()
    queue.enqueue(world.tenant, key)
    assert queue.run_until_idle(timeout=30).dead_lettered == 1
    [dead] = world.store.dead_letters(world.tenant)
    assert dead.key == key
    assert "Descriptions may not say forbidden" in dead.reason
    [opp] = world.query("SELECT Co_sell_Sync_Status__c, Description FROM Opportunity")
    assert opp["Co_sell_Sync_Status__c"].startswith(FAIL_MARK)

    rules.clear()
    assert world.store.retry_dead_letter(world.tenant, key)
    assert queue.run_until_idle(timeout=30).completed == 1
    [opp] = world.query("SELECT Co_sell_Sync_Status__c, Description FROM Opportunity")
    assert opp["Description"] == "a forbidden word"
    assert opp["Co_sell_Sync_Status__c"].startswith(OK_MARK)
    assert world.store.dead_letters(world.tenant) == []


def test_after_a_lost_commit_the_referral_key_links_instead_of_importing(crashing: World) -> None:
    world = crashing
    store = world.store
    assert isinstance(store, CrashingStore)
    opp_id = flagged(world)
    store.crash_next = True
    with pytest.raises(RuntimeError):
        world.sync(f"opportunity:{opp_id}")
    [referral] = world.referrals()
    world.sync(f"referral:{referral['id']}")  # the webhook for our own create arrives first
    [opp] = world.query("SELECT Id, Referral_Identifier__c FROM Opportunity")
    assert (opp["Id"], opp["Referral_Identifier__c"]) == (opp_id, referral["id"])
    world.sync(f"opportunity:{opp_id}")
    assert len(world.referrals()) == 1
    assert world.link_for(opp_id).referral_id == referral["id"]


def test_an_unready_update_is_held_back_while_the_rest_syncs(world: World) -> None:
    opp_id = flagged(world, Products__c=None)
    world.sync(f"opportunity:{opp_id}")
    [row] = world.query("SELECT Id FROM Microsoft_Solution__c")
    world.sf_client.delete("Microsoft_Solution__c", row["Id"])
    world.edit(opp_id, Amount=42)
    with pytest.raises(NotReady, match="Solution ID is required"):
        world.sync(f"opportunity:{opp_id}")
    [referral] = world.referrals()
    assert referral["details"]["dealValue"] == 42
    assert [s["id"] for s in referral["details"]["requirements"]["solutions"]] == ["SOL-100"]
    opp = world.opp(opp_id)
    assert opp["Co_sell_Sync_Status__c"].startswith(FAIL_MARK)
    assert "Solution ID is required" in opp["Co_sell_Sync_Error__c"]
    before = world.writes()
    with pytest.raises(NotReady):
        world.sync(f"opportunity:{opp_id}")
    assert world.writes() == before


def test_a_refusal_the_crm_will_not_even_show_is_kept_in_the_audit(world: World) -> None:
    """A rule that refuses every save of the record refuses the status write too: the store's
    audit then tells why, with both refusals."""
    referral = world.share_referral(name="Frozen deal", details={"dealValue": 10})
    key = f"referral:{referral['id']}"
    world.sync(key)
    rule = {
        "sobject": "Opportunity",
        "field": "Name",
        "operator": "contains",
        "value": "Frozen",
        "message": "Frozen deals may not change",
    }
    control = world.pc_control.__class__(world.sf_app, base_url="http://127.0.0.1:8602")
    assert control.post("/_emulator/validation-rules", json=rule).status_code == 201
    world.microsoft_update(referral["id"], details={"dealValue": 20})
    queue = world.queue()
    queue.enqueue(world.tenant, key)
    assert queue.run_until_idle(timeout=30).dead_lettered == 1
    rows = world.store.audit_for(world.tenant, referral["id"])
    refusals = [r for r in rows if r.outcome == "rejected"]
    assert refusals
    assert "Frozen deals may not change" in refusals[0].message
    assert "not shown on the record" in refusals[0].message
