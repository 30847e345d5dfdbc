"""The backfill (``cosell sync --once`` on a store that lacks the records): stopped half-way and
run again, it finishes with no duplicate and no record written twice, and it waits for the
Salesforce API reserve instead of eating into it."""

from __future__ import annotations

import threading
from collections import Counter
from dataclasses import replace
from datetime import timedelta
from pathlib import Path
from typing import Any

import pytest
from engine_world import World, build_world

from cosell.clients.salesforce_limits import ApiBudget, Reserve
from cosell.errors import TransportError
from cosell.store.sql import Store, sqlite_url
from cosell.sync.engine.backfill import (
    SPARE_HEADROOM,
    Backfill,
    BackfillReport,
    Checkpoint,
    ReserveGate,
    Shard,
    begin_shards,
    fit_workers,
)
from cosell.sync.engine.batch_creates import LEASE
from cosell.sync.engine.engine import Engine
from cosell.sync.engine.paged_sides import (
    PagedPartnerCenter,
    salesforce_lookup,
    salesforce_primer,
)
from cosell.sync.sides.salesforce.accounts import AccountMatcher, Customer, Match
from cosell.sync.sides.salesforce.side import CrmSide as SalesforceSide

REFERRALS = 5
OPPORTUNITIES = 4
BATCH = 2


class Killed(Exception):
    """The process ended here (raised by the test at a checkpoint)."""


def shared(world: World) -> list[str]:
    ids = []
    for n in range(REFERRALS):
        body: dict[str, Any] = {
            "name": f"Referral {n}",
            "customerProfile": {
                "name": f"Customer {n}",
                "address": {"city": "Austin", "country": "US"},
                "team": [{"firstName": "Bo", "lastName": "Ng", "email": f"bo{n}@example.com"}],
            },
            "details": {"dealValue": 1000 + n, "currency": "USD"},
        }
        ids.append(str(world.share_referral(**body)["id"]))
    return ids


def flagged(world: World) -> list[str]:
    return [
        world.opportunity(
            Name=f"Flagged {n}",
            Sync_with_Partner_Center__c=True,
            How_can_Microsoft_help__c="Proof of concept or demo",
            Products__c="SOL-1",
        )
        for n in range(OPPORTUNITIES)
    ]


def backfill(world: World, store: Store | None = None) -> Backfill:
    engine = world.engine
    if store is not None:
        tenant = store.ensure_tenant("test")
        engine = Engine(
            store=store, tenant=tenant, partner_center=engine.pc, crm=engine.crm, clock=world.clock
        )
    return Backfill(
        engine, workers=1, max_attempts=4, clock=world.clock, batch=BATCH, opportunity_batch=BATCH
    )


def writes_by_route(world: World) -> Counter[str]:
    counts: Counter[str] = Counter()
    for app in (world.pc_app, world.sf_app):
        calls = app.state.emulator.calls.snapshot()["calls"]
        counts.update(
            {r: n for r, n in calls.items() if not r.startswith("GET ") and "oauth2" not in r}
        )
    return counts


def reset_calls(world: World) -> None:
    for app in (world.pc_app, world.sf_app):
        app.state.emulator.calls.reset()


def kill_after(job: Backfill, batches: int) -> None:
    seen: list[Checkpoint] = []

    def stop(checkpoint: Checkpoint) -> None:
        seen.append(checkpoint)
        if len(seen) == batches:
            raise Killed

    job.after_batch = stop


def assert_no_duplicates(world: World, referral_ids: list[str], opportunity_ids: list[str]) -> None:
    held = [
        r["Referral_Identifier__c"]
        for r in world.query("SELECT Referral_Identifier__c FROM Opportunity")
    ]
    assert sorted(i for i in held if i in referral_ids) == sorted(referral_ids)
    outgoing = [r.get("externalReferenceId") for r in world.referrals()]
    assert sorted(i for i in outgoing if i in opportunity_ids) == sorted(opportunity_ids)


def test_a_backfill_killed_at_a_checkpoint_resumes_without_writing_anything_twice(
    tmp_path: Path,
) -> None:
    clean = build_world(tmp_path / "clean")
    shared(clean), flagged(clean)
    reset_calls(clean)
    done = backfill(clean).run()
    assert done.passes.ok
    assert done.passes.synced == REFERRALS + OPPORTUNITIES
    uninterrupted = writes_by_route(clean)

    world = build_world(tmp_path / "killed")
    referral_ids, opportunity_ids = shared(world), flagged(world)
    reset_calls(world)
    first = backfill(world)
    kill_after(first, 3)  # both opportunity batches, then one batch of referrals
    with pytest.raises(Killed):
        first.run()
    checkpoint = first.checkpoint()
    assert checkpoint is not None
    assert checkpoint.opportunities_done
    assert not checkpoint.finished

    second = backfill(world)
    resumed = second.run()

    assert resumed.resumed
    assert resumed.skipped >= BATCH  # the finished referrals are recognised, not reconciled
    assert resumed.passes.ok
    assert resumed.passes.synced == REFERRALS - BATCH
    assert writes_by_route(world) == uninterrupted  # every record written exactly as often
    assert_no_duplicates(world, referral_ids, opportunity_ids)
    finished = second.checkpoint()
    assert finished is not None
    assert finished.finished


class Died(BaseException):
    """The process died here: nothing in it runs on (no handler catches it)."""


class CrashingStore(Store):
    """A store whose ``commit_sync`` fails once, after ``after`` commits, with ``failure``:
    :class:`Died` when the process dies there, :class:`Killed` when only that commit fails."""

    after = -1
    failure: type[BaseException] = Killed

    def commit_sync(self, *args: Any, **kwargs: Any) -> Any:
        if self.after == 0:
            self.after = -1
            raise self.failure
        self.after -= 1
        return super().commit_sync(*args, **kwargs)


def crashing(
    world: World, after: int, failure: type[BaseException], tmp_path: Path
) -> CrashingStore:
    store = CrashingStore.open(sqlite_url(tmp_path / "crash"), clock=world.clock)
    store.after, store.failure = after, failure
    return store


def assert_written_back(world: World, store: Store) -> None:
    """Every referral holds its opportunity's id in Partner Center, and is synced."""
    opportunities = {
        r["Referral_Identifier__c"]: r["Id"]
        for r in world.query("SELECT Id, Referral_Identifier__c FROM Opportunity")
    }
    tenant = store.ensure_tenant("test")
    for referral in world.referrals():
        assert referral.get("externalReferenceId") == opportunities[referral["id"]]
        row = store.ledger_for(tenant, referral["id"])
        assert row is not None
        assert row.state == "synced"


@pytest.mark.parametrize(
    ("after", "when"),
    [(1, "between the creates and the commit of their links"), (4, "after the write-backs")],
)
def test_a_backfill_that_dies_resumes_without_a_duplicate_or_a_write_back_lost(
    tmp_path: Path, after: int, when: str
) -> None:
    """The first batch of two creates its opportunities, commits (one commit a record), records
    the write-backs in flight (one each), writes them back and commits (one each): the process
    dies at the second commit, or at the fifth (both written back, neither committed)."""
    world = build_world(tmp_path)
    referral_ids = shared(world)
    store = crashing(world, after, Died, tmp_path)
    with pytest.raises(Died):
        backfill(world, store).run()
    world.clock.advance(LEASE + 1)  # the dead process's leases on its keys have run out

    second = backfill(world, store).run()

    assert second.passes.ok, when
    assert_no_duplicates(world, referral_ids, [])
    assert len(world.query("SELECT Id FROM Opportunity")) == REFERRALS
    assert_written_back(world, store)


def test_a_commit_that_fails_after_the_creates_leaves_its_records_to_the_queue(
    tmp_path: Path,
) -> None:
    """A failed transaction is not a dead process: the batch's records whose commit it rolled
    back are reconciled by the queue from where they are, in the same run, without a second
    opportunity."""
    world = build_world(tmp_path)
    referral_ids = shared(world)
    store = crashing(world, 1, Killed, tmp_path)

    report = backfill(world, store).run()

    assert report.passes.ok
    assert report.passes.synced == REFERRALS
    assert_no_duplicates(world, referral_ids, [])
    assert len(world.query("SELECT Id FROM Opportunity")) == REFERRALS
    assert_written_back(world, store)


def test_the_backfill_pauses_at_the_salesforce_reserve_and_says_so(tmp_path: Path) -> None:
    world = build_world(tmp_path)
    shared(world)
    budget = ApiBudget(Reserve(fraction=0.2), clock=world.clock)
    budget.observe("api-usage=95/100")
    said: list[str] = []

    def refresh() -> None:  # the allowance is back after the first look
        budget.observe("api-usage=10/100")

    gate = ReserveGate(budget, refresh, world.clock, said.append)
    job = Backfill(world.engine, workers=1, max_attempts=2, clock=world.clock, gate=gate)
    before = world.clock.now()

    report = job.run()

    assert report.passes.ok
    assert report.passes.synced == REFERRALS
    assert gate.pauses == 1
    assert said[0].startswith("paused: Salesforce API budget reserve reached: 95 of 100 used")
    assert said[1].startswith("resumed")
    assert (world.clock.now() - before).total_seconds() >= gate.poll


def test_a_page_of_referral_ids_is_looked_up_in_in_lists_that_fit_a_soql_where(
    tmp_path: Path,
) -> None:
    world = build_world(tmp_path)
    held = world.opportunity(Referral_Identifier__c="b" * 36)
    lookup = salesforce_lookup(world.engine.crm)
    assert lookup is not None
    reset_calls(world)

    found = lookup([f"{n:036d}" for n in range(150)] + ["b" * 36])

    assert found == {"b" * 36: held}
    queries = world.sf_app.state.emulator.calls.snapshot()["calls"]
    assert sum(n for route, n in queries.items() if "/query" in route) == 2  # 4,000 characters


def test_a_batchs_lookup_and_account_match_share_one_call_with_the_same_answers(
    tmp_path: Path,
) -> None:
    """Two ``IN`` lists of referral ids and the customers' account query: three queries, one
    ``composite`` call, answering as the lookup and the match made alone do."""
    world = build_world(tmp_path)
    held = world.opportunity(Referral_Identifier__c="b" * 36)
    contoso = world.account(Name="Contoso Ltd", BillingCountry="US")
    referral_ids = [f"{n:036d}" for n in range(150)] + ["b" * 36]
    customers = [Customer("Contoso", "US", None), Customer("Nobody Known Inc", "US", None)]
    primer = salesforce_primer(world.engine.crm)
    lookup = salesforce_lookup(world.engine.crm)
    assert primer is not None
    assert lookup is not None
    reset_calls(world)

    found, matches = primer(referral_ids, customers)

    calls = world.sf_app.state.emulator.calls.snapshot()["calls"]
    assert calls == {"POST /services/data/v{version}/composite": 1}
    assert found == lookup(referral_ids) == {"b" * 36: held}
    matcher = AccountMatcher(world.engine.crm.client, world.engine.crm.schema)  # type: ignore[attr-defined]
    assert matches == {c: matcher.match(c) for c in customers}
    assert matches[customers[0]].account_id == contoso


def account_queries(world: World) -> int:
    calls = world.sf_app.state.emulator.calls.snapshot()["calls"]
    return sum(n for route, n in calls.items() if "/query" in route)


def test_many_customers_are_matched_from_one_query_as_each_would_be_alone(
    tmp_path: Path,
) -> None:
    world = build_world(tmp_path)
    world.account(Name="Tokyo Electric Power", BillingCountry="JP")
    world.account(Name="東京 電力", BillingCountry="JP")
    world.account(Name="東京 銀行", BillingCountry="JP")
    world.account(Name="Τράπεζα Πειραιώς", BillingCountry="GR")
    world.account(Name="Contoso Ltd", BillingCountry="US")
    world.account(Name="Contoso Ltd", BillingCountry="US")  # two: a person chooses
    world.account(Name="Müller Bau GmbH", BillingCountry="DE")
    customers = [
        Customer("東京 電力", "JP", None),
        Customer("Τράπεζα Αττικής", "GR", None),
        Customer("Contoso", "US", None),
        Customer("MULLER BAU", "DE", None),
        Customer("%", "US", None),
        Customer("Nobody Known Inc", "US", None),
        Customer("Tokyo Electric Power Co", "JP", None),
    ]
    matcher = AccountMatcher(world.engine.crm.client, world.engine.crm.schema)  # type: ignore[attr-defined]
    alone = {c: matcher.match(c) for c in customers}
    reset_calls(world)

    together = matcher.candidates_of_many(customers)

    assert account_queries(world) == 1
    assert set(together) == set(customers)
    for customer in customers:
        got = matcher.match(customer, together[customer])
        assert (got.rule, got.account_id) == (alone[customer].rule, alone[customer].account_id)
        assert [c["Id"] for c in got.candidates] == [c["Id"] for c in alone[customer].candidates]
    assert alone[customers[2]].ambiguous  # the two Contosos
    assert alone[customers[0]].account_id is not None


def test_two_referrals_of_one_new_customer_in_one_backfill_batch_make_one_account(
    tmp_path: Path,
) -> None:
    world = build_world(tmp_path)
    known = world.account(Name="Known Customer", BillingCountry="US")
    for title, customer in (
        ("First", "Tailwind Outfitters"),
        ("Second", "TAILWIND OUTFITTERS INC."),  # the same customer, written another way
        ("Third", "Known Customer"),
    ):
        profile = {"name": customer, "address": {"country": "US"}}
        world.share_referral(name=f"{title} deal", customerProfile=profile)
    reset_calls(world)

    job = Backfill(world.engine, workers=2, max_attempts=4, clock=world.clock, batch=3)
    report = job.run()

    assert report.passes.synced == 3
    tailwind = world.query("SELECT Id FROM Account WHERE Name LIKE '%Tailwind%'")
    assert len(tailwind) == 1  # the second was matched on its own and found the first's
    accounts = {
        r["Name"]: r["AccountId"] for r in world.query("SELECT Name, AccountId FROM Opportunity")
    }
    assert accounts["First deal"] == accounts["Second deal"] == tailwind[0]["Id"]
    assert accounts["Third deal"] == known


def test_one_new_customer_planned_after_its_account_went_in_an_early_call_gets_that_account(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """A batch's creates go a full graph call at a time while the rest are planned: the second
    referral of a new customer, planned after the first's account was made (the customer lock
    runs them one after the other), is matched again and finds it; look-alike names
    ("Customer N", accounts of which are made meanwhile) keep the batch's match."""
    world = build_world(tmp_path)
    asked: list[str | None] = []
    own_match = SalesforceSide.match_account

    def match_account(side: SalesforceSide, customer: Customer) -> Match:
        asked.append(customer.name)
        return own_match(side, customer)

    monkeypatch.setattr(SalesforceSide, "match_account", match_account)
    customers = ["Tailwind Outfitters", *(f"Customer {n}" for n in range(80))]
    customers.append("TAILWIND OUTFITTERS INC.")
    for n, customer in enumerate(customers):
        profile = {"name": customer, "address": {"country": "US"}}
        world.share_referral(name=f"Deal {n}", customerProfile=profile)
    reset_calls(world)

    count = len(customers)
    job = Backfill(
        world.engine, workers=count, max_attempts=4, clock=world.clock, batch=count, linger=0.5
    )
    report = job.run()

    assert report.passes.synced == count
    assert len(asked) == 1  # the batch's match served every customer but the second Tailwind
    assert "tailwind" in str(asked[0]).lower()
    tailwind = world.query("SELECT Id FROM Account WHERE Name LIKE '%Tailwind%'")
    assert len(tailwind) == 1
    deals = {
        r["Name"]: r["AccountId"] for r in world.query("SELECT Name, AccountId FROM Opportunity")
    }
    assert deals["Deal 0"] == deals[f"Deal {count - 1}"] == tailwind[0]["Id"]
    assert len(world.query("SELECT Id FROM Account")) == count - 1


def test_concurrent_creates_reads_and_writes_of_a_batch_go_together(tmp_path: Path) -> None:
    world = build_world(tmp_path)
    ids = []
    for n in range(8):
        profile = {"name": f"Customer {n}", "address": {"country": "US"}}
        ids.append(str(world.share_referral(name=f"Deal {n}", customerProfile=profile)["id"]))
    reset_calls(world)

    # four workers, each waiting (30 s at most) for the other three at every shared step
    job = Backfill(world.engine, workers=4, max_attempts=4, clock=world.clock, batch=8, linger=30)
    report = job.run()

    assert report.passes.synced == 8
    assert_no_duplicates(world, ids, [])
    calls = world.sf_app.state.emulator.calls.snapshot()["calls"]
    graphs = calls.get("POST /services/data/v{version}/composite/graph", 0)
    single = sum(n for route, n in calls.items() if route.startswith("PATCH "))
    composite = calls.get("POST /services/data/v{version}/composite", 0)
    # eight creates and eight writes: two requests each when the four workers keep in step; a
    # worker that finished early and started its second record while the others still wrote
    # sends a step of its own (the room goes once everyone waits), so a step may split
    assert graphs <= 4
    assert single + composite <= 5  # without coalescing: 8 graphs, 8 single writes
    opportunities = world.query("SELECT Id, Referral_Identifier__c, Audit__c FROM Opportunity")
    assert sorted(o["Referral_Identifier__c"] for o in opportunities) == sorted(ids)
    assert all("opportunity created" in (o["Audit__c"] or "") for o in opportunities)


def listings(world: World) -> int:
    calls = world.pc_app.state.emulator.calls.snapshot()["calls"]
    return int(calls.get("GET /v1.0/engagements/referrals", 0))


def test_the_referrals_made_from_opportunities_are_looked_up_in_one_listing(
    tmp_path: Path,
) -> None:
    world = build_world(tmp_path)
    opportunity_ids = flagged(world)
    asked: list[str] = []
    world.engine.pc.client._http.event_hooks["request"].append(lambda r: asked.append(str(r.url)))

    report = backfill(world).run()

    assert report.passes.ok
    assert_no_duplicates(world, [], opportunity_ids)
    # one listing of every referral's externalReferenceId (there were none); before, each
    # create was preceded by a lookup of its own
    assert sum("select=id%2CexternalReferenceId" in url for url in asked) == 1
    assert not [url for url in asked if "filter=externalReferenceId" in url]


def test_a_create_that_failed_is_looked_up_again_before_it_is_made_again(
    tmp_path: Path,
) -> None:
    world = build_world(tmp_path)
    paged = PagedPartnerCenter(world.engine.pc)
    paged.prime_external_ids(creates=10)  # an empty Partner Center: one page, nothing held
    made_then_lost = world.engine.pc.client.create_referral

    def lost_answer(body: Any) -> Any:
        made_then_lost(body)
        raise TransportError("the connection dropped before the answer")

    body = {
        "name": "From an opportunity",
        "type": "Independent",
        "externalReferenceId": "006A",
        "customerProfile": {"name": "Contoso", "address": {"country": "US"}},
        "details": {"dealValue": 10, "currency": "USD"},
        "consent": {"consentToShareReferralWithMicrosoftSellers": True},
    }
    paged.client.create_referral = lost_answer  # type: ignore[method-assign]
    with pytest.raises(TransportError):
        paged.create(body)
    reset_calls(world)

    found = paged.find_by_external_id("006A")

    assert found is not None  # read by a lookup of its own, not taken from the listing
    assert listings(world) == 1
    assert paged.find_by_external_id("006B") is None  # the listing answers for the rest
    assert listings(world) == 1


def test_batches_are_cut_from_the_listing_across_its_pages(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """A batch holds ``batch`` referrals whatever the listing's page size: two creates' graph
    calls are full (75 each) at the default 150, where pages of 100 left one of 25."""
    world = build_world(tmp_path)
    job = Backfill(world.engine, workers=1, max_attempts=4, clock=world.clock, batch=3)
    pages = [["a", "b"], ["c", "d"], ["e"], ["f", "g", "h"]]
    monkeypatch.setattr(job, "_pages", lambda _after: iter(pages))

    batches = list(job._batches(None))

    assert batches == [["a", "b", "c"], ["d", "e", "f"], ["g", "h"]]


def test_two_hundred_flagged_opportunities_are_read_in_one_call_and_written_back_in_two(
    tmp_path: Path,
) -> None:
    """A batch of flagged opportunities is 200, what one sObject Collections call holds: their
    read (two ``IN`` queries of 150 and 50 ids) is one ``composite`` call, their write-backs
    (Partner Center's values: unguarded) one collections update, and the Microsoft Solution rows
    their products name one collections create."""
    world = build_world(tmp_path)
    sf = world.sf_client
    n = range(200)

    def account(i: int) -> dict[str, str]:
        return {"Name": f"Buyer {i} Ltd", "BillingCity": "Austin", "BillingCountry": "US"}

    accounts = [r.id for r in sf.create_many("Account", [account(i) for i in n])]
    flagged = {
        "StageName": "Prospecting",
        "CloseDate": "2027-06-30",
        "Amount": 1000,
        "CurrencyIsoCode": "USD",
        "How_can_Microsoft_help__c": "Proof of concept or demo",
        "Products__c": "SOL-1",
        "Sync_with_Partner_Center__c": True,
    }
    opportunities = [{"Name": f"Deal {i}", "AccountId": accounts[i], **flagged} for i in n]
    ids = [r.id for r in sf.create_many("Opportunity", opportunities)]
    contacts = [
        {"LastName": f"Buyer{i}", "Email": f"buyer{i}@example.test", "AccountId": accounts[i]}
        for i in n
    ]
    made = [r.id for r in sf.create_many("Contact", contacts)]
    roles = [{"OpportunityId": ids[i], "ContactId": made[i], "Role": "Decision Maker"} for i in n]
    sf.create_many("OpportunityContactRole", roles)
    world.sf_app.state.emulator.calls.reset()

    # every worker waits (60 s at most) for the others at each shared step
    job = Backfill(world.engine, workers=200, max_attempts=4, clock=world.clock, linger=60)
    report = job.run()

    assert report.passes.synced == 200
    linked = world.query("SELECT Id FROM Opportunity WHERE Referral_Identifier__c != null")
    assert len(linked) == 200
    calls = world.sf_app.state.emulator.calls.snapshot()["calls"]
    v = "/services/data/v{version}"
    writes = {k: n for k, n in calls.items() if k.startswith(("POST /services/data", "PATCH"))}
    assert writes == {
        f"POST {v}/composite": 1,  # the batch's read: two IN queries
        f"PATCH {v}/composite/sobjects": 1,  # the write-backs
        f"POST {v}/composite/sobjects": 1,  # the Microsoft Solution rows
    }


def customers_referrals(world: World, count: int) -> list[str]:
    """``count`` referrals, each of a customer of its own."""
    ids = []
    for n in range(count):
        profile = {"name": f"Customer {n}", "address": {"country": "US"}}
        ids.append(str(world.share_referral(name=f"Deal {n}", customerProfile=profile)["id"]))
    return ids


def test_a_batch_of_more_referrals_than_two_hundred_creates_and_reads_in_full_calls(
    tmp_path: Path,
) -> None:
    """225 referrals at once: their creates are three full composite graph calls (75 graphs
    each, not a first request of 200 graphs and a second of 25), their lookups (three ``IN``
    queries of referral ids, two of account names) one ``composite`` call, and their read-back
    after the creates one more of two queries (150 and 75 ids), not a query each."""
    world = build_world(tmp_path)
    count = 225
    ids = customers_referrals(world, count)
    reset_calls(world)

    # every worker waits (60 s at most) for the others at each shared step
    job = Backfill(
        world.engine, workers=count, max_attempts=4, clock=world.clock, batch=count, linger=60
    )
    report = job.run()

    calls = world.sf_app.state.emulator.calls.snapshot()["calls"]
    assert report.passes.synced == count
    assert_no_duplicates(world, ids, [])
    v = "/services/data/v{version}"
    data = {k: n for k, n in calls.items() if k.startswith(("POST", "PATCH", f"GET {v}/query"))}
    assert data == {
        f"GET {v}/query": 1,  # the flagged-or-linked opportunities (none)
        f"POST {v}/composite": 2,  # the lookups, then the read-back
        f"POST {v}/composite/graph": 3,  # 225 creates, 75 graphs a call
    }


def test_a_create_refused_in_a_batchs_graph_call_is_shown_and_left_to_the_queue_alone(
    tmp_path: Path,
) -> None:
    """A batch's creates go from one thread, a graph a record in one call: Salesforce refusing
    one record's graph (a currency its picklist does not hold) refuses that record alone. It
    is shown refused with Salesforce's words and handed to the queue; the others of the call
    are created once each."""
    world = build_world(tmp_path)
    ids = customers_referrals(world, 6)
    details = {"dealValue": 9000, "currency": "CHF", "closingDateTime": "2027-03-31T00:00:00Z"}
    swiss = str(world.share_referral(name="Swiss pilot", details=details)["id"])
    reset_calls(world)

    job = Backfill(world.engine, workers=7, max_attempts=2, clock=world.clock, batch=7)
    report = job.run()

    assert [f.key for f in report.passes.failures] == [f"referral:{swiss}"]
    assert report.passes.synced == 6
    assert_no_duplicates(world, ids, [])
    row = world.store.ledger_for(world.tenant, swiss)
    assert row is not None
    assert row.state == "refused"
    assert "INVALID_OR_NULL_FOR_RESTRICTED_PICKLIST" in (row.raw or "")
    made = world.query("SELECT Referral_Identifier__c FROM Opportunity")
    assert swiss not in {row["Referral_Identifier__c"] for row in made}
    calls = world.sf_app.state.emulator.calls.snapshot()["calls"]
    # the batch's seven in one call, then the refused one alone, by the queue
    assert calls["POST /services/data/v{version}/composite/graph"] == 2
    assert job.creates.finished == 6


def test_workers_cut_by_the_server_send_full_graph_calls(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """A server with connections spare for 100 workers gets 75 (one graph call's worth): 225
    referrals' creates go in three full graph calls (100 workers sent four)."""
    world = build_world(tmp_path)
    count = 225
    ids = customers_referrals(world, count)
    reset_calls(world)
    server = _Server(100 + 15 + SPARE_HEADROOM)
    monkeypatch.setattr(world.store, "spare_connections", server.spare_connections)
    monkeypatch.setattr(world.store, "pool_connections", server.pool_connections)

    job = Backfill(
        world.engine, workers=count, max_attempts=4, clock=world.clock, batch=count, linger=60
    )
    report = job.run()

    assert job.workers == 75
    assert report.passes.synced == count
    assert_no_duplicates(world, ids, [])
    calls = world.sf_app.state.emulator.calls.snapshot()["calls"]
    assert calls["POST /services/data/v{version}/composite/graph"] == 3


class _Server:
    """A store whose database server has ``spare`` connections left (None: SQLite)."""

    def __init__(self, spare: int | None, pool: int = 15) -> None:
        self.spare, self.pool = spare, pool

    def spare_connections(self) -> int | None:
        return self.spare

    def pool_connections(self) -> int:
        return self.pool


def test_a_backfill_asks_no_more_connections_than_the_database_has_spare() -> None:
    """Each worker holds its pair's PostgreSQL advisory locks on a connection of its own: 250
    workers on a server with 200 connections stopped at "too many clients". The workers are
    cut to what is spare, less the store's pool and a margin for others, and then to whole
    composite graph calls' worth (75) when there are that many; SQLite as asked."""
    assert fit_workers(_Server(None), 450) == 450
    assert 200 - 15 - SPARE_HEADROOM == 175
    assert fit_workers(_Server(200), 450) == 150
    assert fit_workers(_Server(100), 450) == 75
    assert fit_workers(_Server(95), 450) == 70
    assert fit_workers(_Server(1000), 450) == 450
    assert fit_workers(_Server(20), 450) == 1
    assert fit_workers(_Server(200), 4) == 4  # a HubSpot backfill's service.workers


def test_on_postgresql_the_backfill_sizes_its_workers_to_the_server(
    tmp_path: Path, postgres_url: str
) -> None:
    world = build_world(tmp_path)
    store = Store.open(postgres_url, clock=world.clock)
    try:
        spare = store.spare_connections()
        with store.engine.connect() as conn:
            limit = int(conn.exec_driver_sql("SHOW max_connections").scalar_one())
        assert spare is not None
        assert 0 < spare < limit
        ids = shared(world)
        tenant = store.ensure_tenant(f"spare-{tmp_path.name}")
        engine = Engine(
            store=store,
            tenant=tenant,
            partner_center=world.engine.pc,
            crm=world.engine.crm,
            clock=world.clock,
        )
        job = Backfill(engine, workers=limit + 50, max_attempts=4, clock=world.clock)

        assert job.workers < limit
        assert job.run().passes.synced == len(ids)
        assert_no_duplicates(world, ids, [])
    finally:
        store.close()


def test_creates_not_run_because_fourteen_others_failed_are_retried_not_dead_lettered(
    tmp_path: Path,
) -> None:
    """Twenty creates go in one graph request; the first fourteen meet a locked row, and
    Salesforce runs none of the other six ("not processed because 14 graphs of this request
    failed"). All twenty are retried and synced: the six were dead letters, refused for good."""
    world = build_world(tmp_path)
    ids = []
    for n in range(20):
        profile = {"name": f"Customer {n}", "address": {"country": "US"}}
        ids.append(str(world.share_referral(name=f"Deal {n}", customerProfile=profile)["id"]))
    path = "/services/data/v62.0/sobjects/Opportunity"
    world.sf_app.state.emulator.faults.add(
        {"kind": "unable_to_lock_row", "method": "POST", "path": path, "count": 14}
    )

    job = Backfill(world.engine, workers=20, max_attempts=4, clock=world.clock, batch=20, linger=60)
    report = job.run()

    assert report.passes.failures == []
    assert report.passes.synced == 20
    assert world.store.dead_letters(world.tenant) == []
    assert_no_duplicates(world, ids, [])


def test_the_batchs_own_calls_wait_out_a_storm_the_clients_gave_up_on(tmp_path: Path) -> None:
    """The listing and the batch's shared lookup are the backfill's own calls, outside any
    record's retries: when a client gives up on one (here after its two attempts), the backfill
    waits as the queue does and asks again, instead of ending the pass with the error."""
    world = build_world(tmp_path)
    ids = shared(world)
    # three failures each: one more than the test clients' two attempts
    for app, kind, params, method, path in (
        (world.pc_app, "throttle", {"retry_after": 30}, "GET", "/v1.0/engagements/referrals"),
        (world.sf_app, "server_error", {"status": 503}, "POST", "/services/data/v62.0/composite"),
    ):
        rule = {"kind": kind, "params": params, "method": method, "path": path, "count": 3}
        app.state.emulator.faults.add(rule)
    before = world.clock.now()

    report = backfill(world).run()

    assert report.passes.failures == []
    assert report.passes.synced == len(ids)
    assert_no_duplicates(world, ids, [])
    assert world.clock.now() - before >= timedelta(seconds=30)  # the throttle was waited out


def test_a_backfill_under_faults_makes_one_right_opportunity_per_referral(tmp_path: Path) -> None:
    """60 referrals backfilled in one batch, whose creates, reads and writes share requests,
    while: the first 20 account creates meet a locked row (so 14 graphs of the first request
    fail and Salesforce runs none of the rest), the first listing is throttled past the
    client's attempts, and ten write-backs to Partner Center answer 503. Read from outside
    afterwards: every referral has exactly one opportunity, holding its amount, and carries
    that opportunity's id; nothing is in the dead letters."""
    world = build_world(tmp_path)
    count = 60
    ids = []
    for n in range(count):
        profile = {"name": f"Customer {n % 20}", "address": {"country": "US"}}
        details = {"dealValue": 100 + n, "currency": "USD"}
        referral = world.share_referral(name=f"Deal {n}", customerProfile=profile, details=details)
        ids.append(str(referral["id"]))
    rules = [
        (
            world.sf_app,
            "unable_to_lock_row",
            {},
            "POST",
            "/services/data/v62.0/sobjects/Account",
            20,
        ),
        (world.pc_app, "throttle", {"retry_after": 5}, "GET", "/v1.0/engagements/referrals", 3),
        (world.pc_app, "server_error", {"status": 503}, "PATCH", "/v1.0/engagements/referrals", 10),
    ]
    added = [
        app.state.emulator.faults.add(
            {"kind": kind, "params": params, "method": method, "path": path, "count": n}
        )
        for app, kind, params, method, path, n in rules
    ]

    job = Backfill(
        world.engine, workers=count, max_attempts=8, clock=world.clock, batch=count, linger=2
    )
    report = job.run(timeout=3600)

    assert [rule.fired for rule in added] == [20, 3, 10]
    assert report.passes.failures == []
    assert world.store.dead_letters(world.tenant) == []
    opportunities = world.query("SELECT Id, Referral_Identifier__c, Amount FROM Opportunity")
    held = Counter(o["Referral_Identifier__c"] for o in opportunities)
    assert held == Counter(ids)  # one each, none without a referral
    by_referral = {o["Referral_Identifier__c"]: o for o in opportunities}
    for referral in world.referrals():
        opportunity = by_referral[referral["id"]]
        assert referral["externalReferenceId"] == opportunity["Id"]
        assert float(opportunity["Amount"]) == float(referral["details"]["dealValue"])


def test_a_dead_letter_is_reported_once_and_later_batches_still_move_the_checkpoint(
    tmp_path: Path,
) -> None:
    """A record refused in the first batch is one failure of the run, not one a batch: each
    batch reported every dead letter of the tenant as its own, so none after it counted as
    finished and the checkpoint stopped there (a run of 100,000 would list the same refusal
    some 220 times, and a resumed run list every page again)."""
    world = build_world(tmp_path)
    bad = world.opportunity(
        Name="No contact",
        contacts=0,
        Sync_with_Partner_Center__c=True,
        How_can_Microsoft_help__c="Proof of concept or demo",
        Products__c="SOL-1",
    )
    flagged(world), shared(world)
    job = backfill(world)

    report = job.run()

    assert [f.key for f in report.passes.failures] == [f"opportunity:{bad}"]
    assert report.passes.synced == REFERRALS + OPPORTUNITIES
    checkpoint = job.checkpoint()
    assert checkpoint is not None
    assert not checkpoint.opportunities_done  # the refused one is looked at again next run
    assert checkpoint.created_after is not None  # every batch of referrals finished


def test_a_shard_takes_every_referral_of_its_customers_and_the_shards_take_each_once() -> None:
    records: list[dict[str, Any]] = [
        {"id": f"R{n}", "customerProfile": {"name": f"Customer {n % 7}"}} for n in range(70)
    ] + [{"id": f"N{n}", "customerProfile": {}} for n in range(10)]
    shards = Shard.all_of(3)
    owners = {r["id"]: [s.index for s in shards if s.takes_referral(r)] for r in records}
    assert all(len(found) == 1 for found in owners.values()), owners
    by_customer: dict[str, set[int]] = {}
    for r in records[:70]:
        by_customer.setdefault(r["customerProfile"]["name"], set()).update(owners[r["id"]])
    assert all(len(found) == 1 for found in by_customer.values()), by_customer
    assert len({i for found in owners.values() for i in found}) == 3  # none is left idle
    opportunities = [f"006{n:015d}" for n in range(30)]
    assert all(sum(s.takes_opportunity(i) for s in shards) == 1 for i in opportunities)
    assert Shard().cursor == "backfill"
    assert shards[1].cursor == "backfill.2-of-3"
    with pytest.raises(ValueError, match="shard 3 of 3"):
        Shard(3, 3)


def test_shards_begin_from_one_last_link_and_an_unfinished_one_is_resumed(
    tmp_path: Path,
) -> None:
    world = build_world(tmp_path)
    store, tenant = world.engine.store, world.engine.tenant
    first, second = Shard.all_of(2)
    assert begin_shards(store, tenant, 2) is False
    begun = {s: Checkpoint.loads(store.get_cursor(tenant, s.cursor)) for s in (first, second)}
    assert begun[first] == begun[second] == Checkpoint(store.last_link_id(tenant))

    going = Checkpoint(0, created_after="2026-01-01T00:00:00Z")
    store.set_cursor(tenant, first.cursor, going.dumps())
    store.set_cursor(tenant, second.cursor, replace(going, finished=True).dumps())
    assert begin_shards(store, tenant, 2) is True
    assert Checkpoint.loads(store.get_cursor(tenant, first.cursor)) == going
    assert Checkpoint.loads(store.get_cursor(tenant, second.cursor)) == Checkpoint(
        store.last_link_id(tenant)
    )


def test_two_shards_side_by_side_make_one_opportunity_per_referral_and_one_referral_each(
    tmp_path: Path,
) -> None:
    """Two shards of one backfill, each on a thread, meeting between the phases: every record
    done once, by one of them, and nothing made twice."""
    world = build_world(tmp_path)
    referral_ids, opportunity_ids = shared(world), flagged(world)
    barrier = threading.Barrier(2)
    jobs = [
        Backfill(
            world.engine,
            workers=2,
            max_attempts=4,
            clock=world.clock,
            batch=BATCH,
            opportunity_batch=BATCH,
            shard=shard,
            between_phases=barrier.wait,
        )
        for shard in Shard.all_of(2)
    ]
    reports: dict[int, BackfillReport] = {}
    threads = [
        threading.Thread(target=lambda i=i, job=job: reports.update({i: job.run()}))
        for i, job in enumerate(jobs)
    ]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()

    assert all(r.passes.ok and not r.passes.held for r in reports.values()), reports
    assert sum(r.passes.synced for r in reports.values()) == REFERRALS + OPPORTUNITIES
    assert all(r.passes.synced for r in reports.values())  # each did some
    assert_no_duplicates(world, referral_ids, opportunity_ids)
    assert len(world.query("SELECT Id FROM Opportunity")) == REFERRALS + OPPORTUNITIES


def test_shards_share_the_spare_database_connections() -> None:
    assert fit_workers(_Server(None), 450, processes=2) == 450  # SQLite
    assert fit_workers(_Server(200), 450, processes=2) == 75  # (200 - 10) // 2 - 15 = 80
    assert fit_workers(_Server(60), 450, processes=2) == 10
