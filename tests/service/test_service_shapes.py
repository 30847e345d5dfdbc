"""``cosell web`` and ``cosell worker`` on PostgreSQL with procrastinate: the web process only
defers, the worker reconciles and runs the polls as periodic tasks; SIGTERM-style stops."""

import itertools
import os
import queue
import threading
from collections.abc import Iterator
from datetime import UTC, datetime
from pathlib import Path

import click
import croniter
import httpx
import pytest
import sqlalchemy as sa
from click.testing import CliRunner
from starlette.testclient import TestClient
from structlog.testing import capture_logs
from test_service_run import PC, SF, Keys, config_text, routed

from cosell.cli.common import CommandDeps
from cosell.cli.main import main
from cosell.cli.run import web_command, worker_command
from cosell.clients.connect import salesforce_client
from cosell.clock import SystemClock
from cosell.emulators.partner_center import create_app as partner_center_emulator
from cosell.emulators.salesforce.app import create_app as salesforce_emulator
from cosell.queue.distributed import WAKE, DistributedQueue, every
from cosell.service.loops import POLL, SWEEP
from cosell.service.runtime import (
    Runtime,
    _waker,
    build_runtime,
    connections_at_most,
)
from cosell.settings import load_settings
from cosell.signals.cadence import Cadence
from cosell.signals.loop import SignalLoop
from cosell.signals.pace import Pace
from cosell.store import Store
from cosell.store.testing import POSTGRES_URL_ENV, fresh_postgres_database

pytestmark = pytest.mark.postgres


@pytest.fixture
def database(monkeypatch: pytest.MonkeyPatch) -> Iterator[str]:
    base = os.environ.get(POSTGRES_URL_ENV)
    if not base:
        pytest.skip(f"{POSTGRES_URL_ENV} is not set")
    with fresh_postgres_database(base) as url:
        for name in list(os.environ):
            if name.startswith("COSELL_") and name != POSTGRES_URL_ENV:
                monkeypatch.delenv(name)
        monkeypatch.setenv("COSELL_PC_PASSWORD", PC.password)
        monkeypatch.setenv("COSELL_PC_CLIENT_SECRET", PC.client_secret)
        monkeypatch.setenv("COSELL_SF_PASSWORD", SF.password)
        monkeypatch.setenv("COSELL_SF_CLIENT_SECRET", SF.client_secret)
        monkeypatch.setenv("COSELL_SERVICE__DATABASE_URL", url)
        monkeypatch.setenv("COSELL_SERVICE__QUEUE", "procrastinate")
        yield url


class Process:
    """A ``cosell web``/``worker`` command in a thread, stopped as by SIGTERM."""

    def __init__(self, command: click.Command, config: Path, deps: CommandDeps) -> None:
        self.stop = threading.Event()
        self.started: queue.Queue[Runtime] = queue.Queue()
        self.exits: list[object] = []
        deps.stop, deps.on_started = self.stop, self.started.put
        self.thread = threading.Thread(target=self._serve, args=(command, config, deps))
        self.thread.start()

    def _serve(self, command: click.Command, config: Path, deps: CommandDeps) -> None:
        try:
            command.main(["--config", str(config)], obj=deps, standalone_mode=False)
        except SystemExit as done:
            self.exits.append(done.code)

    def halt(self) -> None:
        self.stop.set()
        self.thread.join(60)


def test_web_defers_and_a_worker_reconciles_and_polls(tmp_path: Path, database: str) -> None:
    config = tmp_path / "cosell.toml"
    config.write_text(config_text(tmp_path / "state"))
    delivery = httpx.Client(timeout=10)
    pc = partner_center_emulator(PC, delivery_client=delivery)
    sf = salesforce_emulator(SF)
    http = routed(pc, sf)
    web_keys, worker_keys = Keys(), Keys()
    web = Process(web_command, config, CommandDeps(http=http, handler_factory=web_keys.factory))
    worker = Process(
        worker_command, config, CommandDeps(http=http, handler_factory=worker_keys.factory)
    )
    try:
        front = web.started.get(timeout=30)
        back = worker.started.get(timeout=30)
        assert front.server is not None
        assert back.server is None
        assert front.signals == []
        assert back.signals == []  # the polls and the sweep are periodic tasks
        hook = f"{front.server.address}/webhooks/partner-center"
        register = ["webhooks", "register", "--url", hook, "--config", str(config)]
        assert CliRunner().invoke(main, register, obj=CommandDeps(http=http)).exit_code == 0
        control = TestClient(pc, base_url="http://pc.test")
        referral = control.post("/_emulator/referrals", json={"name": "Contoso"}).json()["id"]
        assert worker_keys.wait_for(f"referral:{referral}", 30)

        crm = salesforce_client(load_settings(config), sf.state.emulator.clock, http)
        fields = {"Name": "Fabrikam", "StageName": "Prospecting", "CloseDate": "2026-12-31"}
        opportunity = crm.create("Opportunity", fields)
        assert worker_keys.wait_for(f"opportunity:{opportunity}", 30)
        store = Store.open(database)
        try:  # the poll's wait is kept where every worker sees it (cosell.signals.pace)
            paced = Pace.loads(store.get_cursor(store.ensure_tenant("acme"), f"pace.{POLL}"))
        finally:
            store.close()
        assert paced is not None
        assert paced.wait is not None
        assert web_keys.seen == []  # the web process never reconciles
        assert httpx.get(f"{front.server.address}/healthz").status_code == 200
    finally:
        web.halt()
        worker.halt()
        pc.state.emulator.close()
        delivery.close()
    assert web.exits == [0]
    assert worker.exits == [0]


def test_web_and_worker_need_the_procrastinate_queue(
    tmp_path: Path, database: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("COSELL_SERVICE__QUEUE", "embedded")
    config = tmp_path / "cosell.toml"
    config.write_text(config_text(tmp_path / "state"))
    for command in ("web", "worker"):
        result = CliRunner().invoke(main, [command, "--config", str(config)])
        assert result.exit_code == 2
        assert result.stderr.startswith("error: service.queue:")


@pytest.mark.parametrize(
    ("seconds", "apart"), [(0.05, 1), (2, 2), (30, 30), (300, 300), (7200, 7200)]
)
def test_periods_become_cron_expressions_that_tick_that_often(seconds: float, apart: int) -> None:
    """As procrastinate reads them (croniter: the seconds field is the sixth, last). The old
    expressions said the seconds first: every one of them ticked every second."""
    ticks = croniter.croniter(every(seconds), datetime(2026, 1, 1, tzinfo=UTC))
    times = [ticks.get_next(float) for _ in range(4)]
    assert [b - a for a, b in itertools.pairwise(times)] == [apart] * 3


def test_run_on_procrastinate_looks_as_its_workers_do(tmp_path: Path, database: str) -> None:
    """A `cosell run` joined by `cosell worker` processes runs no loop of its own: it knows
    the signals' periodic tasks (a worker's tick it fetched used to fail, its task unknown
    there) and looks at the pace they share, so the CRM is polled once, not once more."""
    config = tmp_path / "cosell.toml"
    config.write_text(config_text(tmp_path / "state"))
    pc, sf = partner_center_emulator(PC), salesforce_emulator(SF)
    runtime = build_runtime(
        load_settings(config), Keys().factory, clock=SystemClock(), http=routed(pc, sf)
    )
    try:
        assert runtime.signals == []
        assert runtime.server is not None
        queue = runtime.queue
        assert isinstance(queue, DistributedQueue)
        assert {POLL, SWEEP} <= set(queue._periodic)
    finally:
        for close in runtime._closers:
            close()
        pc.state.emulator.close()


def test_a_wake_on_procrastinate_is_a_job_for_any_worker(database: str) -> None:
    """A webhook's sweep hint and a parked pair's alert woke `loop.wake()`, a thread that does
    not run where the signals are periodic tasks: the hint was lost."""
    store = Store.open(database)
    try:
        tenant = store.ensure_tenant("acme")
        queue = DistributedQueue(store)
        loop = SignalLoop(SWEEP, Feedless(), Cadence(300.0, 300.0), SystemClock())
        with queue.opened():
            _waker(queue, loop, tenant)()
        with store.engine.connect() as conn:
            rows = conn.execute(
                sa.text("SELECT task_name, args FROM procrastinate_jobs WHERE status = 'todo'")
            ).all()
        assert [(r.task_name, r.args["timestamp"]) for r in rows] == [
            (f"cosell.periodic.{SWEEP}", WAKE)
        ]
    finally:
        store.close()


def test_a_process_warns_at_start_when_the_server_could_not_give_it_its_connections(
    tmp_path: Path, database: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Five processes of the compose shape may open more connections than PostgreSQL's default
    allows: the one that would be refused at a busy moment says so as it starts."""
    config = tmp_path / "cosell.toml"
    config.write_text(config_text(tmp_path / "state"))
    settings = load_settings(config)
    pc, sf = partner_center_emulator(PC), salesforce_emulator(SF)
    for spare, warned in ((200, False), (12, True)):
        monkeypatch.setattr(Store, "spare_connections", lambda _self, n=spare: n)
        with capture_logs() as logs:
            runtime = build_runtime(
                settings, Keys().factory, clock=SystemClock(), http=routed(pc, sf), role="worker"
            )
        for close in runtime._closers:
            close()
        at_most = connections_at_most(settings, "worker")
        said = {e["event"]: e for e in logs if e["event"].startswith("database_connections")}
        assert said["database_connections"]["at_most"] == at_most
        assert ("database_connections_short" in said) is warned
        if warned:
            short = said["database_connections_short"]
            assert (short["log_level"], short["server_spare"]) == ("warning", 12)
            assert "max_connections" in short["advice"]
    pc.state.emulator.close()


class Feedless:
    def look(self) -> int:
        return 0
