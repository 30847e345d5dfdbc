"""An opportunity cosell made that a person deleted before cosell recorded it (the process died
between the create and its commit, or the deal went while HubSpot's create was linking its
company, contacts and note) is found in the CRM's recycle bin and is not made again: the pair
is linked to it (with the base its create planned), as a pair whose opportunity was deleted
later is, and the ledger and audit say what happened; restored from the bin, it syncs again.
Before, the next reconcile found no opportunity holding the referral and made another, undoing
the seller's delete (seen in HubSpot soaks, on PostgreSQL and on SQLite)."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest
from crm_worlds import CRMS, HS_BASE, CrashingStore, CrmWorld, build_crm_world, hubspot_side
from starlette.testclient import TestClient

from cosell.errors import NotFound

TEAM = [{"firstName": "Rui", "lastName": "Costa", "email": "rui@fabrikam.example"}]


def share(world: CrmWorld) -> str:
    body = {
        "name": "Fabrikam platform",
        "details": {
            "dealValue": 1000,
            "closingDateTime": "2026-12-31T00:00:00Z",
            "notes": "Wants a pilot",
        },
        "customerProfile": {"name": "Fabrikam", "address": {"country": "DE"}, "team": TEAM},
    }
    return str(world.share_referral(**body)["id"])


def assert_recorded_as_deleted(world: CrmWorld, referral_id: str, deleted: str) -> None:
    assert world.seller.records() == []  # nothing made again
    link = world.store.link_by_referral(world.tenant, referral_id)
    assert link is not None
    assert (link.state, link.opportunity_id, link.intent) == ("linked", deleted, None)
    row = world.store.ledger_for(world.tenant, referral_id)
    assert row is not None
    assert row.state == "skipped"
    assert f"opportunity {deleted} was deleted in the CRM as cosell created it" in row.reason
    audit = world.store.audit_for(world.tenant, referral_id, limit=1)
    assert audit[0].message == row.reason
    assert world.store.dead_letter_for(world.tenant, f"referral:{referral_id}") is None


@pytest.mark.parametrize("crm", CRMS)
def test_an_opportunity_deleted_before_its_create_was_committed_is_not_made_again(
    tmp_path: Path, crm: str
) -> None:
    world = build_crm_world(tmp_path, crm, CrashingStore)
    store = world.store
    assert isinstance(store, CrashingStore)
    rid = share(world)
    store.crash_next = True
    with pytest.raises(RuntimeError, match="process died"):
        world.sync(f"referral:{rid}")
    [made] = world.seller.records()
    world.seller.delete(made)

    world.sync(f"referral:{rid}")

    assert_recorded_as_deleted(world, rid, made)
    world.microsoft_update(rid, details={"dealValue": 2000})
    world.sync(f"referral:{rid}")
    assert world.seller.records() == []
    store.close()


def test_a_deal_deleted_while_its_create_linked_its_note_is_recorded_in_the_same_reconcile(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """The note's create answers 404 (its deal is gone): the reconcile reads again at once and
    finds the deal in the recycle bin, instead of refusing the referral with HubSpot's "Object
    not found" and making a new deal on its next signal."""
    world = build_crm_world(tmp_path, "hubspot")
    side = hubspot_side(world)
    new_note = side.relations.new_note

    def deleted_first(deal_id: str, *args: Any) -> Any:
        world.seller.delete(deal_id)  # the seller, at that moment
        monkeypatch.setattr(side.relations, "new_note", new_note)
        return new_note(deal_id, *args)

    monkeypatch.setattr(side.relations, "new_note", deleted_first)
    rid = share(world)
    with pytest.raises(NotFound):
        new_note("1", "a note on no deal")  # what HubSpot answers: the association's target
    world.sync(f"referral:{rid}")

    deleted = world.store.link_by_referral(world.tenant, rid)
    assert deleted is not None
    assert deleted.opportunity_id is not None
    assert_recorded_as_deleted(world, rid, deleted.opportunity_id)

    # Restored from the recycle bin, the deal syncs again from the base its create planned.
    ui = TestClient(world.seller.app, base_url=HS_BASE)
    ui.post(f"/_emulator/objects/deals/{deleted.opportunity_id}/restore").raise_for_status()
    world.microsoft_update(rid, details={"dealValue": 2500})
    world.sync(f"referral:{rid}")
    assert world.seller.records() == [deleted.opportunity_id]
    assert world.value(deleted.opportunity_id, "deal_value") == "2500.00"
    row = world.store.ledger_for(world.tenant, rid)
    assert row is not None
    assert row.state == "synced"
    world.store.close()


@pytest.mark.parametrize("crm", CRMS)
def test_an_opportunity_deleted_as_cosell_writes_to_it_is_missing_not_refused(
    tmp_path: Path, crm: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Microsoft's change is being written to the opportunity as the seller deletes it: the CRM
    answers 404 (Salesforce ``ENTITY_IS_DELETED``; HubSpot's stamp check finds no deal). The
    pair is read again and is missing, as after any delete; before, the referral was refused
    with the CRM's words and dead-lettered (seen in the soaks on both CRMs)."""
    world = build_crm_world(tmp_path, crm)
    rid = share(world)
    world.sync(f"referral:{rid}")
    [made] = world.seller.records()
    crm_side = world.engine.crm
    update = crm_side.update

    def deleted_first(*args: Any, **kwargs: Any) -> Any:
        world.seller.delete(made)  # the seller, at that moment
        monkeypatch.setattr(crm_side, "update", update)
        return update(*args, **kwargs)

    monkeypatch.setattr(crm_side, "update", deleted_first)
    world.microsoft_update(rid, details={"dealValue": 2000})

    world.sync(f"referral:{rid}")

    assert world.seller.records() == []
    row = world.store.ledger_for(world.tenant, rid)
    assert row is not None
    assert row.state != "refused"
    assert world.store.dead_letter_for(world.tenant, f"referral:{rid}") is None
    link = world.store.link_by_referral(world.tenant, rid)
    assert link is not None
    assert link.opportunity_id == made
    world.store.close()
