"""A create whose answer was lost (Salesforce committed the graph, the connection dropped), or
an update whose CRM write failed: the next reconcile finishes with the creator's values; nothing
on the other side is read as an edit or a deletion, nothing is made twice, and nothing is held.
(The create itself is one all-or-none request, so it is never half written.)"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

import pytest
from engine_world import World

from cosell.clients.salesforce_composite import GraphNode, NodeResult
from cosell.errors import TransportError

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
    """The connection drops once, after Salesforce committed the create's request (the first
    ``composite`` that writes) and before its answer arrived."""
    client = world.engine.crm.client  # type: ignore[attr-defined]
    original = client.composite

    def once(nodes: Sequence[GraphNode], **options: Any) -> tuple[NodeResult, ...]:
        answer: tuple[NodeResult, ...] = original(nodes, **options)
        if all(node.method == "GET" for node in nodes):
            return answer  # the lookup before it
        monkeypatch.setattr(client, "composite", original)
        raise TransportError("connection dropped")

    monkeypatch.setattr(client, "composite", once)


def crm_emails(world: World) -> set[str]:
    rows = world.query("SELECT Contact.Email FROM OpportunityContactRole")
    return {str(r["Contact"]["Email"]).casefold() for r in rows}


def test_a_create_whose_answer_was_lost_is_finished_not_made_twice(
    world: World, monkeypatch: pytest.MonkeyPatch
) -> None:
    rid = share(world)
    cut_after_first_contact(world, monkeypatch)
    with pytest.raises(TransportError):
        world.sync(f"referral:{rid}")
    assert len(crm_emails(world)) == len(CONTACTS)
    world.sync(f"referral:{rid}")
    world.sync(f"referral:{rid}")
    emails = {c["email"] for c in CONTACTS}
    assert crm_emails(world) == emails
    assert len(world.query("SELECT Id FROM Opportunity")) == 1
    assert len(world.query("SELECT Id FROM OpportunityContactRole")) == len(CONTACTS)
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
