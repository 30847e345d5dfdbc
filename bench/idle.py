"""Idle cost: what ``cosell run`` on the service defaults spends per day when nothing changes.

Run on purpose (not a test): ``uv run python bench/idle.py [--pairs 20] [--minutes 11]``;
``--postgres URL`` keeps the store in a fresh database on that server, and ``--worker`` (with
it) runs the scale-out shape instead: ``cosell worker`` on the procrastinate queue, where the
polls, sweeps and checks are periodic tasks.

Serves both emulators (see ``bench/backfill.py``), syncs ``--pairs`` referrals with ``cosell
sync --once``, then runs ``cosell run`` with the service's default timings (no ``[sync]``
section: polls back off to 60 s, related polls, sweeps and drift checks every 300 s). After
``--warmup`` seconds of start-up it counts ``--minutes`` (longer than the longest period) and
prints the calls made on each side per day, the Salesforce figure as a share of a
100,000-call day (target <= 3 %), and the writes (target 0).
"""

from __future__ import annotations

import argparse
import os
import signal
import subprocess
import sys
import tempfile
import time
from pathlib import Path

from backfill import Stack, _database, machine, share_referrals, stack, sync_once
from propagation import _total, _writes

from cosell.sandbox import connector

DAY = 86_400
ALLOWANCE = 100_000


def service_defaults(s: Stack, database_url: str | None, queue: str | None) -> None:
    """The stack's cosell.toml without the sandbox's quick ``[sync]`` timings (its store in
    ``database_url`` when given, and the work ``queue`` when named)."""
    data = connector.config_data(s.emulators, s.config_file.parent, 0)
    data.pop("sync", None)
    if database_url is not None:
        data["service"]["database_url"] = database_url
    if queue is not None:
        data["service"]["queue"] = queue
    connector.write_config(s.config_file, data)


def run_service(s: Stack, warmup: float, seconds: float, log: Path, role: str = "run") -> None:
    """Start ``cosell <role>`` (``run`` or ``worker``), let its start-up work (describe, first
    polls, sweep and drift check) pass for ``warmup`` seconds, then count ``seconds`` of idle."""
    env = {k: v for k, v in os.environ.items() if not k.startswith("COSELL_")}
    command = [sys.executable, "-m", "cosell", role, "--config", str(s.config_file)]
    with log.open("wb") as out:
        process = subprocess.Popen(
            command, env={**env, **s.env}, stdout=out, stderr=subprocess.STDOUT
        )
        try:
            time.sleep(warmup)
            s.reset_calls()
            time.sleep(seconds)
        finally:
            process.send_signal(signal.SIGTERM)
            process.wait(60)


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--pairs", type=int, default=20)
    parser.add_argument("--minutes", type=float, default=11.0)
    parser.add_argument("--warmup", type=float, default=120.0, help="seconds not counted")
    parser.add_argument("--postgres", help="a PostgreSQL server URL for the store")
    parser.add_argument(
        "--worker", action="store_true", help="cosell worker on procrastinate (needs --postgres)"
    )
    args = parser.parse_args()
    if args.worker and not args.postgres:
        parser.error("--worker needs --postgres (the procrastinate queue lives in the store)")
    role = "worker" if args.worker else "run"
    with (
        tempfile.TemporaryDirectory(prefix="cosell-idle-") as tmp,
        _database(args.postgres) as database_url,
        stack(Path(tmp), database_url) as s,
    ):
        share_referrals(s, args.pairs)
        _, _, _, status, tail = sync_once(s, {})
        if status != 0:
            raise RuntimeError(f"cosell sync --once failed: {tail}")
        service_defaults(s, database_url, "procrastinate" if args.worker else None)
        window = args.minutes * 60
        log = Path(tmp) / "service.log"
        run_service(s, args.warmup, window, log, role)
        service_log = log.read_text(errors="replace")[-2000:]
        pc, sf = s.calls()
        pc_seen, sf_seen = s.snapshots()
    scale = DAY / window
    pc_day, sf_day = _total(pc) * scale, _total(sf) * scale
    print(f"cosell idle benchmark on {machine()}")
    print(f"command: uv run python {' '.join(sys.argv)}")
    store = "PostgreSQL" if args.postgres else "SQLite"
    shape = f"{store}, procrastinate" if args.worker else store
    print(
        f"cosell {role} on the service defaults ({shape}),"
        f" {args.pairs} synced pairs, idle for"
        f" {args.minutes:g} min after {args.warmup:g} s of start-up (not counted)"
    )
    print(f"  Partner Center calls per day {pc_day:,.0f}")
    print(
        f"  Salesforce calls per day     {sf_day:,.0f} = {sf_day / ALLOWANCE:.1%} of a"
        f" {ALLOWANCE:,}-call day (target <= 3 %)"
    )
    writes = f"Partner Center {_writes(pc_seen)}, Salesforce {_writes(sf_seen)}"
    print(f"  writes: {writes} (target 0)")
    for side, calls in (("Partner Center", pc), ("Salesforce", sf)):
        for route, n in sorted(calls.items(), key=lambda item: -item[1])[:6]:
            print(f"    {side:<15} {n * scale:9,.0f}/day  {route}")
    if not pc and not sf:
        print("  no call at all: the service's output follows\n" + service_log)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
