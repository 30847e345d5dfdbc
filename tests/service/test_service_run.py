"""``cosell run`` end to end: both emulators in-process, the service on a loopback port.

A referral shared in the Partner Center emulator reaches the service as a signed webhook (the
only sweep runs at start-up, before it exists); an opportunity created in the Salesforce
emulator reaches it through the poll.
The handler stands in for the engine and records the keys it is given.
"""

import contextlib
import gc
import logging
import queue
import threading
from collections.abc import Iterator
from pathlib import Path

import httpx
import pytest
import structlog
from click.testing import CliRunner
from starlette.applications import Starlette
from starlette.testclient import TestClient

from cosell.cli.common import YOUNG_OBJECTS, CommandDeps
from cosell.cli.main import main
from cosell.cli.run import run_command
from cosell.clients.connect import salesforce_client
from cosell.emulators.partner_center import create_app as partner_center_emulator
from cosell.emulators.partner_center.config import PartnerCenterEmulatorConfig
from cosell.emulators.salesforce.app import create_app as salesforce_emulator
from cosell.emulators.salesforce.config import SalesforceEmulatorConfig
from cosell.operations.call_meter import CRM_CALLS, PROPAGATIONS, calls_last_24h
from cosell.service.parts import ServiceParts
from cosell.service.runtime import Runtime
from cosell.settings import load_settings
from cosell.store.records import Job
from cosell.store.sql import Store

PC, SF = PartnerCenterEmulatorConfig(public_url="http://pc.test"), SalesforceEmulatorConfig()


def config_text(state_dir: Path) -> str:
    return f"""
[tenant]
name = "acme"

[service]
host = "127.0.0.1"
port = 0
state_dir = "{state_dir}"
workers = 2

[partner_center]
api_url = "http://pc.test"
webhook_api_url = "http://pc.test"
authority = "http://pc.test"
tenant = "{PC.tenant}"
client_id = "{PC.client_id}"
auth_mode = "ropc"
username = "{PC.username}"
webhook_trust_ca = "http://pc.test/_emulator/ca.pem"

[salesforce]
instance_url = "http://sf.test"
login_url = "http://sf.test"
client_id = "{SF.client_id}"
auth_mode = "password"
username = "{SF.username}"

[sync]
poll_filter = ""
poll_min_interval = 0.05
poll_max_interval = 0.2
sweep_interval = 3600  # one sweep at start-up: a referral made later arrives by webhook
"""


class Keys:
    """The handler: records each reconciled key and lets the test wait for one."""

    def __init__(self) -> None:
        self.seen: list[str] = []
        self.changed = threading.Condition()

    def factory(self, parts: ServiceParts) -> "Keys":
        return self

    def __call__(self, job: Job) -> None:
        with self.changed:
            self.seen.append(job.key)
            self.changed.notify_all()

    def wait_for(self, key: str, deadline: float = 20.0) -> bool:
        with self.changed:
            return self.changed.wait_for(lambda: key in self.seen, deadline)


@pytest.fixture(autouse=True)
def environment(monkeypatch: pytest.MonkeyPatch) -> Iterator[None]:
    import os

    for name in list(os.environ):
        if name.startswith("COSELL_"):
            monkeypatch.delenv(name)
    monkeypatch.setenv("COSELL_PC_PASSWORD", PC.password)
    monkeypatch.setenv("COSELL_PC_CLIENT_SECRET", PC.client_secret)
    monkeypatch.setenv("COSELL_SF_PASSWORD", SF.password)
    monkeypatch.setenv("COSELL_SF_CLIENT_SECRET", SF.client_secret)
    root = logging.getLogger()
    handlers, level = root.handlers[:], root.level
    yield
    root.handlers, root.level = handlers, level
    structlog.reset_defaults()


def routed(pc: Starlette, sf: Starlette):  # type: ignore[no-untyped-def]
    def http(base_url: str, auth: httpx.Auth | None) -> httpx.Client:
        app = sf if "sf.test" in base_url else pc
        client = TestClient(app, base_url=base_url or "http://pc.test")
        client.auth = auth  # type: ignore[assignment]
        return client

    return http


def test_run_serves_webhooks_polls_and_sweeps_then_stops_cleanly(tmp_path: Path) -> None:
    config = tmp_path / "cosell.toml"
    config.write_text(config_text(tmp_path / "state"))
    delivery = httpx.Client(timeout=10)
    pc = partner_center_emulator(PC, delivery_client=delivery)
    sf = salesforce_emulator(SF)
    keys, stop, started = Keys(), threading.Event(), queue.Queue[Runtime]()
    http = routed(pc, sf)
    deps = CommandDeps(http=http, handler_factory=keys.factory, stop=stop, on_started=started.put)
    exits: list[object] = []

    def serve() -> None:
        try:
            run_command.main(["--config", str(config)], obj=deps, standalone_mode=False)
        except SystemExit as done:
            exits.append(done.code)

    service = threading.Thread(target=serve)
    service.start()
    try:
        runtime = started.get(timeout=30)
        assert runtime.server is not None
        hook = f"{runtime.server.address}/webhooks/partner-center"
        register = ["webhooks", "register", "--url", hook, "--config", str(config)]
        assert CliRunner().invoke(main, register, obj=deps).exit_code == 0

        control = TestClient(pc, base_url="http://pc.test")
        referral = control.post("/_emulator/referrals", json={"name": "Contoso"}).json()["id"]
        assert keys.wait_for(f"referral:{referral}")

        settings = load_settings(config)
        crm = salesforce_client(settings, sf.state.emulator.clock, http)
        fields = {"Name": "Fabrikam", "StageName": "Prospecting", "CloseDate": "2026-12-31"}
        opportunity = crm.create("Opportunity", fields)
        assert keys.wait_for(f"opportunity:{opportunity}")

        metrics = httpx.get(f"{runtime.server.address}/metrics").text
        assert (
            'cosell_webhooks_received_total{event="referral-created",tenant="acme"} 1.0' in metrics
        )
        assert (
            'cosell_propagation_seconds_count{path="partner_center_to_crm",tenant="acme"}'
            in metrics
        )
        assert "# TYPE cosell_reconcile_outcomes_total counter" in metrics
        assert 'side="crm",status="200"' in metrics  # cosell_api_calls_total, the poller's
        assert 'side="partner_center"' in metrics
        assert "cosell_queue_oldest_seconds" in metrics
        page = signed_in_page(runtime.server.address, config)
        assert "acme" in page
        assert "referral-created" in page
    finally:
        stop.set()
        service.join(30)
        pc.state.emulator.close()
        delivery.close()
    assert exits == [0]
    assert not service.is_alive()
    store = Store.open(load_settings(config).database_url)
    tenant = store.ensure_tenant("acme")
    crm_calls = calls_last_24h(store, tenant, store.clock.now(), CRM_CALLS)
    pc_calls = calls_last_24h(store, tenant, store.clock.now())
    reconciled = calls_last_24h(store, tenant, store.clock.now(), PROPAGATIONS)
    store.close()
    assert reconciled is not None
    assert reconciled >= 2  # the referral and the opportunity, timed for the console's chart
    assert crm_calls is not None
    assert crm_calls > 0  # the poller's queries, metered for the console's chart
    assert pc_calls is not None
    assert pc_calls > 0


def test_a_started_service_freezes_what_starting_built(tmp_path: Path) -> None:
    """Once serving, the objects starting made are out of the collector's sight: a full
    collection walked them all, a pause of about 100 ms in the middle of a record's sync."""
    config = tmp_path / "cosell.toml"
    config.write_text(config_text(tmp_path / "state"))
    delivery = httpx.Client(timeout=10)
    pc = partner_center_emulator(PC, delivery_client=delivery)
    sf = salesforce_emulator(SF)
    stop, started = threading.Event(), queue.Queue[int]()
    deps = CommandDeps(
        http=routed(pc, sf),
        handler_factory=Keys().factory,
        stop=stop,
        on_started=lambda _runtime: started.put(gc.get_freeze_count()),
    )
    thresholds = gc.get_threshold()
    gc.unfreeze()
    service = start_service(config, deps)
    try:
        frozen = started.get(timeout=30)
        young = gc.get_threshold()[0]
    finally:
        stop.set()
        service.join(30)
        gc.unfreeze()  # the rest of the test session collects as usual
        gc.set_threshold(*thresholds)
        pc.state.emulator.close()
        delivery.close()
    assert frozen > 0
    assert young == YOUNG_OBJECTS


def start_service(config: Path, deps: CommandDeps) -> threading.Thread:
    """``cosell run`` on ``config`` in a thread of this process; it ends when ``deps.stop`` is
    set."""

    def serve() -> None:
        with contextlib.suppress(SystemExit):
            run_command.main(["--config", str(config)], obj=deps, standalone_mode=False)

    service = threading.Thread(target=serve)
    service.start()
    return service


def signed_in_page(address: str, config: Path) -> str:
    """The console's overview after adding a user with ``cosell users`` and signing in."""
    add = ["users", "add", "ops", "--role", "viewer", "--password-stdin", "--config", str(config)]
    assert CliRunner().invoke(main, add, input="ops-password-123\n").exit_code == 0
    with httpx.Client(base_url=address) as browser:
        assert browser.get("/").headers["location"] == "/sign-in?next=%2F"
        form = browser.get("/sign-in").text
        csrf = form.split('name="csrf" value="', 1)[1].split('"', 1)[0]
        data = {"username": "ops", "password": "ops-password-123", "csrf": csrf, "next": "/"}
        assert browser.post("/sign-in", data=data).status_code == 303
        return browser.get("/").text


def run_once(config: Path, deps: CommandDeps) -> tuple[object, str]:
    result = CliRunner().invoke(main, ["run", "--config", str(config)], obj=deps)
    return result.exit_code, result.stderr


def test_unusable_database_url_is_a_config_error(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    config = tmp_path / "cosell.toml"
    config.write_text(config_text(tmp_path / "state"))
    monkeypatch.setenv("COSELL_SERVICE__DATABASE_URL", "nonsense://nowhere")
    pc, sf = partner_center_emulator(PC), salesforce_emulator(SF)
    deps = CommandDeps(http=routed(pc, sf), handler_factory=Keys().factory)
    code, err = run_once(config, deps)
    pc.state.emulator.close()
    assert code == 2
    assert err.startswith("error: service.database_url: not a usable database URL")


def test_a_taken_port_fails_cleanly(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    import socket

    config = tmp_path / "cosell.toml"
    config.write_text(config_text(tmp_path / "state"))
    with socket.socket() as taken:
        taken.bind(("127.0.0.1", 0))
        taken.listen()
        monkeypatch.setenv("COSELL_SERVICE__PORT", str(taken.getsockname()[1]))
        pc, sf = partner_center_emulator(PC), salesforce_emulator(SF)
        deps = CommandDeps(http=routed(pc, sf), handler_factory=Keys().factory)
        code, err = run_once(config, deps)
        pc.state.emulator.close()
    assert code == 1
    assert "did not start" in err


@pytest.mark.parametrize(("pairs", "loops"), [(20, ["drift-check"]), (0, [])])
def test_the_drift_check_runs_beside_the_signals_unless_turned_off(
    tmp_path: Path, pairs: int, loops: list[str]
) -> None:
    from cosell.clock import SystemClock
    from cosell.service.runtime import build_runtime

    config = tmp_path / "cosell.toml"
    text = config_text(tmp_path / "state").replace("[sync]", f"[sync]\nverify_pairs = {pairs}")
    config.write_text(text.replace("workers = 2", "workers = 2\nlease_seconds = 42"))
    pc, sf = partner_center_emulator(PC), salesforce_emulator(SF)
    runtime = build_runtime(
        load_settings(config), Keys().factory, clock=SystemClock(), http=routed(pc, sf)
    )
    try:
        names = [loop.name for loop in runtime.signals]
        assert [n for n in names if n == "drift-check"] == loops
        assert runtime.queue._lease_seconds == 42  # type: ignore[attr-defined]
    finally:
        for close in runtime._closers:
            close()
        pc.state.emulator.close()


def test_run_against_an_emulator_with_emulated_clock_runs_on_its_time(tmp_path: Path) -> None:
    config = tmp_path / "cosell.toml"
    text = config_text(tmp_path / "state")
    config.write_text(
        text.replace("[partner_center]\n", "[partner_center]\nemulated_clock = true\n")
    )
    pc = partner_center_emulator(PC, delivery_client=httpx.Client(timeout=10))
    sf = salesforce_emulator(SF)
    control = TestClient(pc, base_url="http://pc.test")
    assert control.post("/_emulator/clock", json={"advance_seconds": 12 * 86400}).is_success
    seen: queue.Queue[float] = queue.Queue()
    stop, started = threading.Event(), queue.Queue[Runtime]()

    def factory(parts: ServiceParts) -> Keys:
        seen.put((parts.clock.now() - pc.state.emulator.clock.now()).total_seconds())
        return Keys()

    deps = CommandDeps(
        http=routed(pc, sf), handler_factory=factory, stop=stop, on_started=started.put
    )
    service = start_service(config, deps)
    try:
        started.get(timeout=30)
        assert abs(seen.get(timeout=10)) < 60  # the emulator's time, 12 days ahead of the host
    finally:
        stop.set()
        service.join(timeout=30)
