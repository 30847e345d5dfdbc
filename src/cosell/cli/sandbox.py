"""``cosell sandbox``: both emulators and the connector on loopback, ready to try."""

from __future__ import annotations

import errno
import faulthandler
import os
import signal
import threading
import time
from pathlib import Path
from typing import TYPE_CHECKING, NoReturn

import click

from cosell.errors import ConfigError, CosellError
from cosell.sandbox.crash import CRASH_POINTS

if TYPE_CHECKING:  # the sandbox's parts load only when the command runs
    from cosell.sandbox.hubspot_stack import HubSpotSandbox
    from cosell.sandbox.stack import Sandbox

RELAY_WINDOW = 2.0
"""Seconds within which a second stop signal counts as the first one relayed."""


@click.command("sandbox")
@click.option("--port", default=8600, show_default=True, type=int, help="Connector (0: free).")
@click.option("--pc-port", default=8601, show_default=True, type=int, help="Partner Center.")
@click.option("--sf-port", default=8602, show_default=True, type=int, help="Salesforce.")
@click.option("--hs-port", default=8603, show_default=True, type=int, help="HubSpot.")
@click.option(
    "--crm",
    type=click.Choice(["salesforce", "hubspot"]),
    default="salesforce",
    show_default=True,
    help="Which CRM's emulator the connector syncs with.",
)
@click.option(
    "--state-dir",
    default=Path(".cosell/sandbox"),
    show_default=True,
    type=click.Path(file_okay=False, path_type=Path),
    help="Emulator state, the SQLite store, cosell.toml and sandbox.json.",
)
@click.option(
    "--database-url",
    help="PostgreSQL for the scale-out shape: this process serves `cosell web`, and --workers "
    "`cosell worker` processes reconcile through procrastinate.",
)
@click.option(
    "--workers",
    default=2,
    show_default=True,
    type=click.IntRange(1, 32),
    help="`cosell worker` processes (with --database-url).",
)
@click.option("--no-seed", is_flag=True, help="Start without demo referrals and opportunities.")
@click.option(
    "--log-level",
    default="warning",
    show_default=True,
    type=click.Choice(["debug", "info", "warning", "error"]),
)
@click.option(
    "--crash-after",
    type=click.Choice(sorted(CRASH_POINTS)),
    envvar="COSELL_SANDBOX_CRASH_AFTER",
    hidden=True,
    help="End the process abruptly at this point (restart tests).",
)
def sandbox_command(
    port: int,
    pc_port: int,
    sf_port: int,
    hs_port: int,
    crm: str,
    state_dir: Path,
    database_url: str | None,
    workers: int,
    no_seed: bool,
    log_level: str,
    crash_after: str | None,
) -> None:
    """Run Partner Center and Salesforce emulators and the connector between them.

    Sets up the emulated org, registers the webhook, seeds demo data (unless --no-seed), writes
    STATE_DIR/sandbox.json, prints how to act as each side, and runs until Ctrl-C or SIGTERM.
    """
    from cosell.cli.common import freeze_startup_heap
    from cosell.sandbox.hubspot_stack import HubSpotSandbox
    from cosell.sandbox.instructions import instructions
    from cosell.sandbox.stack import Sandbox, SandboxOptions
    from cosell.service.logging import configure_logging

    configure_logging("console", log_level)
    stop = threading.Event()
    _stop_on_signals(stop)
    sandbox: Sandbox | HubSpotSandbox
    if crm == "hubspot":
        sandbox = HubSpotSandbox(state_dir, (port, pc_port, hs_port))
    else:
        options = SandboxOptions(
            state_dir,
            port,
            pc_port,
            sf_port,
            not no_seed,
            crash_after,
            database_url,
            workers,
        )
        sandbox = Sandbox(options)
    try:
        content = sandbox.start()
        freeze_startup_heap()
        click.echo(instructions(content), nl=True)
        stop.wait()
    except ConfigError as exc:
        _fail(sandbox, str(exc), 2)
    except CosellError as exc:
        _fail(sandbox, str(exc), 1)
    except OSError as exc:
        _fail(sandbox, _os_error(exc), 1)
    except BaseException:
        sandbox.stop()
        raise
    drained = sandbox.stop()
    raise SystemExit(0 if drained else 1)


def _os_error(exc: OSError) -> str:
    if exc.errno == errno.EADDRINUSE:
        return "a port is already in use (is another sandbox running?); choose others or use 0"
    return str(exc)


def _fail(sandbox: Sandbox | HubSpotSandbox, message: str, status: int) -> NoReturn:
    sandbox.stop()
    click.echo(f"error: {message}", err=True)
    raise SystemExit(status)


def _stop_on_signals(stop: threading.Event) -> None:
    """SIGTERM/SIGINT stop gracefully; another one while stopping ends the process at once
    (unless it is the same signal relayed a moment later, as ``uv run`` does). SIGUSR1 prints
    every thread's stack to stderr (for a stop that takes too long)."""
    if threading.current_thread() is not threading.main_thread():
        return
    first: list[float] = []

    def handle(signum: int, _frame: object) -> None:
        if first and time.monotonic() - first[0] > RELAY_WINDOW:
            os._exit(128 + signum)
        first.append(time.monotonic())
        stop.set()

    for signum in (signal.SIGTERM, signal.SIGINT):
        signal.signal(signum, handle)
    faulthandler.register(signal.SIGUSR1, all_threads=True)
