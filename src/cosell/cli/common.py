"""What every command shares: its dependencies (tests pass their own), ``--config``, and how
cosell's errors end a command: a ``ConfigError`` with exit status 2, any other ``CosellError``
with 1, each as one line on stderr.
"""

from __future__ import annotations

import gc
import threading
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, NoReturn

import click

from cosell.clients.connect import HttpFactory, default_http
from cosell.clock import Clock, SystemClock
from cosell.errors import ConfigError, CosellError
from cosell.settings import Settings, load_settings

if TYPE_CHECKING:  # the runtime (store, queue, web server) loads only when `run` starts
    from cosell.service.parts import HandlerFactory
    from cosell.service.runtime import Runtime


@dataclass
class CommandDeps:
    """What the commands use from outside; tests pass their own as click's ``obj``."""

    clock: Clock = field(default_factory=SystemClock)
    http: HttpFactory = default_http
    handler_factory: HandlerFactory | None = None
    stop: threading.Event | None = None
    on_started: Callable[[Runtime], None] | None = None


config_option = click.option(
    "--config",
    "config_path",
    type=click.Path(dir_okay=False, path_type=Path),
    envvar="COSELL_CONFIG",
    help="TOML configuration file (env: COSELL_CONFIG).",
)


def command_deps() -> CommandDeps:
    found = click.get_current_context().find_object(CommandDeps)
    return found if found is not None else CommandDeps()


def fail(message: str, status: int) -> NoReturn:
    click.echo(f"error: {message}", err=True)
    raise SystemExit(status)


@contextmanager
def reported() -> Iterator[None]:
    """Turn cosell's errors into one line on stderr and an exit status."""
    try:
        yield
    except ConfigError as exc:
        fail(str(exc), 2)
    except CosellError as exc:
        fail(str(exc), 1)


TENANT_META = "cosell.tenant"


def selected_tenant() -> str | None:
    """The tenant named by ``cosell --tenant NAME`` (or ``COSELL_TENANT``), if any."""
    context = click.get_current_context(silent=True)
    chosen = context.find_root().meta.get(TENANT_META) if context is not None else None
    return chosen if isinstance(chosen, str) else None


def settings_for(config_path: Path | None) -> Settings:
    """The settings of the tenant this command works on (the only one, or ``--tenant``)."""
    with reported():
        return load_settings(config_path).for_tenant(selected_tenant())


YOUNG_OBJECTS = 10_000
"""Objects made and not yet freed before the collector looks at the youngest (Python's default
is 700). Sync work makes objects that live for a step of a batch: looked at every 700, they
were looked at again and again and moved to the old generations, which then filled and were
walked whole. A backfill of 5,000 referrals spent 1.5 s of its 16 s of CPU collecting (3,350
young, 304 middle and 28 full collections); with 10,000, 0.7 s (183, 7 and 1), and a few MB
more held at most (peak RSS 162-170 MB against 159-161)."""


def freeze_startup_heap() -> None:
    """Put what starting built (modules, classes, the service's and emulators' wiring) out of
    the garbage collector's sight, for a process that now serves until stopped: each full
    collection walked all of it, a pause of about 100 ms. In the sandbox one referral of 40
    shared back to back took 121-149 ms to become an opportunity, at the same point of every
    run, where the others took 26-80 ms; with the heap frozen, 78 ms at most. Objects made
    later are collected as before, the youngest every :data:`YOUNG_OBJECTS`."""
    gc.collect()
    gc.freeze()
    _, middle, old = gc.get_threshold()
    gc.set_threshold(YOUNG_OBJECTS, middle, old)


@contextmanager
def startup_heap_frozen() -> Iterator[None]:
    """What starting built out of the collector's sight while the block runs (see
    :func:`freeze_startup_heap`), and back in sight after it, for a command that ends: a pass
    of ``cosell sync`` spent a tenth of its CPU in full collections that walked it (3,000
    referrals: 19 of 80-100 ms each, against 20 of 30-40 ms frozen). The collector's
    thresholds are as they were after it."""
    thresholds = gc.get_threshold()
    freeze_startup_heap()
    try:
        yield
    finally:
        gc.unfreeze()
        gc.set_threshold(*thresholds)
