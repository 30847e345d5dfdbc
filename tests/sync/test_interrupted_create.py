"""A create interrupted after the opportunity (the contacts half written) or an update whose CRM
write failed: the next reconcile finishes with the creator's values; nothing on the other side
is read as an edit or a deletion, and nothing is held."""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from typing import Any

import pytest
from engine_world import World

from cosell.errors import TransportError
from cosell.sync.sides.crm_record import CrmRecord

CONTACTS = [
    {"firstName": "Rui", "lastName": "Costa", "email": "rui@fabrikam.example"},
    {"firstName": "Ines", "lastName": "Moreau", "email": "ines@fabrikam.example"},
    {"firstName": "Ana", "lastName": "Lima", "email": "ana@fabrikam.example"},
]


def share(world: World, **details: Any) -> str:
    body = {
        "name": "Fabrikam platform",
        "details": {"dealValue": 1000, "closingDateTime": "2026-12-31T00:00:00Z", **details},
        "customerProfile": {"name": "Fabrikam", "address": {"country": "DE"}, "team": CONTACTS},
    }
    return str(world.share_referral(**body)["id"])


def cut_after_first_contact(world: World, monkeypatch: pytest.MonkeyPatch) -> None:
    """The connection drops after one contact of the create is written, once."""
    rows = world.engine.crm.rows  # type: ignore[attr-defined]
    original = rows.sync_contacts

    def once(record: CrmRecord, desired: Iterable[Mapping[str, Any]]) -> bool:
        monkeypatch.setattr(rows, "sync_contacts", original)
        original(record, list(desired)[:1])
        raise TransportError("connection dropped")

    monkeypatch.setattr(rows, "sync_contacts", once)


def crm_emails(world: World) -> set[str]:
    rows = world.query("SELECT Contact.Email FROM OpportunityContactRole")
    return {str(r["Contact"]["Email"]).casefold() for r in rows}


def test_a_create_cut_between_opportunity_and_contacts_is_finished_not_deleted(
    world: World, monkeypatch: pytest.MonkeyPatch
) -> None:
    rid = share(world)
    cut_after_first_contact(world, monkeypatch)
    with pytest.raises(TransportError):
        world.sync(f"referral:{rid}")
    assert len(crm_emails(world)) == 1
    world.sync(f"referral:{rid}")
    world.sync(f"referral:{rid}")
    emails = {c["email"] for c in CONTACTS}
    assert crm_emails(world) == emails
    team = world.referral(rid)["customerProfile"]["team"]
    assert {m["email"] for m in team} == emails


def test_an_update_after_a_cut_create_reaches_the_crm_and_nothing_is_held(
    world: World, monkeypatch: pytest.MonkeyPatch
) -> None:
    rid = share(world)
    cut_after_first_contact(world, monkeypatch)
    with pytest.raises(TransportError):
        world.sync(f"referral:{rid}")
    world.microsoft_update(rid, details={"dealValue": 2500})
    world.sync(f"referral:{rid}")
    world.sync(f"referral:{rid}")
    opp_id = world.engine.crm.find_by_referral(rid)
    assert opp_id is not None
    assert world.opp(opp_id)["Amount"] == 2500
    assert world.referral(rid)["details"]["dealValue"] == 2500
    link = world.link_for(opp_id)
    assert link is not None
    assert not [a for a in world.store.audit_for(world.tenant, rid) if a.outcome == "skipped"]


def test_a_crm_write_failing_once_is_retried_with_the_partner_center_value(
    world: World, monkeypatch: pytest.MonkeyPatch
) -> None:
    rid = share(world)
    world.sync(f"referral:{rid}")
    world.sync(f"referral:{rid}")
    world.microsoft_update(rid, details={"dealValue": 4200})
    crm = world.engine.crm
    original = crm.update

    def fail_once(*args: Any, **kwargs: Any) -> bool:
        monkeypatch.setattr(crm, "update", original)
        raise TransportError("connection dropped")

    monkeypatch.setattr(crm, "update", fail_once)
    with pytest.raises(TransportError):
        world.sync(f"referral:{rid}")
    world.sync(f"referral:{rid}")
    opp_id = crm.find_by_referral(rid)
    assert opp_id is not None
    assert world.opp(opp_id)["Amount"] == 4200
    assert world.referral(rid)["details"]["dealValue"] == 4200
