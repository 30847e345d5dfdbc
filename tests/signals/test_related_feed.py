"""Related-row feeds against the Salesforce emulator in-process: an account, contact, contact
role, solution or team row that changes (or is deleted) marks its opportunity dirty when cosell
cares about it; rows resolve to opportunities with one query per batch; each row version is
enqueued once, due when its second has settled; our own writes cost one reconcile that writes
nothing."""

from __future__ import annotations

from datetime import datetime, timedelta

from engine_world import World
from signal_fakes import Cursors, RecordingQueue
from test_engine import flagged_opportunity
from test_related_watched import without

from cosell.queue.embedded import EmbeddedQueue
from cosell.settings import SyncSettings
from cosell.signals.feed import ChangeFeed, FeedWiring
from cosell.signals.poller import opportunity_poller
from cosell.signals.related_feed import RelatedFeed, RelatedPoll, related_poller
from cosell.signals.related_rows import RelatedRows, solution_object, watched_objects
from cosell.signals.synced import opportunity_synced, related_synced
from cosell.sync.sides.salesforce.side import CrmSide as SalesforceSide

FILTER = SyncSettings().poll_filter
QUERY = "GET /services/data/v{version}/query"
QUERY_ALL = "GET /services/data/v{version}/queryAll"
COMPOSITE = "POST /services/data/v{version}/composite"
SETTLE = 10
SOLUTIONS = solution_object("Microsoft_Solution__c", "Opportunity__c")
INTEGRATION_USER = "005000000000IntAAA"
"""cosell's own Salesforce user where it is not the people's."""


def poll(
    world: World,
    queue: object,
    where: str = FILTER,
    *,
    known: bool = False,
    own_user: str | None = None,
) -> RelatedPoll:
    """The service's related poll over the world's org, on the org's clock (``known``: with
    the service's check of versions already reconciled; ``own_user``: cosell signed in as
    another user than the world's people, else as the same)."""
    user = (lambda: own_user) if own_user else world.sf_client.user_id
    extra = {"known": related_synced(world.store, world.tenant, user)}
    return related_poller(
        world.sf_client,
        lambda: watched_objects(world.engine.schema),
        FeedWiring(
            queue,  # type: ignore[arg-type]
            Cursors(),
            world.tenant,
            overlap=timedelta(seconds=60),
            clock=world.emulator_clock,
        ),
        where=where,
        **(extra if known else {}),
    )


def started(world: World, queue: RecordingQueue, where: str = FILTER) -> RelatedPoll:
    """A poll past its first look (which only records where to start) and its second (which
    reads the overlap before that start), with nothing recorded yet."""
    related = poll(world, queue, where)
    assert related.look() == 0
    assert queue.keys == []
    world.emulator_clock.advance(1)
    related.look()
    queue.calls.clear()
    queue.due.clear()
    queue.scopes.clear()
    return related


def opportunity_poll(world: World, wiring: FeedWiring) -> ChangeFeed:
    """The opportunity poll as the service wires it: versions, and changes read in full."""
    crm = world.engine.crm
    assert isinstance(crm, SalesforceSide)
    return opportunity_poller(
        world.sf_client,
        wiring,
        where=FILTER,
        synced=opportunity_synced(world.store, world.tenant),
        version=lambda: crm.version,
        full_read=lambda: crm,
    )


def settled_look(world: World, related: RelatedPoll) -> int:
    """Look once every stamp so far has settled."""
    world.emulator_clock.advance(SETTLE + 1)
    return related.look()


def flagged(world: World, **fields: object) -> str:
    return world.opportunity(Sync_with_Partner_Center__c=True, **fields)


def test_an_account_fix_marks_its_flagged_opportunity_and_no_other(world: World) -> None:
    wanted = flagged(world, contacts=0)
    other = world.opportunity(contacts=0)
    queue = RecordingQueue()
    related = started(world, queue)
    for opportunity_id in (wanted, other):
        account_id = world.opp(opportunity_id)["AccountId"]
        world.sf_client.update("Account", account_id, {"BillingCountry": "FR"})

    assert settled_look(world, related) == 1
    assert queue.keys == [f"opportunity:{wanted}"]
    assert queue.due == [None]  # settled already: due at once
    assert queue.scopes == ["crm"]
    assert settled_look(world, related) == 0  # the overlap re-reads it; it is not enqueued again


def test_a_contact_edit_and_a_removed_contact_role_mark_the_opportunity(world: World) -> None:
    opportunity_id = flagged(world, contacts=2)
    queue = RecordingQueue()
    related = started(world, queue)
    contact_id = world.query("SELECT Id FROM Contact WHERE Email = 'buyer0@northwind.example'")[0]
    world.sf_client.update("Contact", str(contact_id["Id"]), {"Email": "jo@northwind.example"})
    assert settled_look(world, related) == 1

    soql = "SELECT Id FROM OpportunityContactRole WHERE Contact.Email = 'buyer1@northwind.example'"
    world.sf_client.delete("OpportunityContactRole", str(world.query(soql)[0]["Id"]))
    assert settled_look(world, related) == 1
    assert queue.keys == [f"opportunity:{opportunity_id}"] * 2


def test_solution_rows_added_or_deleted_and_team_changes_mark_the_opportunity(
    world: World,
) -> None:
    opportunity_id = flagged(world, contacts=0)
    queue = RecordingQueue()
    related = started(world, queue)
    row = world.add_solution(opportunity_id, "SOL-7")
    assert settled_look(world, related) == 1
    world.sf_client.delete("Microsoft_Solution__c", row)  # seen through queryAll
    assert settled_look(world, related) == 1
    user = world.query("SELECT Id FROM User WHERE IsActive = true LIMIT 1")[0]["Id"]
    member = {"OpportunityId": opportunity_id, "UserId": user, "TeamMemberRole": "Sales Rep"}
    world.sf_client.create("OpportunityTeamMember", member)
    assert settled_look(world, related) == 1
    assert queue.keys == [f"opportunity:{opportunity_id}"] * 3


def test_an_unsettled_row_is_enqueued_once_due_when_its_second_has_settled(world: World) -> None:
    opportunity_id = flagged(world, contacts=0)
    queue = RecordingQueue()
    related = started(world, queue)
    row = world.add_solution(opportunity_id, "SOL-8")
    stamp = world.sf_client.get("Microsoft_Solution__c", row)["SystemModstamp"]
    for _ in range(4):  # looks while changes flow, inside the settle time and the overlap
        world.emulator_clock.advance(2)
        related.look()
    assert queue.keys == [f"opportunity:{opportunity_id}"]
    assert queue.due == [datetime.fromisoformat(stamp) + timedelta(seconds=SETTLE)]


def test_an_edit_in_the_second_the_poll_already_saw_is_enqueued(world: World) -> None:
    """A seller fixes the account's country twice in one second, the poll looking between:
    the second edit keeps the stamp, and its values tell it. Before, the row was known by its
    stamp and enqueued once, due when the second settled; where the key was already due (the
    opportunity poll's, or the first edit's), the queue kept the earlier time, so nothing read
    the second edit."""
    opportunity_id = flagged(world, contacts=0)
    account_id = world.opp(opportunity_id)["AccountId"]
    queue = RecordingQueue()
    related = started(world, queue)
    world.hold_time()
    world.sf_client.update("Account", account_id, {"BillingCountry": "FR"})
    assert related.look() == 1
    before = world.sf_client.get("Account", account_id)["SystemModstamp"]
    world.sf_client.update("Account", account_id, {"BillingCountry": "DE"})
    assert world.sf_client.get("Account", account_id)["SystemModstamp"] == before
    assert related.look() == 1
    assert related.look() == 0  # that version, once
    assert queue.keys == [f"opportunity:{opportunity_id}"] * 2
    settled = datetime.fromisoformat(before) + timedelta(seconds=SETTLE)
    assert queue.due == [settled, settled]


def test_rows_of_opportunities_the_filter_leaves_out_are_not_read_and_cost_no_call(
    world: World,
) -> None:
    wanted = [flagged(world, contacts=0) for _ in range(5)]
    others = [world.opportunity(contacts=0) for _ in range(2)]
    since = world.emulator_clock.now()
    for opportunity_id in [*wanted, *others]:
        world.add_solution(opportunity_id, "SOL-9")
    queue, cursors = RecordingQueue(), Cursors()
    cursors.set_cursor(world.tenant, "solutions", since.isoformat())
    feed = RelatedFeed(
        source=RelatedRows(world.sf_client, SOLUTIONS, FILTER),
        wiring=FeedWiring(
            queue, cursors, world.tenant, overlap=timedelta(seconds=5), clock=world.emulator_clock
        ),
        cursor_name="solutions",
        batch=3,
    )
    world.sf_app.state.emulator.calls.reset()
    assert feed.look() == 5
    calls = world.sf_app.state.emulator.calls.snapshot()["calls"]
    # The poll alone, one page: the filter is in it (before: three more queries finding, three
    # rows at a time, which of seven rows' opportunities were flagged).
    assert calls == {QUERY_ALL: 1}
    assert sorted(queue.keys) == sorted(f"opportunity:{i}" for i in wanted)


def test_without_a_filter_every_opportunity_counts_and_nothing_is_resolved(world: World) -> None:
    unflagged = world.opportunity(contacts=0)
    queue = RecordingQueue()
    related = started(world, queue, where="")
    world.add_solution(unflagged, "SOL-10")
    world.emulator_clock.advance(SETTLE + 1)
    world.sf_app.state.emulator.calls.reset()
    assert related.look() == 1
    assert queue.keys == [f"opportunity:{unflagged}"]
    # account, contact, roles, solutions, team: five queries in one composite call
    assert world.sf_app.state.emulator.calls.snapshot()["calls"] == {COMPOSITE: 1}


def test_an_idle_look_costs_one_call_for_every_watched_object(world: World) -> None:
    related = started(world, RecordingQueue())
    world.sf_app.state.emulator.calls.reset()
    assert related.look() == 0
    calls = world.sf_app.state.emulator.calls.snapshot()["calls"]
    assert calls == {COMPOSITE: 1}  # account, contact, roles, solutions, team: one composite


def test_a_mapping_without_related_lists_polls_only_what_it_reads(world: World) -> None:
    schema = without(world.engine.schema, "Contacts", "OpportunityTeam", "Products__c")
    related = related_poller(
        world.sf_client,
        lambda: watched_objects(schema),
        FeedWiring(RecordingQueue(), Cursors(), world.tenant, overlap=timedelta(seconds=60)),
        where=FILTER,
    )
    related.look()
    assert related.feeds is not None
    assert [feed.cursor_name for feed in related.feeds] == [
        "salesforce.related.account.systemmodstamp"
    ]


def test_our_own_related_writes_cost_one_look_at_the_opportunity_and_no_write(
    world: World,
) -> None:
    referral = world.share_referral(
        name="Contoso migration",
        customerProfile={
            "name": "Contoso",
            "address": {"country": "DE", "city": "Berlin"},
            "team": [{"firstName": "Rui", "lastName": "Costa", "email": "rui@contoso.example"}],
        },
        details={
            "dealValue": 9000,
            "currency": "EUR",
            "closingDateTime": "2026-12-31T00:00:00Z",
            "requirements": {"solutions": [{"id": "SOL-10", "name": "Ten"}]},
        },
        inviteContext={"assistanceRequestCode": "ProofOfConceptOrDemo"},
    )
    world.sync(f"referral:{referral['id']}")
    link = world.store.link_by_referral(world.tenant, str(referral["id"]))
    assert link is not None
    assert link.opportunity_id
    queue = EmbeddedQueue(world.store, world.engine.reconcile, clock=world.emulator_clock)
    related = poll(world, queue)
    related.look()
    world.emulator_clock.advance(120)  # the import's own rows are now older than the overlap

    both = [{"id": "SOL-10", "name": "Ten"}, {"id": "SOL-11", "name": "Eleven"}]
    solutions = {"requirements": {"solutions": both}}
    world.microsoft_update(str(referral["id"]), details=solutions)
    world.sync(f"referral:{referral['id']}")
    rows = f"SELECT Id FROM Microsoft_Solution__c WHERE Opportunity__c = '{link.opportunity_id}'"  # noqa: S608
    assert len(world.query(rows)) == 2  # the engine wrote the new row
    stats = world.engine.stats
    reconciles, seen, writes = stats.reconciles, stats.signals_seen, world.writes()
    for _ in range(3):  # looks while changes flow, the workers running whatever is due
        world.emulator_clock.advance(2)
        related.look()
        queue.run_until_idle(timeout=30)
    world.emulator_clock.advance(SETTLE)
    queue.run_until_idle(timeout=30)

    # The new row comes back as a related-row change: one read of the opportunity, which holds
    # the base (was: a reconcile reading both sides to plan nothing).
    assert (stats.reconciles, stats.signals_seen) == (reconciles, seen + 1)
    assert world.writes() == writes


def test_the_rows_a_create_wrote_come_back_known_and_cost_no_reconcile(world: World) -> None:
    queue = RecordingQueue()
    related = poll(world, queue, known=True)
    related.look()
    referral = world.share_referral(
        name="Contoso migration",
        customerProfile={
            "name": "Contoso",
            "address": {"country": "DE", "city": "Berlin"},
            "team": [{"firstName": "Rui", "lastName": "Costa", "email": "rui@contoso.example"}],
        },
        details={
            "dealValue": 9000,
            "currency": "EUR",
            "closingDateTime": "2026-12-31T00:00:00Z",
            "requirements": {"solutions": [{"id": "SOL-10", "name": "Ten"}]},
        },
        inviteContext={"assistanceRequestCode": "ProofOfConceptOrDemo"},
    )
    world.sync(f"referral:{referral['id']}")
    link = world.store.link_by_referral(world.tenant, str(referral["id"]))
    assert link is not None
    kinds = {key.split(":")[0] for key in link.crm_rows}
    assert kinds == {"account", "contact", "contact_role", "solution"}

    # Account, contact, contact role and solution row: all written by the create, all seen by
    # the read its write-back round committed.
    assert settled_look(world, related) == 0
    assert queue.keys == []

    # A later edit of the contact that changes nothing the engine reads is known by its
    # values; one that changes a value read is a new version: it is enqueued.
    where = f"OpportunityId = '{link.opportunity_id}'"
    [role] = world.query(f"SELECT ContactId FROM OpportunityContactRole WHERE {where}")  # noqa: S608
    world.sf_client.update("Contact", str(role["ContactId"]), {"Title": "CTO"})
    assert settled_look(world, related) == 0
    world.sf_client.update("Contact", str(role["ContactId"]), {"Email": "rui@contoso.test"})
    assert settled_look(world, related) == 1
    assert queue.keys == [f"opportunity:{link.opportunity_id}"]


def test_rows_a_person_saved_before_cosells_read_are_known_by_their_values(
    world: World,
) -> None:
    """A seller creates the account, contact and contact role with the opportunity; cosell
    reads them all with it in the same second. Their stamps cannot say whether an edit came
    after that read in the same second, and a person wrote them: before, each was enqueued
    once the second settled (a reconcile reading the opportunity to find nothing new). The
    link keeps the digest of the values it read: rows holding them are known. A change of a
    value read, or a deleted contact role, is enqueued."""
    queue = RecordingQueue()
    related = poll(world, queue, known=True, own_user=INTEGRATION_USER)
    related.look()
    world.emulator_clock.advance(1)
    opp_id = flagged_opportunity(world)
    world.engine.reconcile_key(f"opportunity:{opp_id}")  # in the second the seller saved them
    link = world.store.link_by_opportunity(world.tenant, opp_id)
    assert link is not None
    assert link.referral_id
    kinds = {key.split(":")[0] for key in link.crm_rows}
    assert {"account", "contact", "contact_role", "solution"} <= kinds
    assert related.look() == 0  # before: enqueued, due when the second had settled
    assert settled_look(world, related) == 0
    assert queue.keys == []

    # A value read changes: a new version. A contact role deleted keeps its values, and its
    # deletion is a new version too.
    where = f"OpportunityId = '{opp_id}'"
    [role] = world.query(f"SELECT Id, ContactId FROM OpportunityContactRole WHERE {where}")  # noqa: S608
    world.sf_client.update("Contact", str(role["ContactId"]), {"Phone": "+49 30 1234"})
    assert settled_look(world, related) == 1
    assert queue.keys == [f"opportunity:{opp_id}"]
    world.sf_client.delete("OpportunityContactRole", str(role["Id"]))
    assert settled_look(world, related) == 1
    assert queue.keys == [f"opportunity:{opp_id}"] * 2


def test_a_country_fixed_in_the_second_cosell_refused_the_opportunity_reaches_partner_center(
    world: World,
) -> None:
    """A seller flags an opportunity whose account has no country; cosell refuses it and says
    why; the seller fixes the country (and saves the opportunity) in that same second. The
    opportunity's own values read the same as the refused version, so only the account row
    tells the fix, with the stamp the poll already saw."""
    queue = EmbeddedQueue(world.store, world.engine.reconcile, clock=world.emulator_clock)
    wiring = FeedWiring(
        queue, world.store, world.tenant, timedelta(seconds=60), world.emulator_clock
    )
    opportunities = opportunity_poll(world, wiring)
    related = poll(world, queue, known=True)

    def looks() -> None:
        opportunities.look()
        related.look()
        queue.run_until_idle(timeout=30)

    looks()  # where each starts
    world.emulator_clock.advance(1)
    world.hold_time()
    opportunity_id = flagged(world, AccountId=world.account(BillingCountry=None), contacts=1)
    looks()
    assert "Customer country is required" in world.opp(opportunity_id)["Co_sell_Sync_Error__c"]

    account_id = world.opp(opportunity_id)["AccountId"]
    world.sf_client.update("Account", account_id, {"BillingCountry": "FR"})
    world.sf_client.update("Opportunity", opportunity_id, {"NextStep": "Country added"})
    looks()
    world.emulator_clock.advance(SETTLE + 1)
    looks()

    [referral] = [r for r in world.referrals() if r["externalReferenceId"] == opportunity_id]
    assert referral["customerProfile"]["address"]["country"] == "FR"
    assert world.opp(opportunity_id)["Referral_Identifier__c"] == referral["id"]


def test_a_contact_edited_after_the_poll_read_its_opportunity_reaches_partner_center(
    world: World,
) -> None:
    """The opportunity poll reads a seller's amount edit in full, for the reconcile it wakes;
    before that reconcile runs, the seller changes the contact's email, and the related poll
    marks the same key. The poll's row is older than the contact's change: before, the
    reconcile took it, planned on the old email, and the related poll had already counted
    the new one as handled, so it never reached Partner Center."""
    opp_id = flagged(world, contacts=1)
    world.sync(f"opportunity:{opp_id}")
    [referral] = world.referrals()
    queue = EmbeddedQueue(world.store, world.engine.reconcile, clock=world.clock)
    wiring = FeedWiring(queue, world.store, world.tenant, timedelta(seconds=60), world.clock)
    opportunities = opportunity_poll(world, wiring)
    related = related_poller(
        world.sf_client,
        lambda: watched_objects(world.engine.schema),
        wiring,
        where=FILTER,
        known=related_synced(world.store, world.tenant, world.sf_client.user_id),
        stale=world.sf_client.fresh.stale,
    )
    opportunities.look()
    related.look()
    world.clock.advance(1)
    world.edit(opp_id, Amount=64000)
    assert opportunities.look() == 1  # read in full, for the reconcile it wakes

    roles = f"SELECT ContactId FROM OpportunityContactRole WHERE OpportunityId = '{opp_id}'"  # noqa: S608
    [role] = world.query(roles)
    world.emulator_clock.advance(1)
    world.sf_client.update("Contact", str(role["ContactId"]), {"Email": "jo@northwind.example"})
    world.emulator_clock.advance(SETTLE + 1)
    world.clock.advance(SETTLE + 1)
    assert related.look() == 1
    queue.run_until_idle(timeout=30)  # one reconcile, woken by both polls

    shared = world.pc_client.get_referral(str(referral["id"])).to_wire()
    assert shared["details"]["dealValue"] == 64000
    assert [m["email"] for m in shared["customerProfile"]["team"]] == ["jo@northwind.example"]
    world.clock.advance(SETTLE + 1)
    assert related.look() == 0  # the link holds the new contact: nothing more to do
