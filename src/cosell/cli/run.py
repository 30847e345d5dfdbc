"""``cosell run`` and ``cosell webhooks …``: the service and its Partner Center registration.

Both read the same configuration (``--config cosell.toml`` plus the environment). A bad
configuration ends the command with one line naming the key and exit status 2; a refused
remote call ends it with one line and exit status 1.
"""

from __future__ import annotations

import signal
import threading
from pathlib import Path
from typing import TYPE_CHECKING

import click

from cosell.cli.common import (
    command_deps,
    config_option,
    fail,
    freeze_startup_heap,
    reported,
    selected_tenant,
    settings_for,
)
from cosell.clients.connect import followed_clock, partner_center_client
from cosell.clients.partner_center import PartnerCenterClient
from cosell.errors import Conflict
from cosell.service.logging import configure_logging
from cosell.settings import load_settings
from cosell.webhooks.events import EVENTS, TEST_EVENT
from cosell.webhooks.registration import WebhookRegistration

if TYPE_CHECKING:  # the runtime (store, queue, web server) loads only when `run` starts
    from cosell.service.runtime import Role

# --- run ---------------------------------------------------------------------------------------


@click.command("run")
@config_option
@click.option(
    "--log-format",
    type=click.Choice(["console", "json"]),
    help="Log format (default: service.log_format).",
)
def run_command(config_path: Path | None, log_format: str | None) -> None:
    """Run the service: webhook receiver, Salesforce poller, Partner Center sweeper, workers."""
    _serve(config_path, log_format, "all")


@click.command("web")
@config_option
@click.option("--log-format", type=click.Choice(["console", "json"]), help="Log format.")
def web_command(config_path: Path | None, log_format: str | None) -> None:
    """Serve webhooks, console, health and metrics; workers run the reconciles (procrastinate).

    Stateless: run any number behind a load balancer (needs service.queue = "procrastinate").
    """
    _serve(config_path, log_format, "web")


@click.command("worker")
@config_option
@click.option("--log-format", type=click.Choice(["console", "json"]), help="Log format.")
def worker_command(config_path: Path | None, log_format: str | None) -> None:
    """Run reconciles and the periodic polls and sweeps from the shared queue (procrastinate).

    The polls and the sweep run once per period across every worker; run any number, on any
    machine (needs service.queue = "procrastinate"). SIGTERM: stop taking work; in-flight
    reconciles finish.
    """
    _serve(config_path, log_format, "worker")


def _serve(config_path: Path | None, log_format: str | None, role: Role) -> None:
    from cosell.service.runtime import build_runtime
    from cosell.sync.engine.engine import queue_handler

    # SIGTERM from the first moment: a process stopped while it is still starting (a sandbox
    # or an orchestrator that changed its mind) has nothing in flight and ends cleanly.
    deps = command_deps()
    stop = deps.stop or threading.Event()
    _stop_on_signals(stop)
    with reported():  # every tenant, unless --tenant names one
        settings = load_settings(config_path)
        if selected_tenant() is not None:
            settings = settings.for_tenant(selected_tenant())
    json_logs = (log_format or settings.service.log_format) == "json"
    configure_logging("json" if json_logs else "console", settings.service.log_level)
    factory = deps.handler_factory or queue_handler
    # Against the sandbox (partner_center.emulated_clock) the service runs on the emulator's
    # time, so expiry warnings and countdowns can be seen there.
    clock = followed_clock(settings, deps.clock, deps.http)
    with reported():
        runtime = build_runtime(settings, factory, clock=clock, http=deps.http, role=role)
    if stop.is_set():  # stopped while starting: nothing ran, close what was opened
        raise SystemExit(0 if runtime.stop(timeout=10) else 1)
    try:
        runtime.start()
    except RuntimeError as exc:  # e.g. the port is taken
        runtime.stop(timeout=10)
        fail(str(exc), 1)
    freeze_startup_heap()
    if deps.on_started is not None:
        deps.on_started(runtime)
    stop.wait()
    drained = runtime.stop()
    raise SystemExit(0 if drained else 1)


def _stop_on_signals(stop: threading.Event) -> None:
    if threading.current_thread() is not threading.main_thread():
        return  # only the main thread may install handlers (tests run commands elsewhere)
    for signum in (signal.SIGTERM, signal.SIGINT):
        signal.signal(signum, lambda *_: stop.set())


# --- webhooks ----------------------------------------------------------------------------------


@click.group("webhooks")
def webhooks_command() -> None:
    """Register and check the Partner Center webhook that calls this service."""


def _partner_center(config_path: Path | None) -> PartnerCenterClient:
    settings = settings_for(config_path)
    deps = command_deps()
    with reported():
        return partner_center_client(settings, deps.clock, deps.http)


def _describe(registration: WebhookRegistration) -> str:
    events = ", ".join(registration.webhook_events) or "none"
    lines = [f"url: {registration.webhook_url}", f"events: {events}"]
    if registration.subscriber_id:
        lines.append(f"subscriber: {registration.subscriber_id}")
    return "\n".join(lines)


@webhooks_command.command("register")
@click.option("--url", help="Public URL of /webhooks/partner-center (default: from config).")
@click.option("--overwrite", is_flag=True, help="Replace an existing registration.")
@click.option(
    "--include-test-event", is_flag=True, help=f"Also register {TEST_EVENT} (for `test`)."
)
@config_option
def register(
    url: str | None, overwrite: bool, include_test_event: bool, config_path: Path | None
) -> None:
    """Register the referral events (POST; with --overwrite, PUT over an existing one)."""
    settings = settings_for(config_path)
    target = url or settings.partner_center.webhook_public_url
    if not target:
        fail("give --url or set partner_center.webhook_public_url", 2)
    events = [*EVENTS, TEST_EVENT] if include_test_event else list(EVENTS)
    client = _partner_center(config_path)
    with reported():
        try:
            registration = client.register_or_overwrite(target, events, overwrite)
        except Conflict as exc:
            # Partner Center keeps one registration per tenant: say which flag replaces it.
            fail(f"{exc.message}: run again with --overwrite to point it at {target}", 1)
    click.echo(_describe(registration))


@webhooks_command.command("show")
@config_option
def show(config_path: Path | None) -> None:
    """Print the current registration."""
    client = _partner_center(config_path)
    with reported():
        registration = client.get_registration()
    if registration is None:
        fail("no webhook registration exists", 1)
    click.echo(_describe(registration))


@webhooks_command.command("test")
@click.option("--check", "correlation_id", help="Show the deliveries of an earlier test.")
@config_option
def test(correlation_id: str | None, config_path: Path | None) -> None:
    """Ask Partner Center to send a test event, or show how an earlier one was delivered."""
    client = _partner_center(config_path)
    with reported():
        if correlation_id is None:
            sent = client.send_validation_event()
            click.echo(f"test event requested; check with: cosell webhooks test --check {sent}")
            return
        event = client.get_validation_event(correlation_id)
    click.echo(f"status: {event.status or 'unknown'}")
    for result in event.results:
        click.echo(f"  {result.date_time_utc}: {result.response_code} {result.response_message}")
