"""API calls per reconcile, pinned as behaviour: what one synced record costs on each side.

Salesforce's daily API budget is the scarce resource, so each case counts the emulators' calls
(logins excluded) for one reconcile of a key, exactly, beside the floor of its path:

- **Reading a pair**: one query; the opportunity's account fields through ``Account.``, its
  contact roles (with the contacts), solution rows, team and notes Note as parent-to-child
  subqueries of the same query (``SELECT ..., (SELECT ... FROM OpportunityContactRoles) ...``).
  Floor 1.
- **An update either way**: the read, then one write carrying the fields, the status and the
  audit line (related rows join it in one ``composite`` request). Floor 2.
- **Partner Center → CRM create**: the look-up by referral id that keeps the create idempotent
  and the account candidates of every matching rule, two queries of one ``composite`` call; one
  composite graph creating account, contacts, opportunity, contact roles, solution rows and
  note; then the read of the round that writes the referral's new link back (its stamps are
  what the polls compare). Measured 3 (a referral without a closing date too: the default is
  written with the create).
- **Cosell's own writes coming back**: a signal about them reads the signalled side only (see
  ``tests/sync/test_signal_scope.py``).
- **Related rows**: a Partner Center change of contacts and solutions is the read, one query
  for the account's contacts having a new member's email (one contact per email), and one
  ``composite`` request (floor 2, measured 3); a seller's new contact role is the read and the
  status write (floor 2, measured 2).
- **CRM → Partner Center create**: the read, and one write of the new referral's id, status and
  audit. Floor 2, measured 2: the round after the create plans on the opportunity the first
  round read (it wrote nothing to the CRM; the write stays guarded by that read).
"""

from __future__ import annotations

from typing import Any

from engine_world import World
from sync_samples import fabrikam_share
from test_engine import flagged_opportunity, shared

QUERY = "GET /services/data/v{version}/query"
PC_GET = "GET /v1.0/engagements/referrals/{id}"
PC_PATCH = "PATCH /v1.0/engagements/referrals/{id}"
SF_PATCH = "PATCH /services/data/v{version}/sobjects/{sobject}/{record_id}"
GRAPH = "POST /services/data/v{version}/composite/graph"
COMPOSITE = "POST /services/data/v{version}/composite"


def calls(world: World) -> tuple[dict[str, int], dict[str, int]]:
    """Partner Center and Salesforce calls by route since the last call, then reset."""
    counted = []
    for app in (world.pc_app, world.sf_app):
        log = app.state.emulator.calls
        seen = log.snapshot()["calls"]
        counted.append({r: n for r, n in seen.items() if "oauth2" not in r and "token" not in r})
        log.reset()
    return counted[0], counted[1]


def writes(side: dict[str, int]) -> int:
    return sum(n for route, n in side.items() if not route.startswith("GET "))


def linked_incoming(world: World) -> tuple[str, str]:
    rid = str(shared(world)["id"])
    world.sync(f"referral:{rid}")
    link = world.store.link_by_referral(world.tenant, rid)
    assert link is not None
    assert link.opportunity_id
    return rid, link.opportunity_id


def test_an_incoming_referral_becomes_an_opportunity_in_a_bounded_number_of_calls(
    world: World,
) -> None:
    rid = str(shared(world)["id"])
    calls(world)
    world.sync(f"referral:{rid}")
    pc, sf = calls(world)
    # Two rounds: the create, then the write-back of the opportunity's id. The second plans
    # on the referral the first read (it wrote nothing to Partner Center; the PATCH is
    # eTag-guarded) and writes nothing to the opportunity: the id written back is audited in
    # the store, and the record's Audit__c already says it was created from the referral.
    # Salesforce: the lookup by referral id and the account match in one composite call, then
    # the create with a read of what it made, in one all-or-none composite: the second round
    # plans on that read (was: a graph, then a query reading it; before that the lookup and
    # the match took a call each).
    assert pc == {PC_GET: 1, PC_PATCH: 1}
    assert sf == {COMPOSITE: 2}


def test_a_referral_without_a_closing_date_costs_no_more_calls(world: World) -> None:
    body = fabrikam_share()
    del body["details"]["closingDateTime"]
    rid = str(world.share_referral(**body)["id"])
    calls(world)
    world.sync(f"referral:{rid}")
    # The default close date is written with the create (was: held as a seller's edit, one
    # more opportunity write with the "held" status and audit lines).
    assert calls(world) == ({PC_GET: 1, PC_PATCH: 1}, {COMPOSITE: 2})


def test_a_flagged_opportunity_becomes_a_referral_in_a_bounded_number_of_calls(
    world: World,
) -> None:
    opp_id = flagged_opportunity(world)
    calls(world)
    world.sync(f"opportunity:{opp_id}")
    pc, sf = calls(world)
    # The create alone: its intent is recorded before it is sent, so with none earlier no
    # attempt can have made it, and the lookup by externalReferenceId is for a retry (it was
    # made every time). The second round plans on the referral as the create answered it.
    assert pc == {"POST /v1.0/engagements/referrals": 1}  # no earlier attempt: no lookup
    # One read for both rounds; ids, link, status and audit in one guarded opportunity update,
    # read back in the same composite (the link keeps what it wrote: no poll reads it again).
    assert sf == {QUERY: 1, COMPOSITE: 1}


def test_a_partner_center_edit_reaches_the_opportunity_with_one_read_each_and_one_write(
    world: World,
) -> None:
    rid, _ = linked_incoming(world)
    world.microsoft_update(rid, details={"dealValue": 61000}, status="Active", substatus="Accepted")
    calls(world)
    world.sync(f"referral:{rid}")
    pc, sf = calls(world)
    assert pc == {PC_GET: 1}
    assert sf == {QUERY: 1, COMPOSITE: 1}


def test_a_crm_edit_reaches_the_referral_with_one_patch_and_one_opportunity_update(
    world: World,
) -> None:
    opp_id = flagged_opportunity(world)
    world.sync(f"opportunity:{opp_id}")
    world.edit(opp_id, Amount=200000)
    calls(world)
    world.sync(f"opportunity:{opp_id}")
    pc, sf = calls(world)
    assert pc == {PC_GET: 1, PC_PATCH: 1}
    assert sf == {QUERY: 1, COMPOSITE: 1}  # the read; the status and audit line, read back


def test_an_unchanged_pair_reconciles_with_reads_only(world: World) -> None:
    rid, opp_id = linked_incoming(world)
    for key in (f"referral:{rid}", f"opportunity:{opp_id}"):
        calls(world)
        world.sync(key)
        pc, sf = calls(world)
        assert pc == {PC_GET: 1}
        # The opportunity with its account, team, contact roles, solution rows and note in
        # one query; no user list (every member is matched) and no writes.
        assert sf == {QUERY: 1}


def test_partner_center_related_changes_reach_the_opportunity_in_one_write_request(
    world: World,
) -> None:
    rid, _ = linked_incoming(world)
    referral = world.referral(rid)
    team = [
        *referral["customerProfile"]["team"],
        {"firstName": "Ines", "lastName": "Moreau", "email": "ines@fabrikam.example"},
    ]
    solutions = [{"id": "SOL-9", "name": "Nine"}, {"id": "SOL-10", "name": "Ten"}]
    world.microsoft_update(
        rid,
        customerProfile={**referral["customerProfile"], "team": team},
        details={"requirements": {"solutions": solutions}},
    )
    calls(world)
    world.sync(f"referral:{rid}")
    pc, sf = calls(world)
    assert pc == {PC_GET: 1}
    # The read; the account's contacts with the new member's email; one composite request with
    # the new contact, its role, the solution row, the status and the audit line. Floor 2 (3
    # with the contact look-up that keeps one contact per email).
    assert sf == {QUERY: 2, COMPOSITE: 1}


def test_crm_related_changes_reach_the_referral_with_one_patch_and_one_status_write(
    world: World,
) -> None:
    opp_id = flagged_opportunity(world)
    world.sync(f"opportunity:{opp_id}")
    world.add_contact(opp_id, "new.person@example.com")
    calls(world)
    world.sync(f"opportunity:{opp_id}")
    pc, sf = calls(world)
    assert pc == {PC_GET: 1, PC_PATCH: 1}
    assert sf == {QUERY: 1, COMPOSITE: 1}  # the read; status and audit, read back. Floor 2.


def test_a_seller_edit_between_the_create_rounds_is_not_overwritten(world: World) -> None:
    """The second round plans on the first round's read; an edit made in between makes its
    guarded write answer 412, and the re-read keeps the seller's value."""
    opp_id = flagged_opportunity(world)
    pc_side = world.engine.pc
    original = pc_side.create

    def create_then_seller_edits(*args: object, **kwargs: object) -> object:
        created = original(*args, **kwargs)  # type: ignore[arg-type]
        world.emulator_clock.advance(2)
        world.edit(opp_id, Description="typed by the seller meanwhile")
        return created

    pc_side.create = create_then_seller_edits  # type: ignore[method-assign]
    rereads = world.engine.stats.rereads
    world.hold_time()
    try:
        world.sync(f"opportunity:{opp_id}")
    finally:
        pc_side.create = original  # type: ignore[method-assign]
    # The guard answered 412; the re-read came in the second of the seller's edit, so the write
    # waited for that second to end and read once more (a later edit in it would pass a guard).
    assert world.engine.stats.rereads == rereads + 2
    assert world.opp(opp_id)["Description"] == "typed by the seller meanwhile"
    link = world.link_for(opp_id)
    assert link is not None
    assert link.referral_id


def test_a_referral_changed_between_the_create_and_the_write_back_is_read_again(
    world: World,
) -> None:
    """The round after the create plans on the referral the create read; when Microsoft edits
    it in between, the write-back's eTag answers 412 and the pair is read again: the edit
    reaches the opportunity and the write-back lands."""
    rid = str(shared(world)["id"])
    create = world.engine.crm.create

    def create_then_microsoft_edits(*args: Any, **kwargs: Any) -> str:
        made = create(*args, **kwargs)
        world.microsoft_update(rid, details={"dealValue": 98765})
        return made

    world.engine.crm.create = create_then_microsoft_edits  # type: ignore[method-assign]
    world.full_pass()
    link = world.store.link_by_referral(world.tenant, rid)
    assert link is not None
    assert link.opportunity_id
    assert world.opp(link.opportunity_id)["Amount"] == 98765
    assert world.referral(rid)["externalReferenceId"] == link.opportunity_id
