"""Scale-out benchmark: throughput and p99 propagation with 1, 2 and 4 worker processes.

Run on purpose (not a test), with a PostgreSQL server (``scripts/postgres`` starts one):
``uv run python bench/scaling.py [--records 200] [--latency 0.08] [--workers 1,2,4]``.

For each worker count it starts the sandbox in the scale-out shape (``cosell sandbox
--database-url … --workers N --no-seed``) on a fresh database, puts a per-call latency on both
emulators (their ``latency`` fault, so the work is bound by the remote APIs as in production),
waits until the N workers have registered with procrastinate (start-up is not throughput),
shares ``--records`` referrals of as many distinct customers in Partner Center at once and waits
until each has its opportunity. It prints records/s, p50/p99 propagation (share → link in the
store), the opportunities created more than once for one referral and the accounts created more
than once for one customer (duplicates, read from Salesforce), and
the throughput ratio to one worker beside the target (1.8x at 2, 3.2x at 4).
"""

from __future__ import annotations

import argparse
import os
import resource
import statistics
import subprocess
import tempfile
import time
from collections import Counter
from pathlib import Path

import httpx
import sqlalchemy as sa

from cosell.clients.connect import salesforce_client
from cosell.sandbox import connector
from cosell.sandbox.stack import Sandbox, SandboxOptions
from cosell.store.testing import fresh_postgres_database

ROOT = Path(__file__).resolve().parents[1]
TARGET = {2: 1.8, 4: 3.2}


def postgres_base() -> str:
    found = os.environ.get("COSELL_TEST_POSTGRES_URL")
    if found:
        return found
    script = str(ROOT / "scripts" / "postgres")
    out = subprocess.run([script], capture_output=True, text=True, check=True)
    return out.stdout.strip()


def linked(engine: sa.Engine) -> set[str]:
    with engine.connect() as conn:
        rows = conn.execute(
            sa.text(
                "SELECT referral_id FROM links "
                "WHERE referral_id IS NOT NULL AND opportunity_id IS NOT NULL"
            )
        )
        return {row.referral_id for row in rows}


def workers_up(engine: sa.Engine) -> int:
    """How many procrastinate workers have registered (they heartbeat into this table)."""
    with engine.connect() as conn:
        try:
            return int(
                conn.execute(sa.text("SELECT count(*) FROM procrastinate_workers")).scalar_one()
            )
        except sa.exc.ProgrammingError:
            return 0


def new_referral(n: int) -> dict[str, object]:
    """A referral of its own customer: a burst of new referrals names many customers."""
    return {
        "name": f"Bench {n}",
        "type": "Shared",
        "customerProfile": {
            "name": f"Bench Customer {n:05d}",
            "address": {"addressLine1": f"{n} Main Street", "city": "Seattle", "country": "US"},
        },
    }


def _cpu(usage: resource.struct_rusage) -> float:
    return usage.ru_utime + usage.ru_stime


def run(
    workers: int, records: int, latency: float, base: str, deadline: float, concurrency: int
) -> dict[str, float]:
    fresh = fresh_postgres_database(base, prefix="cosell_bench")
    with fresh as url, tempfile.TemporaryDirectory() as tmp:
        # reconciles at once in each worker process
        os.environ["COSELL_SERVICE__WORKERS"] = str(concurrency)
        options = SandboxOptions(Path(tmp), 0, 0, 0, seed=False, database_url=url, workers=workers)
        sandbox = Sandbox(options)
        engine = sa.create_engine(url)
        try:
            sandbox.start()
            own_before = resource.getrusage(resource.RUSAGE_SELF)
            workers_before = resource.getrusage(resource.RUSAGE_CHILDREN)
            assert sandbox.emulators is not None
            pc = sandbox.emulators.partner_center.url
            sf = sandbox.emulators.salesforce.url
            for side in (pc, sf):
                fault = {"kind": "latency", "params": {"seconds": latency}, "rate": 1.0}
                httpx.post(f"{side}/_emulator/faults", json=fault).raise_for_status()
            up_by = time.monotonic() + 120
            while workers_up(engine) < workers and time.monotonic() < up_by:
                time.sleep(0.1)
            shared: dict[str, float] = {}
            with httpx.Client(base_url=pc, timeout=30) as control:
                for n in range(records):
                    made = control.post("/_emulator/referrals", json=new_referral(n)).json()
                    shared[made["id"]] = time.monotonic()
            start = min(shared.values())
            seen: dict[str, float] = {}
            end = time.monotonic() + deadline
            while len(seen) < records and time.monotonic() < end:
                now = time.monotonic()
                for referral in linked(engine):
                    if referral in shared:
                        seen.setdefault(referral, now)
                time.sleep(0.05)
            lags = sorted(seen[r] - shared[r] for r in seen)
            finish = max(seen.values()) if seen else time.monotonic()
            emulators = sandbox.emulators
            settings = connector.build_settings(
                connector.config_data(emulators, Path(tmp), 0), connector.secret_env(emulators)
            )
            with connector.opened_clients() as http:
                crm = salesforce_client(settings, sandbox.clock, http)
                ids = Counter(
                    r.get("Referral_Identifier__c")
                    for r in crm.query_all("SELECT Referral_Identifier__c FROM Opportunity")
                )
                names = Counter(r.get("Name") for r in crm.query_all("SELECT Name FROM Account"))
            duplicates = sum(n - 1 for ref, n in ids.items() if ref and n > 1)
            duplicates += sum(n - 1 for name, n in names.items() if name and n > 1)
        finally:
            engine.dispose()
            sandbox.stop()
            own = resource.getrusage(resource.RUSAGE_SELF)
            kids = resource.getrusage(resource.RUSAGE_CHILDREN)
            del os.environ["COSELL_SERVICE__WORKERS"]
    return {
        "synced": len(seen),
        "throughput": len(seen) / max(finish - start, 1e-9),
        "p50": statistics.median(lags) if lags else float("nan"),
        "p99": lags[min(len(lags) - 1, int(len(lags) * 0.99))] if lags else float("nan"),
        "duplicates": float(duplicates),
        # CPU seconds per synced record: the emulators + web process, and the workers
        "cpu_web": _cpu(own) - _cpu(own_before),
        "cpu_workers": _cpu(kids) - _cpu(workers_before),
    }


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--records", type=int, default=200)
    parser.add_argument("--latency", type=float, default=0.08)
    parser.add_argument("--workers", default="1,2,4")
    parser.add_argument("--deadline", type=float, default=600.0)
    parser.add_argument(
        "--concurrency",
        type=int,
        default=1,
        help="reconciles at once in each worker process (service.workers); 1 measures how the "
        "work spreads over processes, more also loads each process's CPU",
    )
    args = parser.parse_args()
    base = postgres_base()
    results: dict[int, dict[str, float]] = {}
    for workers in (int(w) for w in args.workers.split(",")):
        results[workers] = run(
            workers, args.records, args.latency, base, args.deadline, args.concurrency
        )
        r = results[workers]
        print(
            f"workers={workers} x {args.concurrency}: {r['synced']:.0f}/{args.records} synced, "
            f"{r['throughput']:.1f} records/s, p50 {r['p50']:.2f}s, p99 {r['p99']:.2f}s, "
            f"duplicates {r['duplicates']:.0f}, CPU per record: emulators+web "
            f"{r['cpu_web'] / max(r['synced'], 1):.2f}s, workers "
            f"{r['cpu_workers'] / max(r['synced'], 1):.2f}s",
            flush=True,
        )
    one = results.get(1)
    if one:
        for workers, r in results.items():
            if workers == 1:
                continue
            ratio = r["throughput"] / one["throughput"]
            target = TARGET.get(workers)
            floor = f" (target >= {target}x)" if target else ""
            print(f"scaling at {workers} workers: {ratio:.2f}x{floor}")


if __name__ == "__main__":
    main()
