"""No lost update: a write that landed before its reconcile failed is agreed, never an edit.

A reconcile writes Partner Center, then the opportunity, then related rows and the notes mirror,
and commits the new base last. When a later step fails (a fault, a dropped connection after
Salesforce applied the write, the process killed), the next reconcile must not take the value
that landed for an edit made on that side: a newer edit on the other side would then meet it as
a both-sides change, and the owner rule (the CRM owns notes and amount) would send the older
value back over it.
"""

from __future__ import annotations

import threading
from collections.abc import Mapping
from typing import Any

import pytest
from engine_world import World

from cosell.errors import ServerError, TransportError
from cosell.sync.core.pending import PENDING_KEY
from cosell.sync.core.records import CrmWrite
from cosell.sync.engine.engine import Engine
from cosell.sync.sides.salesforce.side import CrmRecord, CrmSide


class FailingCrm(CrmSide):
    """The CRM side with one planned failure: ``after_update`` (Salesforce applied the
    opportunity write, then the connection dropped), ``before_update`` (the write was refused)
    or ``note`` (the notes mirror failed after the opportunity write)."""

    def __init__(self, world: World, when: str) -> None:
        crm = world.engine.crm
        assert isinstance(crm, CrmSide)
        super().__init__(crm.client, crm.schema, crm._clock)
        self.when: str | None = when

    def _fail(self, when: str, error: Exception) -> None:
        if self.when == when:
            self.when = None
            raise error

    def update(self, record: CrmRecord, write: CrmWrite, extra: Mapping[str, Any]) -> bool:
        self._fail("before_update", ServerError("UNABLE_TO_LOCK_ROW", status=400))
        sent = super().update(record, write, extra)
        self._fail("after_update", TransportError("connection dropped after the write"))
        return sent

    def mirror_note(self, record_id: str, body: str | None) -> bool:
        self._fail("note", ServerError("503 Service Unavailable", status=503))
        return super().mirror_note(record_id, body)


def engine_with(world: World, crm: CrmSide) -> Engine:
    return Engine(
        store=world.store,
        tenant=world.tenant,
        partner_center=world.engine.pc,
        crm=crm,
        clock=world.clock,
    )


def shared_pair(world: World) -> tuple[str, str]:
    referral = world.share_referral(
        details={
            "dealValue": 10000,
            "notes": "shared 1",
            "closingDateTime": "2026-12-31T00:00:00Z",
        }
    )
    world.sync(f"referral:{referral['id']}")
    [opp] = world.query("SELECT Id FROM Opportunity")
    world.edit(opp["Id"], StageName="Qualification")  # accepted: edits flow both ways
    world.sync(f"opportunity:{opp['Id']}")
    assert world.referral(referral["id"])["status"] == "Active"
    return str(referral["id"]), str(opp["Id"])


def held(world: World, referral_id: str, opp_id: str) -> tuple[tuple[Any, Any], tuple[Any, Any]]:
    details = world.referral(referral_id)["details"]
    opp = world.opp(opp_id)
    return (details["notes"], opp["Description"]), (details["dealValue"], opp["Amount"])


@pytest.mark.parametrize("when", ["after_update", "note"])
def test_a_partner_center_edit_that_reached_the_crm_is_not_undone_by_the_next_one(
    world: World, when: str
) -> None:
    referral_id, opp_id = shared_pair(world)
    world.microsoft_update(referral_id, details={"notes": "microsoft 1", "dealValue": 20000})
    failing = engine_with(world, FailingCrm(world, when))
    world.emulator_clock.advance(1)
    with pytest.raises((ServerError, TransportError)):
        failing.reconcile_key(f"referral:{referral_id}")
    assert world.opp(opp_id)["Description"] == "microsoft 1"  # the write landed

    world.microsoft_update(referral_id, details={"notes": "microsoft 2", "dealValue": 30000})
    world.sync(f"referral:{referral_id}")

    assert held(world, referral_id, opp_id) == (("microsoft 2",) * 2, (30000, 30000))
    assert PENDING_KEY not in world.link_for(opp_id).base


def test_a_crm_edit_partner_center_took_is_agreed_though_the_crm_write_failed(
    world: World,
) -> None:
    referral_id, opp_id = shared_pair(world)
    world.edit(opp_id, Description="seller 1", Amount=15000)
    failing = engine_with(world, FailingCrm(world, "before_update"))
    world.emulator_clock.advance(1)
    with pytest.raises(ServerError):
        failing.reconcile_key(f"opportunity:{opp_id}")
    assert world.referral(referral_id)["details"]["notes"] == "seller 1"  # Partner Center took it

    # A Microsoft seller edits the referral after that: the newer value wins on both sides.
    world.microsoft_update(referral_id, details={"notes": "microsoft 2", "dealValue": 30000})
    world.sync(f"referral:{referral_id}")

    assert held(world, referral_id, opp_id) == (("microsoft 2",) * 2, (30000, 30000))


def test_a_write_that_did_not_land_is_sent_again_and_nothing_else_moves(world: World) -> None:
    referral_id, opp_id = shared_pair(world)
    world.microsoft_update(referral_id, details={"notes": "microsoft 1"})
    failing = engine_with(world, FailingCrm(world, "before_update"))
    world.emulator_clock.advance(1)
    with pytest.raises(ServerError):
        failing.reconcile_key(f"referral:{referral_id}")
    assert world.opp(opp_id)["Description"] == "shared 1"
    assert PENDING_KEY in world.link_for(opp_id).base  # written ahead, not agreed

    world.sync(f"referral:{referral_id}")
    assert held(world, referral_id, opp_id) == (("microsoft 1",) * 2, (10000, 10000))
    assert PENDING_KEY not in world.link_for(opp_id).base
    before = world.writes()
    world.sync(f"referral:{referral_id}")
    world.sync(f"opportunity:{opp_id}")
    assert world.writes() == before


def test_a_seller_edit_over_a_landed_write_still_wins_by_the_owner_rule(world: World) -> None:
    referral_id, opp_id = shared_pair(world)
    world.microsoft_update(referral_id, details={"notes": "microsoft 1"})
    failing = engine_with(world, FailingCrm(world, "after_update"))
    world.emulator_clock.advance(1)
    with pytest.raises(TransportError):
        failing.reconcile_key(f"referral:{referral_id}")
    world.edit(opp_id, Description="seller 2")  # after cosell's write landed

    world.sync(f"opportunity:{opp_id}")
    assert held(world, referral_id, opp_id)[0] == ("seller 2", "seller 2")


# --- a graceful stop hands a run still going back untouched ---------------------------------------


class StuckCrm(CrmSide):
    """The opportunity write waits until the test lets it go."""

    def __init__(self, world: World) -> None:
        crm = world.engine.crm
        assert isinstance(crm, CrmSide)
        super().__init__(crm.client, crm.schema, crm._clock)
        self.writing, self.release, self.done = (
            threading.Event(),
            threading.Event(),
            threading.Event(),
        )

    def update(self, record: CrmRecord, write: CrmWrite, extra: Mapping[str, Any]) -> bool:
        self.writing.set()
        try:
            assert self.release.wait(20)
            return super().update(record, write, extra)
        finally:
            self.done.set()


def test_a_reconcile_handed_back_at_stop_writes_and_commits_nothing_more(world: World) -> None:
    referral_id, opp_id = shared_pair(world)
    world.microsoft_update(referral_id, details={"notes": "microsoft 1"})
    stuck = StuckCrm(world)
    queue = world.queue(engine_with(world, stuck))
    audit_before = len(world.store.audit_for(world.tenant, referral_id))
    writes_before = world.writes()
    queue.start()
    queue.enqueue(world.tenant, f"referral:{referral_id}")
    assert stuck.writing.wait(20)

    assert queue.stop(drain=True, timeout=0.2) is False
    [entry] = queue.queued(world.tenant)
    assert entry.lease_owner is None  # the next start takes it at once
    stuck.release.set()
    assert stuck.done.wait(20)

    assert world.opp(opp_id)["Description"] == "shared 1"  # the write was not sent
    assert world.writes() == writes_before
    assert len(world.store.audit_for(world.tenant, referral_id)) == audit_before
    assert queue.stats.completed == queue.stats.retried == queue.stats.dead_lettered == 0

    world.queue().run_until_idle(timeout=30)  # the next start
    assert held(world, referral_id, opp_id)[0] == ("microsoft 1", "microsoft 1")
    assert PENDING_KEY not in world.link_for(opp_id).base


# --- a create whose answer was lost: the seller's edits made since are edits --------------------


CONTACTS = [
    {"firstName": "Rui", "lastName": "Costa", "email": "rui@fabrikam.example"},
    {"firstName": "Ana", "lastName": "Lima", "email": "ana@fabrikam.example"},
]


def lose_next_answer(monkeypatch: pytest.MonkeyPatch, owner: object, name: str) -> None:
    """The next call of ``owner.name`` is made, and its answer never arrives."""
    original = getattr(owner, name)

    def lost(*args: Any, **kwargs: Any) -> Any:
        monkeypatch.setattr(owner, name, original)
        original(*args, **kwargs)
        raise TransportError("connection dropped")

    monkeypatch.setattr(owner, name, lost)


def create_whose_answer_is_lost(world: World, monkeypatch: pytest.MonkeyPatch) -> tuple[str, str]:
    """A shared referral whose opportunity Salesforce made, the answer never arriving: the
    referral's id and the opportunity's."""
    referral = world.share_referral(
        name="Fabrikam platform",
        details={"dealValue": 1000, "notes": "shared", "closingDateTime": "2026-12-31T00:00:00Z"},
        customerProfile={"name": "Fabrikam", "address": {"country": "DE"}, "team": CONTACTS},
    )
    rid = str(referral["id"])
    crm = world.engine.crm
    lose_next_answer(monkeypatch, crm, "create")  # Salesforce makes the opportunity
    with pytest.raises(TransportError):
        world.sync(f"referral:{rid}")
    opp_id = crm.find_by_referral(rid)
    assert opp_id is not None
    return rid, opp_id


def test_seller_edits_after_a_create_whose_answer_was_lost_are_kept(
    world: World, monkeypatch: pytest.MonkeyPatch
) -> None:
    rid, opp_id = create_whose_answer_is_lost(world, monkeypatch)
    # Before cosell runs again, the seller accepts the opportunity and edits it.
    world.edit(opp_id, StageName="Qualification", Amount=4200, Description="seller 1")

    world.sync(f"referral:{rid}")
    world.sync(f"opportunity:{opp_id}")

    pc = world.referral(rid)
    opp = world.opp(opp_id)
    assert (opp["Amount"], opp["Description"], opp["StageName"]) == (
        4200,
        "seller 1",
        "Qualification",
    )
    assert (pc["details"]["dealValue"], pc["details"]["notes"]) == (4200, "seller 1")
    assert pc["status"] == "Active"
    roles = world.query("SELECT Contact.Email FROM OpportunityContactRole")
    assert {r["Contact"]["Email"] for r in roles} == {c["email"] for c in CONTACTS}
    assert PENDING_KEY not in world.link_for(opp_id).base


def test_a_contact_edited_after_a_create_whose_answer_was_lost_is_kept(
    world: World, monkeypatch: pytest.MonkeyPatch
) -> None:
    """The create's related rows were all made (Salesforce's graph is all or none): a contact
    the seller edits before cosell runs again is an edit, not a row still to write. It was
    taken for one, and the referral's old email written back over it (seen in a soak: a killed
    create, then the seller's edit of the new deal's contact)."""
    rid, opp_id = create_whose_answer_is_lost(world, monkeypatch)
    (rui,) = world.query("SELECT Id FROM Contact WHERE Email = 'rui@fabrikam.example'")
    world.emulator_clock.advance(1)
    world.sf_client.update("Contact", rui["Id"], {"Email": "rui.costa@fabrikam.example"})
    world.edit(opp_id, StageName="Qualification")  # accepted: the CRM's values go back

    world.sync(f"referral:{rid}")
    world.sync(f"opportunity:{opp_id}")

    roles = world.query("SELECT Contact.Email FROM OpportunityContactRole")
    assert {r["Contact"]["Email"] for r in roles} == {
        "rui.costa@fabrikam.example",
        "ana@fabrikam.example",
    }
    team = world.referral(rid)["customerProfile"]["team"]
    assert {member["email"] for member in team} == {
        "rui.costa@fabrikam.example",
        "ana@fabrikam.example",
    }
    assert PENDING_KEY not in world.link_for(opp_id).base


@pytest.mark.parametrize("failure", ["crm_refused", "partner_center_answer_lost"])
def test_contacts_merged_on_both_sides_whose_crm_write_failed_raise_no_removed_contact_again(
    world: World, monkeypatch: pytest.MonkeyPatch, failure: str
) -> None:
    """Partner Center took a merged list (the seller's change of a contact's email, and a
    contact Microsoft added), then the CRM write failed (or Partner Center's answer was lost).
    The base kept the old list for the field, as for a value still to reach the CRM (or, its
    answer lost, took the whole merged list when Partner Center held it); but Partner Center
    now held the seller's change and the CRM not Microsoft's, so the next merge read the email
    the seller had replaced as one Microsoft added, and brought it back as a second contact
    when the seller changed it again (seen in a scale-out soak)."""
    referral = world.share_referral(
        details={"dealValue": 10000, "notes": "shared", "closingDateTime": "2026-12-31T00:00:00Z"},
        customerProfile={"name": "Fabrikam", "address": {"country": "DE"}, "team": CONTACTS},
    )
    rid = str(referral["id"])
    world.sync(f"referral:{rid}")
    [opp] = world.query("SELECT Id FROM Opportunity")
    world.edit(opp["Id"], StageName="Qualification")
    world.sync(f"opportunity:{opp['Id']}")
    (rui,) = world.query("SELECT Id FROM Contact WHERE Email = 'rui@fabrikam.example'")

    world.emulator_clock.advance(1)
    world.sf_client.update("Contact", rui["Id"], {"Email": "rui.2@fabrikam.example"})
    customer = world.referral(rid)["customerProfile"]
    mia = {"firstName": "Mia", "lastName": "Sousa", "email": "mia@fabrikam.example"}
    world.microsoft_update(rid, customerProfile={**customer, "team": [*customer["team"], mia]})
    if failure == "crm_refused":
        failing = engine_with(world, FailingCrm(world, "before_update"))
    else:
        failing = world.engine
        lose_next_answer(monkeypatch, world.engine.pc, "patch")  # Partner Center takes it
    world.emulator_clock.advance(1)
    with pytest.raises((ServerError, TransportError)):
        failing.reconcile_key(f"opportunity:{opp['Id']}")
    team = {m["email"] for m in world.referral(rid)["customerProfile"]["team"]}
    assert "rui.2@fabrikam.example" in team  # Partner Center took the merged list

    world.emulator_clock.advance(1)
    world.sf_client.update("Contact", rui["Id"], {"Email": "rui.3@fabrikam.example"})
    world.sync(f"opportunity:{opp['Id']}")
    world.sync(f"referral:{rid}")

    expected = {"ana@fabrikam.example", "mia@fabrikam.example", "rui.3@fabrikam.example"}
    roles = world.query("SELECT Contact.Email FROM OpportunityContactRole")
    assert {r["Contact"]["Email"] for r in roles} == expected
    assert {m["email"] for m in world.referral(rid)["customerProfile"]["team"]} == expected
