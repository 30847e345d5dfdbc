"""``cosell sync``: one full reconcile pass over both systems, then a summary.

One pass is what the command is for (``cosell run`` is the service that keeps syncing), so it
needs no flag; ``--once`` is still accepted, as earlier versions required it.

The pass is a backfill (:mod:`cosell.sync.engine.backfill`): batches of 100, a progress bar with
the calls per record and records per second so far, a pause (said on stderr) while the Salesforce
API allowance is down to its reserve, and a checkpoint in the store, so a pass that was killed
resumes where it stopped without redoing finished records.

After the pass every linked pair is read again on both sides and compared per the mapping (see
``cosell verify``). Exit status: 0 when every record synced and every pair agrees, 1 when any
failed or any pair disagrees (each listed with its reason or fields), 2 when the configuration is
invalid. Records a running ``cosell run`` holds are listed, not
waited for, and are not failures.
"""

from __future__ import annotations

import threading
from collections.abc import Callable
from pathlib import Path

import click
from rich.console import Console
from rich.progress import BarColumn, Progress, TextColumn, TimeElapsedColumn

from cosell.cli.common import (
    CommandDeps,
    command_deps,
    config_option,
    fail,
    reported,
    settings_for,
    startup_heap_frozen,
)
from cosell.cli.sync_shards import (
    MakeBackfill,
    Message,
    Progressed,
    Said,
    ShardFailed,
    Shards,
    backfill_processes,
)
from cosell.clients.connect import followed_clock
from cosell.errors import CosellError
from cosell.operations.verify import Verifier, VerifyReport
from cosell.settings import Settings
from cosell.sync.engine.backfill import Backfill, BackfillReport, Readout, ReserveGate, Shard
from cosell.sync.engine.full_sync import Held, PassReport, Wiring, build_engine


@click.command("sync")
@click.option(
    "--once",
    is_flag=True,
    help="Accepted for older scripts: cosell sync always runs one pass (cosell run keeps going).",
)
@click.option(
    "--timeout",
    type=float,
    default=300.0,
    show_default=True,
    help="Seconds to keep retrying throttled or failing records before giving up.",
)
@config_option
def sync_command(once: bool, timeout: float, config_path: Path | None) -> None:
    """Reconcile every flagged or linked opportunity and every referral once."""
    del once  # one pass either way
    deps = command_deps()
    with reported():
        settings = settings_for(config_path)
        processes = backfill_processes(settings, deps)
        make = _backfill_maker(settings, deps)
        shards = Shards.fork(settings, deps, processes, timeout, make) if processes > 1 else None
        clock = followed_clock(settings, deps.clock, deps.http)
        wiring = build_engine(settings, clock=clock, http=deps.http)
    try:
        with startup_heap_frozen():
            report = _run_with_progress(wiring, make, timeout, shards)
            verifier = Verifier(wiring.engine, deps.clock)
            checked = verifier.run(verifier.pairs(), every_pair=False)
    except CosellError as exc:
        fail(str(exc), 1)
    finally:
        wiring.close()
    _print(report)
    _print_drift(checked)
    raise SystemExit(0 if report.ok and checked.ok else 1)


def _backfill_maker(settings: Settings, deps: CommandDeps) -> MakeBackfill:
    """How a process (this one, or a shard's) makes its backfill from its wiring."""

    def make(
        wiring: Wiring,
        shard: Shard,
        between_phases: Callable[[], object],
        say: Callable[[str], None],
    ) -> Backfill:
        gate = None
        if wiring.salesforce is not None:
            sf = wiring.salesforce
            gate = ReserveGate(sf.budget, sf.limits, deps.clock, say)
        return Backfill(
            wiring.engine,
            workers=backfill_workers(settings),
            max_attempts=settings.sync.max_attempts,
            clock=deps.clock,
            gate=gate,
            shard=shard,
            between_phases=between_phases,
        )

    return make


def _run_with_progress(
    wiring: Wiring, make: MakeBackfill, timeout: float, shards: Shards | None
) -> PassReport:
    """The backfill with a progress bar and a live calls-per-record and records/s readout (over
    every shard's process)."""
    console = Console(stderr=True)

    def say(text: str) -> None:
        console.print(text)

    if shards is None:
        backfill = make(wiring, Shard(), lambda: None, say)
    else:
        backfill = make(wiring, shards.mine, shards.between_phases, say)
    if backfill.workers < backfill.asked:
        click.echo(
            f"PostgreSQL has connections spare for {backfill.workers} records at once"
            f" (sync.backfill_workers is {backfill.asked}; each holds its pair's locks on a"
            " connection of its own): more calls a record, none refused"
        )
    readout = Readout(wiring.calls)
    counting = threading.Lock()
    columns = (
        TextColumn("syncing"),
        BarColumn(),
        TextColumn("{task.completed} done"),
        TimeElapsedColumn(),
        TextColumn("{task.fields[readout]}"),
    )
    with Progress(*columns, console=console, transient=True) as progress:
        task = progress.add_task("sync", total=None, readout="")

        def count(records: int) -> None:
            with counting:
                readout.records += records
                progress.update(task, advance=records, readout=readout.line())

        def heard(message: Message) -> None:
            if isinstance(message, Progressed):
                readout.others[message.shard] = message.calls
                count(message.records)
            elif isinstance(message, Said):
                say(message.text)

        if shards is None:
            report = backfill.run(lambda _key: count(1), timeout=timeout)
        else:
            report = _sharded(backfill, shards, heard, lambda _key: count(1), timeout)
    if report.released:
        click.echo(
            f"let go of {report.released} records leased by a cosell process that no longer runs"
        )
    if report.resumed:
        click.echo(f"resumed an interrupted pass: {report.skipped} records were already done")
    click.echo(f"{readout.records} records in this run, {readout.line()}")
    return report.passes


def _sharded(
    backfill: Backfill,
    shards: Shards,
    heard: Callable[[Message], None],
    advance: Callable[[str], None],
    timeout: float,
) -> BackfillReport:
    """This process's shard, then the others' reports merged into its own; a shard that failed
    fails the pass with its reason."""
    try:
        listener = shards.listen(heard)
        report = backfill.run(advance, timeout=timeout)
        listener.join()
    finally:
        shards.stop()
    if shards.errors:
        raise ShardFailed(shards.failure())
    for index in sorted(shards.reports):
        report.merge(shards.reports[index])
    report.resumed = shards.resumed
    return report


def backfill_workers(settings: Settings) -> int:
    """Records worked on at once: a batch's worth on Salesforce, whose creates, reads and guarded
    writes go in shared requests; ``service.workers`` on HubSpot, where more at once would only
    meet its ten-second and search rate limits sooner."""
    if settings.sync.crm == "salesforce":
        return settings.sync.backfill_workers
    return settings.service.workers


def _print(report: PassReport) -> None:
    click.echo(f"records: {report.keys}, synced: {report.synced}, failed: {len(report.failures)}")
    for name in report.left_out:
        click.echo(f"not synced (missing in the org): {name}")
    for failure in report.failures:
        click.echo(f"FAILED {failure.key}: {failure.reason}")
    _print_held(report.held)


def _print_drift(checked: VerifyReport) -> None:
    """Every linked pair read again on both sides after the pass: the ones that disagree."""
    for pair in checked.pairs:
        if pair.disagrees:
            for line in pair.lines():
                click.echo(line)
    click.echo(f"verified {checked.summary()}")


def _print_held(held: list[Held]) -> None:
    if not held:
        return
    count = "1 record is" if len(held) == 1 else f"{len(held)} records are"
    click.echo(f"{count} being synced by a running cosell service (not waited for):")
    for entry in held:
        click.echo(f"  {entry.key} (leased until {entry.until.isoformat(timespec='seconds')})")
