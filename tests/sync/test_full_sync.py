"""``cosell sync`` through click's CliRunner, against both in-process emulators."""

from __future__ import annotations

import gc
import json
import os
import sys
from collections import Counter
from collections.abc import Iterator
from contextlib import contextmanager
from datetime import timedelta
from pathlib import Path
from typing import Any

import httpx
import pytest
import sqlalchemy as sa
from click.testing import CliRunner
from engine_world import PC_BASE, PC_CONFIG, SF_BASE, SF_CONFIG, START, World, WorldClock
from starlette.testclient import TestClient

from cosell.cli.common import YOUNG_OBJECTS, CommandDeps
from cosell.cli.main import main
from cosell.cli.sync import backfill_workers
from cosell.clock import ManualClock
from cosell.queue.protocol import queue_key
from cosell.settings import load_settings
from cosell.store import Job, Store, sqlite_url
from cosell.store.database import READ_ONLY
from cosell.sync.engine.full_sync import FullSync, Held

HELP = "Customer technical architecture"
SERVICE = "service-host:4242:0badc0de:0"  # a worker of a `cosell run` in another process
ENV = {
    "COSELL_PC_CLIENT_SECRET": PC_CONFIG.client_secret,
    "COSELL_PC_PASSWORD": PC_CONFIG.password,
    "COSELL_SF_CLIENT_SECRET": SF_CONFIG.client_secret,
    "COSELL_SF_PASSWORD": SF_CONFIG.password,
}


def config_file(tmp_path: Path) -> Path:
    path = tmp_path / "cosell.toml"
    path.write_text(
        f"""
[service]
state_dir = "{tmp_path / "state"}"
workers = 2

[partner_center]
api_url = "{PC_BASE}"
webhook_api_url = "{PC_BASE}"
authority = "{PC_BASE}"
tenant = "{PC_CONFIG.tenant}"
auth_mode = "ropc"
client_id = "{PC_CONFIG.client_id}"
username = "{PC_CONFIG.username}"

[salesforce]
instance_url = "{SF_BASE}"
login_url = "{SF_BASE}"
auth_mode = "password"
client_id = "{SF_CONFIG.client_id}"
username = "{SF_CONFIG.username}"
""",
        encoding="utf-8",
    )
    return path


def run_once(world: World, tmp_path: Path, clock: ManualClock | None = None) -> tuple[int, str]:
    return run_cli(world, tmp_path, "sync", clock=clock)


def run_cli(
    world: World, tmp_path: Path, *command: str, clock: ManualClock | None = None
) -> tuple[int, str]:
    apps = {PC_BASE: world.pc_app, SF_BASE: world.sf_app}

    def http(base_url: str, auth: httpx.Auth | None) -> httpx.Client:
        client = TestClient(apps[base_url.rstrip("/")], base_url=base_url)
        if auth is not None:
            client.auth = auth
        return client

    deps = CommandDeps(clock=clock or WorldClock(START, world.emulator_clock), http=http)
    args = [*command, "--config", str(config_file(tmp_path))]
    result = CliRunner().invoke(main, args, obj=deps, env=ENV, catch_exceptions=False)
    return result.exit_code, result.output


def test_clean_pass_exits_zero_and_a_second_pass_writes_nothing(
    world: World, tmp_path: Path
) -> None:
    opp_id = world.opportunity(
        solutions=("SOL-1",), Sync_with_Partner_Center__c=True, How_can_Microsoft_help__c=HELP
    )
    referral = world.share_referral(
        details={"dealValue": 10, "closingDateTime": "2026-12-31T00:00:00Z"}
    )
    code, output = run_once(world, tmp_path)
    assert code == 0, output
    assert "records: 2, synced: 2, failed: 0" in output
    assert len(world.referrals()) == 2
    opportunities = world.query("SELECT Id, Referral_Identifier__c FROM Opportunity")
    assert {o["Referral_Identifier__c"] for o in opportunities} == {
        referral["id"],
        world.opp(opp_id)["Referral_Identifier__c"],
    }

    run_once(world, tmp_path)  # our write-backs moved SystemModstamp: settle once
    before = world.writes()
    code, output = run_once(world, tmp_path)
    assert code == 0, output
    assert "records: 4, synced: 4, failed: 0" in output
    assert world.writes() == before


def test_a_pages_referrals_are_created_at_once_in_one_graph_request(
    world: World, tmp_path: Path
) -> None:
    """``sync.backfill_workers`` (every record of a batch by default), not ``service.workers``
    (2 here), says how many records ``cosell sync`` works on at once: thirty creates that run
    together go in one composite graph request; the batch's opportunity lookup and account
    match share one ``composite`` call of queries. Writing each opportunity's id back to its
    referral is audited in the store but does not rewrite the record's ``Audit__c``, whose
    create line already tells the pairing (it cost a collections call a batch)."""
    details = {"closingDateTime": "2027-03-31T00:00:00Z"}  # no default date for cosell to make
    for n in range(30):
        profile = {"name": f"Customer {n}", "address": {"country": "US"}}
        world.share_referral(name=f"Deal {n}", customerProfile=profile, details=details)
    world.sf_app.state.emulator.calls.reset()

    code, output = run_once(world, tmp_path)

    assert code == 0, output
    assert len(world.query("SELECT Id FROM Opportunity")) == 30
    calls = world.sf_app.state.emulator.calls.snapshot()["calls"]
    assert calls.get("POST /services/data/v{version}/composite/graph", 0) == 1
    v = "/services/data/v{version}"
    writes = {k: n for k, n in calls.items() if k.startswith(("POST /services/data", "PATCH"))}
    assert writes == {
        f"POST {v}/composite/graph": 1,
        f"POST {v}/composite": 1,  # the lookup by referral id and the account match
    }
    # flagged opportunities, active users, the created ones read back (a worker late to the
    # read may make it two), the check after
    assert 4 <= calls[f"GET {v}/query"] <= 5
    rows = world.query("SELECT Id, Referral_Identifier__c, Audit__c FROM Opportunity")
    for row in rows:
        rid = str(row["Referral_Identifier__c"])
        assert world.referral(rid)["externalReferenceId"] == row["Id"]
        assert f"opportunity created from referral {rid}" in str(row["Audit__c"])
        assert "external_reference_id" not in str(row["Audit__c"])
    for row in rows[:3]:  # the operator still sees the write-back: `cosell audit <referral>`
        code, output = run_cli(
            world, tmp_path, "audit", str(row["Referral_Identifier__c"]), "--json"
        )
        assert code == 0, output
        kept = json.loads(output)
        assert any(e["field"] == "external_reference_id" and e["new"] == row["Id"] for e in kept)


def test_a_batch_of_created_referrals_takes_six_store_write_transactions(
    world: World, tmp_path: Path
) -> None:
    """SQLite has one writer at a time, so a backfill's pace is bounded by its write
    transactions. A batch of referrals made opportunities takes six whatever its size (batched
    creates, see ``cosell.sync.engine.batch_creates``): the batch's keys leased in the work
    queue, every create intent with the base it is made with (one a composite graph's worth),
    every create's commit, every base written ahead of the Partner Center write-back, what every
    merge learnt (loop guard, link, audit, ledger), the keys completed. The whole run takes
    fewer than one a record (was six a record: a claim, the intent, the create's commit, the
    base written ahead, the merge, the job's completion, each its own)."""
    by_step: Counter[str] = Counter()

    def began(conn: sa.Connection) -> None:
        if conn.get_execution_options().get(READ_ONLY):
            return
        frame = sys._getframe()
        while frame is not None and not frame.f_code.co_filename.endswith("batch_creates.py"):
            frame = frame.f_back
        by_step[frame.f_code.co_name if frame is not None else "elsewhere"] += 1

    for n in range(30):
        profile = {"name": f"Customer {n}", "address": {"country": "US"}}
        world.share_referral(name=f"Deal {n}", customerProfile=profile)
    sa.event.listen(sa.Engine, "begin", began)
    try:
        code, output = run_once(world, tmp_path)
    finally:
        sa.event.remove(sa.Engine, "begin", began)

    assert code == 0, output
    assert len(world.query("SELECT Id FROM Opportunity")) == 30
    batched = sum(n for step, n in by_step.items() if step != "elsewhere")
    assert batched == 7, by_step  # the six, and the mapping recorded as applied
    assert sum(by_step.values()) < 30


def test_the_pass_runs_with_what_starting_built_out_of_the_collector_s_sight(
    world: World, tmp_path: Path
) -> None:
    """A full collection walks every object the collector sees; starting built most of them
    (modules, classes, the wiring), and walking those again and again cost a tenth of a pass's
    CPU. They are frozen while the pass and the check after it run, and back in sight after
    (an in-process caller collects as before)."""
    frozen: list[int] = []
    young: list[int] = []
    app = world.pc_app
    before = gc.get_threshold()

    async def watched(scope: Any, receive: Any, send: Any) -> None:
        frozen.append(gc.get_freeze_count())
        young.append(gc.get_threshold()[0])
        await app(scope, receive, send)

    world.share_referral(name="Deal", customerProfile={"name": "Customer", "address": {}})
    world.pc_app = watched  # type: ignore[assignment]
    gc.unfreeze()
    try:
        code, output = run_once(world, tmp_path)
    finally:
        world.pc_app = app

    assert code == 0, output
    assert max(frozen) > 0
    assert frozen[-1] > 0  # the check after the pass
    assert gc.get_freeze_count() == 0
    # The youngest objects are looked at every YOUNG_OBJECTS while it runs, not every 700.
    assert set(young) == {YOUNG_OBJECTS}
    assert gc.get_threshold() == before


def test_failures_exit_one_and_are_listed_with_their_reason(world: World, tmp_path: Path) -> None:
    bad = world.opportunity(
        contacts=0, Sync_with_Partner_Center__c=True, How_can_Microsoft_help__c=HELP
    )
    good = world.opportunity(solutions=("SOL-1",), Sync_with_Partner_Center__c=True)
    code, output = run_once(world, tmp_path)
    assert code == 1, output
    assert f"FAILED opportunity:{bad}: NotReady" in output
    assert "Solution ID is required for co-sell" in output
    assert f"opportunity:{good}" not in output
    assert "failed: 1" in output


def test_a_pair_that_still_disagrees_after_the_pass_exits_one_naming_the_field(
    world: World, tmp_path: Path
) -> None:
    opp_id = world.opportunity(
        solutions=("SOL-1",), Sync_with_Partner_Center__c=True, How_can_Microsoft_help__c=HELP
    )
    assert run_once(world, tmp_path)[0] == 0
    # A field that flows only from Partner Center, typed over in the CRM: no sync undoes it.
    world.edit(opp_id, Microsoft_CRM_Identifier__c="typed-by-a-seller")
    code, output = run_once(world, tmp_path)
    assert code == 1, output
    assert "failed: 0" in output
    assert f"DRIFT referral {world.opp(opp_id)['Referral_Identifier__c']}" in output
    assert "msx_id: Partner Center None ≠ CRM 'typed-by-a-seller'" in output
    assert "drift: 1" in output


def test_verify_reports_drift_repairs_it_and_exits_zero_once_both_sides_agree(
    world: World, tmp_path: Path
) -> None:
    opp_id = world.opportunity(
        solutions=("SOL-1",), Sync_with_Partner_Center__c=True, How_can_Microsoft_help__c=HELP
    )
    assert run_once(world, tmp_path)[0] == 0
    referral_id = str(world.opp(opp_id)["Referral_Identifier__c"])
    world.microsoft_update(referral_id, details={"dealValue": 20})

    code, output = run_cli(world, tmp_path, "verify", "--no-repair")
    assert code == 1, output
    assert "deal_value: Partner Center '20.00' ≠ CRM '125000.00'" in output
    code, output = run_cli(world, tmp_path, "verify")
    assert code == 0, output
    assert "repaired deal_value" in output
    assert "repaired: 1" in output
    assert world.opp(opp_id)["Amount"] == 20
    code, output = run_cli(world, tmp_path, "verify", "--json")
    assert code == 0, output
    assert '"state": "agrees"' in output


def test_invalid_configuration_exits_two_naming_the_key(world: World, tmp_path: Path) -> None:
    path = tmp_path / "broken.toml"
    path.write_text('[service]\nworkers = "many"\n', encoding="utf-8")
    result = CliRunner().invoke(main, ["sync", "--once", "--config", str(path)], env=ENV)
    assert result.exit_code == 2
    assert "service.workers" in result.output


@contextmanager
def service_store(tmp_path: Path) -> Iterator[Store]:
    """The store ``sync --once`` uses, opened as the running service sees it."""
    (tmp_path / "state").mkdir(exist_ok=True)
    store = Store.open(sqlite_url(tmp_path / "state"), clock=ManualClock(START))
    try:
        yield store
    finally:
        store.close()


def lease_by_service(store: Store, key: str, *, seconds_ago: float, lease: float = 300) -> Job:
    tenant = store.ensure_tenant("default")
    claimed_at = START - timedelta(seconds=seconds_ago)
    store.enqueue(tenant, key, claimed_at)
    [job] = store.claim(SERVICE, claimed_at, lease)
    return job


def test_a_key_the_running_service_holds_is_reported_not_waited_for(
    world: World, tmp_path: Path
) -> None:
    held = world.opportunity(
        solutions=("SOL-1",), Sync_with_Partner_Center__c=True, How_can_Microsoft_help__c=HELP
    )
    free = world.opportunity(solutions=("SOL-2",), Sync_with_Partner_Center__c=True)
    with service_store(tmp_path) as store:
        job = lease_by_service(store, queue_key("opportunity", held), seconds_ago=60)
    clock = ManualClock(START)
    code, output = run_once(world, tmp_path, clock)
    assert code == 0, output
    assert "records: 2, synced: 1, failed: 0" in output
    assert "1 record is being synced by a running cosell service" in output
    assert f"opportunity:{held} (leased until 2026-03-02T09:04:00+00:00)" in output
    assert clock.now() < job.lease_until  # the pass did not wait for the lease to run out
    assert not world.opp(held).get("Referral_Identifier__c")
    assert len(world.referrals()) == 1
    assert world.opp(free)["Referral_Identifier__c"]
    with service_store(tmp_path) as store:
        assert store.stats(store.ensure_tenant("default")).leased == 1
        assert store.complete(job)  # the service finishes its run; the pass's signal remains
        [again] = store.claim(SERVICE, START, 300)
    assert again.key == job.key


def test_several_held_keys_are_counted_and_a_failure_still_exits_one(
    world: World, tmp_path: Path
) -> None:
    held = [world.opportunity(Sync_with_Partner_Center__c=True) for _ in range(2)]
    bad = world.opportunity(
        contacts=0, Sync_with_Partner_Center__c=True, How_can_Microsoft_help__c=HELP
    )
    with service_store(tmp_path) as store:
        for opp_id in held:
            lease_by_service(store, queue_key("opportunity", opp_id), seconds_ago=0)
    code, output = run_once(world, tmp_path)
    assert code == 1, output
    assert "records: 3, synced: 0, failed: 1" in output
    assert "2 records are being synced by a running cosell service" in output
    assert f"FAILED opportunity:{bad}: NotReady" in output
    assert all(f"FAILED opportunity:{opp_id}" not in output for opp_id in held)


def test_a_stopped_service_s_expired_lease_is_taken_over(world: World, tmp_path: Path) -> None:
    opp_id = world.opportunity(
        solutions=("SOL-1",), Sync_with_Partner_Center__c=True, How_can_Microsoft_help__c=HELP
    )
    with service_store(tmp_path) as store:
        lease_by_service(store, queue_key("opportunity", opp_id), seconds_ago=600)
    code, output = run_once(world, tmp_path)
    assert code == 0, output
    assert "records: 1, synced: 1, failed: 0" in output
    assert "running cosell service" not in output
    assert world.opp(opp_id)["Referral_Identifier__c"]
    with service_store(tmp_path) as store:
        assert store.stats(store.ensure_tenant("default")).queue_depth == 0


def test_the_pass_waits_out_its_own_backoff_but_not_a_held_lease(world: World) -> None:
    referral = world.share_referral(
        details={"dealValue": 10, "closingDateTime": "2026-12-31T00:00:00Z"}
    )
    held = world.opportunity(Sync_with_Partner_Center__c=True)
    held_key = queue_key("opportunity", held)
    world.store.enqueue(world.tenant, held_key)
    [job] = world.store.claim(SERVICE, START, 300)
    full = FullSync(world.engine, workers=1, clock=world.clock)
    keys = full.keys()
    world.pc_app.state.emulator.faults.add(
        {"kind": "throttle", "params": {"retry_after": 20}, "method": "GET", "count": 3}
    )
    report = full.run(keys, timeout=120)
    assert report.failures == []
    assert (report.keys, report.synced) == (2, 1)
    assert report.held == [Held(held_key, job.lease_until)]
    assert START + timedelta(seconds=20) <= world.clock.now() < job.lease_until
    opportunities = world.query("SELECT Referral_Identifier__c FROM Opportunity")
    assert referral["id"] in {o["Referral_Identifier__c"] for o in opportunities}


def test_a_page_at_once_on_salesforce_and_the_service_workers_on_hubspot(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Salesforce's shared requests want every record of a page at once; HubSpot counts
    requests per ten seconds and searches per second, so its backfill keeps the service's."""
    for name in [n for n in os.environ if n.startswith("COSELL_")]:
        monkeypatch.delenv(name)
    path = tmp_path / "cosell.toml"
    path.write_text("[service]\nworkers = 3\n[sync]\nbackfill_workers = 60\n", encoding="utf-8")
    assert backfill_workers(load_settings(path)) == 60
    path.write_text(
        '[service]\nworkers = 3\n[sync]\ncrm = "hubspot"\nbackfill_workers = 60\n',
        encoding="utf-8",
    )
    assert backfill_workers(load_settings(path)) == 3
