"""A key one side signalled looks at that side first: a signal about the version the pair last
committed (cosell's own write coming back) costs one read of that side and nothing else; a
real change is reconciled as always, with that read serving it.

Counted on the emulators, through the real queue (``scope`` is what the webhook receiver and
the CRM polls enqueue with); each side is read back from the outside."""

from __future__ import annotations

import threading
from collections.abc import Callable
from dataclasses import replace
from datetime import datetime, timedelta
from typing import Any

import pytest
from engine_world import World
from test_engine import HELP, flagged_opportunity, shared
from test_engine_calls import COMPOSITE, PC_GET, PC_PATCH, QUERY, calls, linked_incoming

from cosell.operations.service_status import ServiceStatus
from cosell.queue.protocol import WorkQueue
from cosell.signals.feed import ChangeFeed, FeedWiring
from cosell.signals.poller import opportunity_poller
from cosell.signals.synced import opportunity_synced, referral_event_synced
from cosell.store.records import Job, LinkUpdate, SignalScope
from cosell.sync.engine.pair_locks import PairLocks
from cosell.sync.engine.record_status import NotReady
from cosell.sync.sides.crm_record import CrmRecord, refused_cursor
from cosell.sync.sides.salesforce.side import CrmSide as SalesforceSide
from cosell.web.metrics import ServiceMetrics
from cosell.web.receiver import WebhookReceiver
from cosell.webhooks.events import REFERRAL_EVENTS
from cosell.webhooks.signature import parse_callback
from support.queues import RecordingQueue
from support.wait import wait_until


def run(world: World, key: str, scope: SignalScope) -> tuple[dict[str, int], dict[str, int]]:
    """Enqueue ``key`` as a signal of ``scope`` and run the queue: the calls it cost."""
    world.emulator_clock.advance(1)
    calls(world)
    queue = world.queue()
    queue.enqueue(world.tenant, key, scope=scope)
    stats = queue.run_until_idle(timeout=30)
    assert (stats.claimed, stats.completed) == (1, 1)
    return calls(world)


def linked_outgoing(world: World) -> tuple[str, str]:
    opp_id = flagged_opportunity(world)
    world.sync(f"opportunity:{opp_id}")
    link = world.store.link_by_opportunity(world.tenant, opp_id)
    assert link is not None
    assert link.referral_id
    return link.referral_id, opp_id


def test_partner_centers_webhook_for_cosells_own_write_reads_the_referral_alone(
    world: World,
) -> None:
    rid, _ = linked_incoming(world)  # its second round wrote the opportunity's id to the referral
    seen = world.engine.stats.signals_seen
    # Before: the referral and the opportunity (one query) read, nothing planned.
    assert run(world, f"referral:{rid}", "partner_center") == ({PC_GET: 1}, {})
    assert world.engine.stats.signals_seen == seen + 1
    # The same key queued for both sides (a full pass, cosell retry) still reads both.
    assert run(world, f"referral:{rid}", "both") == ({PC_GET: 1}, {QUERY: 1})


def test_a_microsoft_edit_signalled_by_webhook_is_synced_with_one_read_of_the_referral(
    world: World,
) -> None:
    rid, opp_id = linked_incoming(world)
    world.microsoft_update(rid, details={"dealValue": 61000}, status="Active", substatus="Accepted")
    pc, sf = run(world, f"referral:{rid}", "partner_center")
    assert pc == {PC_GET: 1}  # the look at the referral serves the reconcile
    assert sf == {QUERY: 1, COMPOSITE: 1}
    assert world.opp(opp_id)["Amount"] == 61000


def test_cosells_write_back_is_read_back_and_a_signal_about_it_reads_the_opportunity_alone(
    world: World,
) -> None:
    _, opp_id = linked_outgoing(world)
    # Its second round wrote the referral's id to the opportunity, and read it back in the same
    # request: the link holds the version it wrote (a write alone does not return its stamp).
    after = world.opp(opp_id)
    link = world.store.link_by_opportunity(world.tenant, opp_id)
    assert link is not None
    assert link.crm_modstamp == after["SystemModstamp"]
    assert link.crm_read_at is not None  # and when it was read (the settle check's reference)
    crm = world.engine.crm
    assert isinstance(crm, SalesforceSide)
    columns = ", ".join(crm.version.columns)
    [polled] = world.query(f"SELECT {columns} FROM Opportunity WHERE Id = '{opp_id}'")  # noqa: S608
    assert link.crm_fingerprint == crm.version(polled)  # the values the poll knows it by
    # A signal about it all the same (a poll that saw it elsewhere): the opportunity alone.
    assert run(world, f"opportunity:{opp_id}", "crm") == ({}, {QUERY: 1})
    assert run(world, f"opportunity:{opp_id}", "both") == ({PC_GET: 1}, {QUERY: 1})


def test_a_seller_edit_in_the_second_of_cosells_write_still_reaches_the_referral(
    world: World,
) -> None:
    rid, opp_id = linked_outgoing(world)
    world.sf_client.update("Opportunity", opp_id, {"Amount": 99000})
    # An edit in the second cosell last read carries the stamp the link holds: only the values
    # tell. Arranged in the store (the emulator's seconds run on a real clock here).
    read = world.engine.crm.read(opp_id)
    link = world.store.link_by_opportunity(world.tenant, opp_id)
    assert read is not None
    assert link is not None
    update = LinkUpdate(link_id=link.id, crm_modstamp=read.modstamp, crm_rows=dict(read.versions))
    world.store.commit_sync(world.tenant, update, [])
    pc, sf = run(world, f"opportunity:{opp_id}", "crm")
    assert pc == {PC_GET: 1, PC_PATCH: 1}
    assert world.referral(rid)["details"]["dealValue"] == 99000
    assert sf.get(QUERY) == 1  # the look at the opportunity serves the reconcile


def test_a_seller_edit_signalled_by_the_poll_is_synced_with_one_read_of_the_opportunity(
    world: World,
) -> None:
    rid, opp_id = linked_outgoing(world)
    world.edit(opp_id, Amount=150000)
    pc, sf = run(world, f"opportunity:{opp_id}", "crm")
    assert pc == {PC_GET: 1, PC_PATCH: 1}
    assert sf == {QUERY: 1, COMPOSITE: 1}  # the read; the status line, read back
    assert world.referral(rid)["details"]["dealValue"] == 150000


def test_a_pair_not_settled_or_a_retry_reads_both_sides(world: World) -> None:
    rid, opp_id = linked_incoming(world)  # on hold: the seller's edits wait for the accept
    world.edit(opp_id, Amount=45000)
    world.sync(f"opportunity:{opp_id}")
    ledger = world.store.ledger_for(world.tenant, rid)
    assert ledger is not None
    assert ledger.state == "held"
    assert run(world, f"referral:{rid}", "partner_center") == ({PC_GET: 1}, {QUERY: 1})

    # Not accepted yet and nothing held: an opportunity signal reads the opportunity alone
    # (the expiry warning has a watch of its own, cosell.signals.expiry).
    rid, opp_id = linked_incoming(world)
    assert run(world, f"opportunity:{opp_id}", "crm") == ({}, {QUERY: 1})
    calls(world)
    now = world.clock.now()
    retry = Job(
        0, world.tenant, f"referral:{rid}", now, 0, 2, None, "w", now, now, "partner_center"
    )
    world.engine.reconcile(retry)
    assert calls(world) == ({PC_GET: 1}, {QUERY: 1})


def test_the_sweep_and_the_polls_still_catch_what_a_shortcut_leaves(world: World) -> None:
    """The shortcut reads one side: a change on the other is the other side's own signal."""
    rid, opp_id = linked_outgoing(world)
    world.microsoft_update(rid, details={"dealValue": 77000})
    # An opportunity re-check arrives first: it looks at the opportunity alone.
    assert run(world, f"opportunity:{opp_id}", "crm") == ({}, {QUERY: 1})
    assert world.opp(opp_id)["Amount"] != 77000
    # The referral's own signal (its webhook, or the sweep when the webhook was lost) syncs it.
    run(world, f"referral:{rid}", "partner_center")
    assert world.opp(opp_id)["Amount"] == 77000


def receiving(
    world: World, queue: WorkQueue, own_write: Callable[[str, str], bool]
) -> WebhookReceiver:
    """The service's webhook receiver on ``queue``, taking the bodies the emulator delivered."""
    return WebhookReceiver(
        verify=lambda _headers, body: parse_callback(body),
        queue=queue,
        tenant=world.tenant,
        is_linked=lambda _rid: True,
        sweep_hint=lambda: None,
        metrics=ServiceMetrics(),
        status=ServiceStatus("test", world.clock),
        own_write=own_write,
    )


def test_partner_centers_webhook_for_cosells_own_write_costs_no_read(world: World) -> None:
    """The event for cosell's write-back names the time Partner Center wrote it, which the link
    keeps: it is answered without a read; Microsoft's share before it and its edit after it
    are enqueued as always."""
    world.pc_client.register_webhook("https://cosell.example/webhooks", list(REFERRAL_EVENTS))
    rid, _ = linked_incoming(world)  # Microsoft's share, then cosell's write-back
    wait_until(lambda: len(world.delivered) == 2)
    world.microsoft_update(rid, details={"dealValue": 61000})
    wait_until(lambda: len(world.delivered) == 3)
    receiver = receiving(world, world.queue(), referral_event_synced(world.store, world.tenant))
    share, write_back, edit = (receiver.deliver({}, body) for body in world.delivered)
    assert (write_back.status, write_back.action, write_back.key) == (200, "own write", None)
    assert (share.action, share.key) == ("accepted", f"referral:{rid}")
    assert (edit.action, edit.key) == ("accepted", f"referral:{rid}")
    receiver.close()


def test_the_webhook_for_cosells_own_write_that_came_before_its_commit_costs_no_read(
    world: World,
) -> None:
    """Partner Center may call back between its answer to cosell's write and the commit of the
    link that keeps the change: the receiver cannot know the event for cosell's own then and
    enqueues it. The key carries the change the event named, and when it runs (after the
    commit: the pair's locks) the change is the link's: no read. Seen in the floor benchmark as
    2 to 11 reads of the referral for 20 opportunities shared to Partner Center."""
    world.pc_client.register_webhook("https://cosell.example/webhooks", list(REFERRAL_EVENTS))
    rid, _ = linked_incoming(world)  # Microsoft's share, then cosell's write-back
    wait_until(lambda: len(world.delivered) == 2)
    queue = world.queue()
    # as the receiver answered it before the link was committed: not known for cosell's own
    receiver = receiving(world, queue, lambda _rid, _change: False)
    share, write_back = world.delivered
    calls(world)
    seen = world.engine.stats.signals_seen
    assert receiver.deliver({}, write_back).key == f"referral:{rid}"
    assert queue.run_until_idle(timeout=30).completed == 1
    assert calls(world) == ({}, {})
    assert world.engine.stats.signals_seen == seen + 1
    # Microsoft's share names an earlier change: that one is read (and is nothing new).
    assert receiver.deliver({}, share).key == f"referral:{rid}"
    assert queue.run_until_idle(timeout=30).completed == 1
    assert calls(world) == ({PC_GET: 1}, {})
    # So is an edit after the write-back, and it reaches the opportunity.
    world.microsoft_update(rid, details={"dealValue": 64000}, status="Active", substatus="Accepted")
    wait_until(lambda: len(world.delivered) == 3)
    world.emulator_clock.advance(1)  # not in the second the opportunity was last written
    assert receiver.deliver({}, world.delivered[2]).key == f"referral:{rid}"
    assert queue.run_until_idle(timeout=30).completed == 1
    assert calls(world)[0] == {PC_GET: 1}
    assert world.opp(link_opportunity(world, rid))["Amount"] == 64000
    receiver.close()


def paused_at_commit(
    world: World, key: str, made: Callable[[LinkUpdate], str | None]
) -> tuple[str, threading.Event, threading.Thread]:
    """A create's reconcile of ``key`` in a thread of its own, held just before the commit that
    first names the record it made (``made`` picks that id from the commit): the id, the event
    that lets it go on, and the thread."""
    before_commit, resume = threading.Event(), threading.Event()
    ids: list[str] = []
    commit_sync = world.store.commit_sync

    def paused_commit(tenant: Any, update: LinkUpdate, *args: Any, **kwargs: Any) -> Any:
        made_id = made(update)
        if made_id and not ids:
            ids.append(made_id)
            before_commit.set()
            assert resume.wait(10)
        return commit_sync(tenant, update, *args, **kwargs)

    world.store.commit_sync = paused_commit  # type: ignore[method-assign]
    world.emulator_clock.advance(1)  # not in the second the record was saved
    creating = threading.Thread(target=world.engine.reconcile_key, args=(key,))
    creating.start()
    assert before_commit.wait(10)
    return ids[0], resume, creating


def waits_for_the_create(world: World, *keys: str) -> None:
    """Until another reconcile waits for one of ``keys`` (the create holds them)."""
    pairs = world.engine.pairs
    assert isinstance(pairs, PairLocks)
    wait_until(lambda: max(pairs.users(key) for key in keys) == 2, what="a wait for the create")


def the_event_run_aside(world: World) -> tuple[str, threading.Thread]:
    """Partner Center's event for the referral being created, answered as before the link was
    committed (the receiver cannot know it for cosell's own), and its key run by a queue in a
    thread of its own: the key, and the thread. The calls so far are counted and reset."""
    [created] = wait_until(lambda: list(world.delivered))
    queue = world.queue()
    key = receiving(world, queue, lambda _rid, _change: False).deliver({}, created).key
    assert key is not None
    calls(world)
    signalled = threading.Thread(target=queue.run_until_idle, kwargs={"timeout": 30})
    signalled.start()
    return key, signalled


def test_the_webhook_for_a_referral_cosell_is_still_creating_waits_for_it_and_costs_no_read(
    world: World,
) -> None:
    """Partner Center calls back as soon as it has answered cosell's create, and the event's
    reconcile may start while the create's is still before its commit. The create holds the
    new referral's key from the moment it has the id, so the event's reconcile waits for the
    commit and then knows the change: no read. It used to find no link, read the referral and
    the opportunity, wait for the create, and read both again, twice (seen in the floor
    benchmark: up to three reads of each for one opportunity shared to Partner Center)."""
    world.pc_client.register_webhook("https://cosell.example/webhooks", list(REFERRAL_EVENTS))
    opp_id = flagged_opportunity(world)
    rid, resume, creating = paused_at_commit(
        world, f"opportunity:{opp_id}", lambda update: update.referral_id
    )
    seen = world.engine.stats.signals_seen
    key, signalled = the_event_run_aside(world)
    assert key == f"referral:{rid}"
    # the event's reconcile waits: for the referral's key (or, before, for the opportunity's)
    waits_for_the_create(world, f"referral:{rid}", f"opportunity:{opp_id}")
    resume.set()
    for thread in (creating, signalled):
        thread.join(30)
    assert not signalled.is_alive()
    # the create's write-back alone
    assert calls(world) == ({}, {COMPOSITE: 1})
    assert world.engine.stats.signals_seen == seen + 1
    assert world.engine.stats.pair_waits == 0
    link = world.store.link_by_referral(world.tenant, rid)
    assert link is not None
    assert link.opportunity_id == opp_id


def test_the_webhook_that_comes_before_the_creates_claim_is_looked_at_again_after_its_wait(
    world: World,
) -> None:
    """The event's reconcile may even start before the create has claimed the new referral's
    key: it reads the referral, finds the create's pair and waits for it. After the wait it
    looks at its signal again, as if it had come then: the change is the link's, so no second
    read (it used to read both sides twice more)."""
    world.pc_client.register_webhook("https://cosell.example/webhooks", list(REFERRAL_EVENTS))
    opp_id = flagged_opportunity(world)
    answered, resume = threading.Event(), threading.Event()
    pc_create = world.engine.pc.create

    def paused_create(*args: Any, **kwargs: Any) -> Any:
        made = pc_create(*args, **kwargs)
        answered.set()  # Partner Center has answered; the create has not claimed the key yet
        assert resume.wait(10)
        return made

    world.engine.pc.create = paused_create  # type: ignore[method-assign]
    world.emulator_clock.advance(1)  # not in the second the seller saved it
    creating = threading.Thread(target=world.engine.reconcile_key, args=(f"opportunity:{opp_id}",))
    creating.start()
    assert answered.wait(10)
    seen = world.engine.stats.signals_seen
    key, signalled = the_event_run_aside(world)
    waits_for_the_create(world, f"opportunity:{opp_id}")
    first_read, _ = calls(world)
    resume.set()
    for thread in (creating, signalled):
        thread.join(30)
    assert not signalled.is_alive()
    assert first_read == {PC_GET: 1}
    assert calls(world) == ({}, {COMPOSITE: 1})  # the create's write-back alone
    assert world.engine.stats.signals_seen == seen + 1
    link = world.store.link_by_referral(world.tenant, key.removeprefix("referral:"))
    assert link is not None
    assert link.opportunity_id == opp_id


def test_the_poll_of_an_opportunity_cosell_is_still_creating_waits_for_it_and_reads_once(
    world: World,
) -> None:
    """The other direction: the opportunity poll may find the opportunity a referral's create
    just made before the create has committed. The create holds the new opportunity's key from
    the moment the CRM answered, so the poll's reconcile waits, then reads the opportunity once
    and finds the base (it used to read the opportunity and the referral, wait, and read both
    again)."""
    rid = str(shared(world)["id"])
    opp_id, resume, creating = paused_at_commit(
        world, f"referral:{rid}", lambda update: update.opportunity_id
    )
    calls(world)
    seen = world.engine.stats.signals_seen
    polled = threading.Thread(
        target=world.engine.reconcile_key, args=(f"opportunity:{opp_id}", "crm")
    )
    polled.start()
    waits_for_the_create(world, f"referral:{rid}", f"opportunity:{opp_id}")
    resume.set()
    for thread in (creating, polled):
        thread.join(30)
    assert not polled.is_alive()
    # the create's write-back, and the poll's one read of the opportunity
    assert calls(world) == ({PC_PATCH: 1}, {QUERY: 1})
    assert world.engine.stats.signals_seen == seen + 1
    assert world.engine.stats.pair_waits == 0


def link_opportunity(world: World, rid: str) -> str:
    link = world.store.link_by_referral(world.tenant, rid)
    assert link is not None
    assert link.opportunity_id
    return link.opportunity_id


def test_the_poll_knows_the_opportunity_cosell_made_by_its_values_in_its_own_second(
    world: World,
) -> None:
    """The poll selects the values the engine reads; the opportunity a create just made
    (committed with the read after it, in the very second of its stamp) is known by them and
    costs nothing, where its stamp alone needed a look once the second settled. A seller's
    edit after it is enqueued."""
    _, opp_id = linked_incoming(world)
    queue = RecordingQueue()
    wiring = FeedWiring(queue, world.store, world.tenant, timedelta(minutes=5), world.clock)
    crm = world.engine.crm
    assert isinstance(crm, SalesforceSide)
    poll = opportunity_poller(
        world.sf_client,
        wiring,
        where="Sync_with_Partner_Center__c = true OR Referral_Identifier__c != null",
        synced=opportunity_synced(world.store, world.tenant),
        version=lambda: crm.version,
    )
    world.clock.advance(0.2)  # within the stamp's second: its settling is ten seconds away
    assert poll.look() == 0
    assert queue.keys == []  # before: the key, due when the second settled
    world.edit(opp_id, Amount=77000)
    calls(world)
    assert poll.look() == 1
    assert (queue.keys, queue.due) == ([f"opportunity:{opp_id}"], [None])
    assert calls(world) == ({}, {QUERY: 1})  # the look alone: its rows carry the values


def test_a_value_the_crm_changed_as_cosells_write_saved_is_not_taken_for_cosells_own(
    world: World, monkeypatch: pytest.MonkeyPatch
) -> None:
    """CRM automation that sets a synced value as cosell's update saves: the read-back shows
    it, so the link does not keep that version as cosell's, the poll finds it, and the value
    reaches Partner Center."""
    rid, opp_id = linked_outgoing(world)
    crm = world.engine.crm
    assert isinstance(crm, SalesforceSide)
    original = crm._read_back

    def automation(result: Any, asked: datetime) -> CrmRecord | None:
        world.sf_client.update("Opportunity", opp_id, {"Amount": 31337})  # saved with the write
        record = original(result, asked)
        assert record is not None
        fields = {**record.opportunity, "Amount": 31337}
        return replace(record, opportunity=fields, fingerprint=crm.version(fields))

    monkeypatch.setattr(crm, "_read_back", automation)
    world.microsoft_update(rid, details={"dealValue": 52000})
    run(world, f"referral:{rid}", "partner_center")  # writes 52000 to the opportunity
    monkeypatch.undo()
    link = world.store.link_by_opportunity(world.tenant, opp_id)
    assert link is not None
    columns = ", ".join(crm.version.columns)
    [polled] = world.query(f"SELECT {columns} FROM Opportunity WHERE Id = '{opp_id}'")  # noqa: S608
    assert link.crm_fingerprint != crm.version(polled)  # the poll will find it
    run(world, f"opportunity:{opp_id}", "crm")
    assert world.referral(rid)["details"]["dealValue"] == 31337


def full_poll(world: World, queue: RecordingQueue) -> ChangeFeed:
    """The opportunity poll as the service wires it: values, and new changes read in full."""
    crm = world.engine.crm
    assert isinstance(crm, SalesforceSide)
    wiring = FeedWiring(queue, world.store, world.tenant, timedelta(minutes=5), world.clock)
    return opportunity_poller(
        world.sf_client,
        wiring,
        where="Sync_with_Partner_Center__c = true OR Referral_Identifier__c != null",
        synced=opportunity_synced(world.store, world.tenant),
        version=lambda: crm.version,
        full_read=lambda: crm,
    )


def test_an_opportunity_the_poll_found_is_reconciled_on_the_row_it_read(world: World) -> None:
    """A look reads the opportunities changed since the one before as the engine reads them,
    in the same call; the reconcile it wakes plans on that row and makes no query of its own."""
    queue = RecordingQueue()
    poll = full_poll(world, queue)
    first = flagged_opportunity(world)
    assert poll.look() == 1  # the first look: where the next one starts
    world.sync(f"opportunity:{first}")
    opp_id = flagged_opportunity(world)
    world.emulator_clock.advance(1)  # the look comes after the second of the flag
    world.clock.advance(1)
    calls(world)
    assert poll.look() == 1
    assert calls(world) == ({}, {COMPOSITE: 1})  # the poll and the full read: one call
    world.sync(f"opportunity:{opp_id}")
    pc, sf = calls(world)
    assert pc == {"POST /v1.0/engagements/referrals": 1}
    assert sf == {COMPOSITE: 1}  # the write-back, read back; no query: was {QUERY: 1, ...}
    link = world.store.link_by_opportunity(world.tenant, opp_id)
    assert link is not None
    assert link.referral_id is not None
    assert world.referral(link.referral_id)["externalReferenceId"] == opp_id


def test_a_row_the_poll_read_before_cosell_last_committed_the_pair_is_not_used(
    world: World,
) -> None:
    """A poll's row serves only while nothing was committed for the pair since it was read:
    a reconcile that read the opportunity before the poll did may have written it after."""
    rid, opp_id = linked_outgoing(world)
    queue = RecordingQueue()
    poll = full_poll(world, queue)
    poll.look()
    world.edit(opp_id, Amount=120000)
    world.emulator_clock.advance(1)
    world.clock.advance(1)
    assert poll.look() == 1  # read in full and offered
    world.clock.advance(1)
    # Such a reconcile commits the pair after the poll's read.
    link = world.store.link_by_opportunity(world.tenant, opp_id)
    assert link is not None
    world.store.commit_sync(world.tenant, LinkUpdate(link_id=link.id, base=link.base), [])
    calls(world)
    world.sync(f"opportunity:{opp_id}")
    _, sf = calls(world)
    assert sf.get(QUERY) == 1  # read again, not planned on the poll's row
    assert world.referral(rid)["details"]["dealValue"] == 120000


def test_an_opportunity_refused_before_it_had_a_link_is_not_polled_again_until_it_changes(
    world: World,
) -> None:
    """Partner Center cannot take it yet (no solution): the refusal keeps the version it read,
    so the polls inside the overlap window leave it (before: each reconciled, refused and
    dead-lettered it again). A seller's edit is enqueued; the referral, once made, takes the
    kept version away."""
    queue = RecordingQueue()
    poll = full_poll(world, queue)
    poll.look()  # the first look: where the next one starts
    opp_id = world.opportunity(Sync_with_Partner_Center__c=True, How_can_Microsoft_help__c=HELP)
    world.emulator_clock.advance(1)
    world.clock.advance(1)
    assert poll.look() == 1
    with pytest.raises(NotReady):
        world.sync(f"opportunity:{opp_id}")
    world.clock.advance(1)
    assert poll.look() == 0  # the refused version, seen again in the overlap
    world.edit(opp_id, Products__c="SOL-100")  # the seller's fix
    world.emulator_clock.advance(1)
    world.clock.advance(1)
    assert poll.look() == 1  # a new version: enqueued
    world.sync(f"opportunity:{opp_id}")
    assert [r["externalReferenceId"] for r in world.referrals()] == [opp_id]
    assert world.store.get_cursor(world.tenant, refused_cursor(opp_id)) is None
