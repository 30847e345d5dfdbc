"""Backfill benchmark: ``cosell sync --once`` on an empty store, beside the call floor.

Run on purpose (not a test):
``uv run python bench/backfill.py [--referrals 10000,100000] [--opportunities 10000]``.

For each size it serves both emulators on loopback (in this process, without state files, with
the org set up as ``cosell setup salesforce`` does), fills one side (referrals shared with us in
Partner Center into an empty org; or flagged opportunities, each with its account and a contact
role, into an empty Partner Center), then runs ``cosell sync --once`` as its own process and
prints: records/s end to end, the connector's calls per record on each side (the emulators' call
logs) beside the floor derived from the documented batch sizes (and the ratio), the connector's
peak RSS (``wait4``), and how the time grows from the smallest referral size to the largest.

The calls are split where the pass ends and the check of every pair begins: the emulators'
counts are taken when ``cosell sync`` prints its pass line (``N records in this run, …``), which
it does before the check reads anything. The ratio to the floor is the pass's; the check's reads
are printed beside it. A call of the check made before the count is taken would be counted in
the pass (so the split can only overstate the pass).
"""

from __future__ import annotations

import argparse
import hashlib
import os
import platform
import resource
import subprocess
import sys
import tempfile
import threading
import time
from collections import deque
from collections.abc import Callable, Iterator, Mapping
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from propagation import _total, _writes

from cosell.clients.connect import salesforce_client
from cosell.clock import SystemClock
from cosell.emulators.partner_center import PartnerCenterEmulatorConfig
from cosell.emulators.partner_center import create_app as partner_center_app
from cosell.emulators.salesforce import SalesforceEmulatorConfig
from cosell.emulators.salesforce import create_app as salesforce_app
from cosell.sandbox import connector
from cosell.sandbox.emulators import Emulators
from cosell.sandbox.servers import ServedApp, bind
from cosell.store.testing import fresh_postgres_database

# --- the floor, from the documented batch sizes --------------------------------------------

PC_PAGE = 100
"""Referrals per Partner Center listing page; Partner Center has no batch write."""
SF_GRAPHS = 75
"""Graphs per composite graph call (500 nodes per call: 75 records of up to 6 nodes)."""
SF_IN_IDS = 90
"""Referral ids per SOQL ``IN`` lookup (a WHERE holds at most 4,000 characters)."""
SF_QUERIES_A_CALL = 5
"""Query subrequests per ``composite`` call (one API call)."""
SF_COLLECTION = 200
"""Records per sObject Collections update."""
SF_QUERY_PAGE = 2000
"""Rows per SOQL query page (200 when the query has relationship subqueries)."""
SF_SUBQUERY_PAGE = 200

FLOORS: dict[str, dict[str, tuple[float, str]]] = {
    "referrals -> empty org": {
        "pc": (
            1 / PC_PAGE + 1,
            f"1/{PC_PAGE} listing page + 1 PATCH writing the opportunity back (no batch write)",
        ),
        "crm": (
            2 / (SF_IN_IDS * SF_QUERIES_A_CALL) + 1 / SF_GRAPHS,
            f"2/{SF_IN_IDS} IN lookups (opportunity by referral id, account by name),"
            f" {SF_QUERIES_A_CALL} to a composite call, + 1/{SF_GRAPHS} composite graph"
            " (account, contact, opportunity, role, solution)",
        ),
    },
    "flagged opportunities -> empty Partner Center": {
        "pc": (
            1 / PC_PAGE + 1,
            f"1 POST per referral (no batch write) + 1/{PC_PAGE} idempotency listing by"
            " externalReferenceId",
        ),
        "crm": (
            1 / SF_SUBQUERY_PAGE + 2 / SF_COLLECTION,
            f"1/{SF_SUBQUERY_PAGE} query page with subqueries (opportunity, account, roles,"
            f" solutions) + 1/{SF_COLLECTION} sObject Collections write-back + 1/{SF_COLLECTION}"
            " sObject Collections create of the Microsoft Solution row its Products__c names",
        ),
    },
}


# --- the emulators ----------------------------------------------------------------------------


@dataclass
class Stack:
    emulators: Emulators
    config_file: Path
    env: dict[str, str]

    def calls(self) -> tuple[dict[str, int], dict[str, int]]:
        pc, sf = self.snapshots()
        return pc["calls"], sf["calls"]

    def snapshots(self) -> tuple[dict[str, Any], dict[str, Any]]:
        """Each emulator's ``/_emulator/calls`` (calls by route, and writes where counted)."""
        pc = self.emulators.pc_app.state.emulator.calls.snapshot()
        sf = self.emulators.sf_app.state.emulator.calls.snapshot()
        return pc, sf

    def reset_calls(self) -> None:
        self.emulators.pc_app.state.emulator.calls.reset()
        self.emulators.sf_app.state.emulator.calls.reset()


@contextmanager
def stack(state_dir: Path, database_url: str | None = None) -> Iterator[Stack]:
    """Both emulators on free loopback ports (no state files), the org set up, a cosell.toml
    (its store ``database_url`` when given, else SQLite in ``state_dir``)."""
    pc_served, sf_served = ServedApp("partner-center", bind(0)), ServedApp("salesforce", bind(0))
    pc_config = PartnerCenterEmulatorConfig(public_url=pc_served.url)
    sf_config = SalesforceEmulatorConfig(public_url=sf_served.url, fls_strict=True)
    pc_app, sf_app = partner_center_app(pc_config), salesforce_app(sf_config)
    pc_served.start(pc_app)
    sf_served.start(sf_app)
    emulators = Emulators(pc_served, sf_served, pc_config, sf_config, pc_app, sf_app, False)
    try:
        state_dir.mkdir(parents=True, exist_ok=True)
        data = connector.config_data(emulators, state_dir, 0)
        if database_url is not None:
            data["service"]["database_url"] = database_url
        secrets = connector.secret_env(emulators)
        settings = connector.build_settings(data, secrets)
        report = connector.set_up_salesforce(settings)
        assert not report.with_status("missing", "differs", "failed"), report
        config_file = state_dir / connector.CONFIG_FILE
        connector.write_config(config_file, data)
        yield Stack(emulators, config_file, secrets)
    finally:
        emulators.stop()


def company(n: int) -> str:
    """A made-up company name of its own: names that share their longest word would all be
    candidates of one another's account match, which real customers' names are not."""
    digest = hashlib.sha256(str(n).encode()).digest()
    return "".join(chr(ord("a") + b % 26) for b in digest[:10]).title()


def share_referrals(stack: Stack, count: int) -> None:
    """Referrals Microsoft shared with us, put straight into the emulator's book."""
    emulator = stack.emulators.pc_app.state.emulator
    for n in range(count):
        body = {
            "name": f"Backfill referral {n}",
            "type": "Shared",
            "customerProfile": {
                "name": f"{company(n)} Ltd",
                "address": {"city": "Austin", "country": "US"},
                "team": [{"firstName": "Bo", "lastName": "Ng", "email": f"bo{n}@bench.example"}],
            },
            "details": {
                "dealValue": 1000 + n,
                "currency": "USD",
                "closingDateTime": "2027-12-31T00:00:00Z",
            },
        }
        with emulator.lock:
            emulator.referrals.share_incoming(body)


def flag_opportunities(stack: Stack, count: int) -> None:
    """Complete flagged opportunities, each with an account and a contact role (collections)."""
    settings = connector.build_settings(
        connector.config_data(stack.emulators, stack.config_file.parent, 0), stack.env
    )
    with connector.opened_clients() as http:
        sf = salesforce_client(settings, SystemClock(), http)
        for start in range(0, count, SF_COLLECTION):
            ns = range(start, min(start + SF_COLLECTION, count))
            accounts = _ids(sf.create_many("Account", [_account(n) for n in ns]))
            opportunities = _ids(
                sf.create_many(
                    "Opportunity", [_opportunity(n, a) for n, a in zip(ns, accounts, strict=True)]
                )
            )
            contacts = _ids(
                sf.create_many(
                    "Contact", [_contact(n, a) for n, a in zip(ns, accounts, strict=True)]
                )
            )
            roles = [
                {"OpportunityId": o, "ContactId": c, "Role": "Decision Maker"}
                for o, c in zip(opportunities, contacts, strict=True)
            ]
            _ids(sf.create_many("OpportunityContactRole", roles))


def _ids(results: list[Any]) -> list[str]:
    failed = [r for r in results if not r.success]
    if failed:
        raise RuntimeError(f"seeding failed: {failed[0].errors}")
    return [str(r.id) for r in results]


def _account(n: int) -> dict[str, Any]:
    return {"Name": f"{company(n)} Inc", "BillingCity": "Austin", "BillingCountry": "US"}


def _opportunity(n: int, account_id: str) -> dict[str, Any]:
    return {
        "Name": f"Bench opportunity {n}",
        "AccountId": account_id,
        "StageName": "Prospecting",
        "CloseDate": "2027-12-31",
        "Amount": 2000 + n,
        "CurrencyIsoCode": "USD",
        "How_can_Microsoft_help__c": "Proof of concept or demo",
        "Products__c": "SOL-BENCH",
        "Sync_with_Partner_Center__c": True,
    }


def _contact(n: int, account_id: str) -> dict[str, Any]:
    return {"AccountId": account_id, "LastName": f"Buyer{n}", "Email": f"buyer{n}@bench.example"}


# --- the run ----------------------------------------------------------------------------------


@dataclass
class Result:
    name: str
    records: int
    seconds: float
    connector_cpu: float
    emulators_cpu: float
    pc_calls: int
    crm_calls: int
    pc_pass_calls: int
    crm_pass_calls: int
    pc_writes: int
    crm_writes: int
    peak_rss_mb: float
    peak_at: float
    """Seconds into the run when the connector's RSS last rose to its peak."""
    peak_pss_mb: float
    marks_mb: list[float]
    """Each of the connector's processes' high-water mark, the first process's first."""
    exit_status: int
    tail: str
    pass_seconds: float | None
    """Seconds from the start to the pass line (the rest is the check after the pass)."""

    @property
    def rate(self) -> float:
        return self.records / self.seconds


RUN_LINE = " records in this run, "
"""What ``cosell sync`` prints when the pass ends, before the check after it."""


def sync_once(
    stack: Stack, tuning: Mapping[str, str], at_pass_end: Callable[[], None] = lambda: None
) -> tuple[float, float, tuple[float, float, float, list[float]], int, str]:
    """``cosell sync --once`` as a process: seconds, its CPU seconds, its peak RSS in MB (the
    kernel's high-water mark of the process after exec, read until it exits) with the seconds
    into the run when it was reached, exit status and the tail of its output. ``at_pass_end``
    is called as the pass line is read."""
    env = {k: v for k, v in os.environ.items() if not k.startswith("COSELL_")}
    env |= tuning
    command = [sys.executable, "-m", "cosell", "sync", "--once", "--timeout", "600"]
    command += ["--config", str(stack.config_file)]
    started = time.monotonic()
    process = subprocess.Popen(
        command, env={**env, **stack.env}, stdout=subprocess.PIPE, stderr=subprocess.STDOUT
    )
    peak = [0.0, 0.0, 0.0, 0.0]
    marks: dict[int, float] = {}
    watcher = threading.Thread(target=_watch_rss, args=(process.pid, peak, marks), daemon=True)
    watcher.start()
    lines: deque[str] = deque(maxlen=40)
    reader = threading.Thread(target=_read, args=(process, lines, at_pass_end), daemon=True)
    reader.start()
    _, status, usage = os.wait4(process.pid, 0)
    process.returncode = os.waitstatus_to_exitcode(status)
    seconds = time.monotonic() - started
    watcher.join(5)
    reader.join(5)
    tail = "".join(lines)[-1500:]
    cpu = usage.ru_utime + usage.ru_stime
    memory = (peak[0], peak[1] - started, peak[2], list(marks.values()))
    return seconds, cpu, memory, process.returncode, tail


def _read(
    process: subprocess.Popen[bytes], lines: deque[str], at_pass_end: Callable[[], None]
) -> None:
    assert process.stdout is not None
    for raw in process.stdout:
        text = raw.decode(errors="replace")
        if RUN_LINE in text:
            at_pass_end()
        lines.append(text)


def _watch_rss(pid: int, peak: list[float], high: dict[int, float]) -> None:
    """Every 0.2 s until ``pid`` ends, over it and the processes it started (a pass's shards):
    the largest sum of their resident sets seen, with when (``peak[0:2]``; one process: its
    high-water mark, VmHWM, exact); the largest sum of their proportional set sizes (``peak[2]``:
    pages they share counted once); each one's high-water mark (``high``, by process id)."""
    while True:
        try:
            text = Path(f"/proc/{pid}/status").read_text()
        except OSError:
            return
        if "State:\tZ" in text:
            return
        resident = proportional = 0.0
        for member in [pid, *_children(pid)]:
            memory = _memory(member)
            high[member] = max(high.get(member, 0.0), memory["VmHWM"])
            resident += memory["VmRSS"]
            proportional += memory["Pss"]
        now = max(high.values()) if len(high) == 1 else resident
        if now > peak[0]:
            peak[0], peak[1] = now, time.monotonic()
        peak[2] = max(peak[2], proportional)
        time.sleep(0.2)


def _children(pid: int) -> list[int]:
    found: list[int] = []
    for task in Path(f"/proc/{pid}/task").glob("*"):
        try:
            found += [int(child) for child in (task / "children").read_text().split()]
        except OSError:
            continue
    return found


def _memory(pid: int) -> dict[str, float]:
    """A process's VmHWM, VmRSS and Pss in MB (0 once it is gone)."""
    found = {"VmHWM": 0.0, "VmRSS": 0.0, "Pss": 0.0}
    try:
        for name in ("status", "smaps_rollup"):
            for line in Path(f"/proc/{pid}/{name}").read_text().splitlines():
                key, _, value = line.partition(":")
                if key in found:
                    found[key] = int(value.split()[0]) / 1024
    except OSError:
        pass
    return found


def measure(
    name: str, count: int, fill: Any, tuning: Mapping[str, str], postgres: str | None = None
) -> Result:
    with (
        tempfile.TemporaryDirectory(prefix="cosell-backfill-") as tmp,
        _database(postgres) as database_url,
        stack(Path(tmp), database_url) as s,
    ):
        fill(s, count)
        s.reset_calls()
        emulators_cpu = time.process_time()
        at_pass: list[tuple[dict[str, int], dict[str, int]]] = []
        passed: list[float] = []

        def pass_ended() -> None:
            passed.append(time.monotonic())
            at_pass.append(s.calls())

        began = time.monotonic()
        seconds, cpu, rss, status, tail = sync_once(s, tuning, pass_ended)
        emulators_cpu = time.process_time() - emulators_cpu
        pc, sf = s.calls()
        pc_seen, sf_seen = s.snapshots()
    pc_pass, sf_pass = at_pass[0] if at_pass else (pc, sf)
    return Result(
        name,
        count,
        seconds,
        cpu,
        emulators_cpu,
        _total(pc),
        _total(sf),
        _total(pc_pass),
        _total(sf_pass),
        _writes(pc_seen),
        _writes(sf_seen),
        rss[0],
        rss[1],
        rss[2],
        rss[3],
        status,
        tail,
        passed[0] - began if passed else None,
    )


@contextmanager
def _database(postgres: str | None) -> Iterator[str | None]:
    """A fresh database on the PostgreSQL server ``postgres`` names (dropped after), or None
    for the default SQLite store."""
    if postgres is None:
        yield None
        return
    with fresh_postgres_database(postgres, prefix="cosell_backfill") as url:
        yield url


def report(result: Result, floor: dict[str, tuple[float, str]]) -> list[str]:
    per_cpu = result.records / max(result.connector_cpu, 1e-9)
    lines = [
        f"{result.name}: {result.records:,} records in {result.seconds:,.1f} s ="
        f" {result.rate:,.1f} records/s end to end (target >= 300); exit {result.exit_status}"
        + (
            f" (the pass {result.pass_seconds:,.1f} s, the check after it"
            f" {result.seconds - result.pass_seconds:,.1f} s)"
            if result.pass_seconds is not None
            else ""
        ),
        f"  CPU: connector {result.connector_cpu:,.1f} s ({per_cpu:,.0f} records per CPU-second),"
        f" emulators {result.emulators_cpu:,.1f} s; connector peak RSS"
        f" {result.peak_rss_mb:,.0f} MB at {result.peak_at:,.0f} s (target < 300 at 100k)"
        + (
            f" (its {len(result.marks_mb)} processes' resident sets summed, sampled every 0.2 s;"
            " their high-water marks "
            + " + ".join(f"{mark:,.0f}" for mark in result.marks_mb)
            + ")"
            if len(result.marks_mb) > 1
            else ""
        )
        + f"; proportional set size at most {result.peak_pss_mb:,.0f} MB",
    ]
    for side, calls, in_pass, writes in (
        ("pc", result.pc_calls, result.pc_pass_calls, result.pc_writes),
        ("crm", result.crm_calls, result.crm_pass_calls, result.crm_writes),
    ):
        least, why = floor[side]
        per, check = in_pass / result.records, (calls - in_pass) / result.records
        label = "Partner Center" if side == "pc" else "Salesforce"
        lines.append(
            f"  {label:<15} calls/record {per:7.3f}  floor {least:6.3f}  ratio {per / least:6.2f}x"
            f"  (+ {check:.3f} the check after the pass; writes/record"
            f" {writes / result.records:.2f}; floor: {why})"
        )
    if result.exit_status != 0:
        lines.append("  sync --once output (tail): " + result.tail.replace("\n", "\n    "))
    return lines


def machine() -> str:
    cpu = platform.processor() or platform.machine()
    return f"{cpu}, {os.cpu_count()} CPUs, Python {platform.python_version()}, {platform.system()}"


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--referrals", default="10000", help="comma-separated sizes")
    parser.add_argument("--opportunities", type=int, default=10000, help="0 to skip")
    parser.add_argument(
        "--workers", type=int, help="records of a batch at once (sync.backfill_workers)"
    )
    parser.add_argument(
        "--processes", type=int, help="processes of the pass (sync.backfill_processes)"
    )
    parser.add_argument(
        "--postgres",
        metavar="URL",
        help="the store on this PostgreSQL server (a fresh database a size), not SQLite",
    )
    args = parser.parse_args()
    sizes = [int(s) for s in args.referrals.split(",") if s]
    tuning = {
        f"COSELL_SYNC__BACKFILL_{name.upper()}": str(value)
        for name, value in (("workers", args.workers), ("processes", args.processes))
        if value is not None
    }
    print(f"cosell backfill benchmark on {machine()}")
    print(f"command: uv run python {' '.join(sys.argv)}")
    print(f"store: {'PostgreSQL' if args.postgres else 'SQLite'}")
    print(f"load average at start: {' '.join(f'{x:.1f}' for x in os.getloadavg())}")
    results: list[Result] = []
    for size in sizes:
        result = measure("referrals -> empty org", size, share_referrals, tuning, args.postgres)
        results.append(result)
        print("\n".join(report(result, FLOORS[result.name])), flush=True)
    if args.opportunities:
        name = "flagged opportunities -> empty Partner Center"
        result = measure(name, args.opportunities, flag_opportunities, tuning, args.postgres)
        print("\n".join(report(result, FLOORS[name])), flush=True)
    if len(results) > 1:
        small, large = results[0], results[-1]
        times, sizes_ = large.seconds / small.seconds, large.records / small.records
        print(
            f"growth {small.records:,} -> {large.records:,}: time x{times:.1f} for x{sizes_:.0f}"
            f" records ({times / sizes_:.2f} of linear; 1.00 is linear)"
        )
    print(
        f"bench process peak RSS {resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024:.0f} MB"
    )
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
