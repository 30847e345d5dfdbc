"""Propagation benchmark: how fast changes cross, and what they cost, in a running sandbox.

Run on purpose (not a test):
``uv run python bench/propagation.py [--records 50] [--crm salesforce|hubspot]``.

Starts ``cosell sandbox --no-seed`` (``--crm hubspot``: with the HubSpot emulator) on free ports
with its default timings, then measures and prints:

* Partner Center → CRM: a Microsoft seller shares a referral; time until its opportunity exists.
* CRM → Partner Center: a seller flags a complete opportunity; time until its referral exists.
* API calls per synced record on each side (the emulators' ``/_emulator/calls``, minus the calls
  this benchmark made itself to watch for results).
* Writes made by an idle full pass (``cosell sync --once``) once everything agrees: should be 0.

Records are measured one at a time (each latency is one record's, not a queue's), every wait is
bounded by a deadline, and the sandbox is stopped at the end whatever happens.
"""

from __future__ import annotations

import argparse
import json
import os
import signal
import statistics
import subprocess
import sys
import tempfile
import time
from collections.abc import Callable
from functools import partial
from pathlib import Path
from typing import Any, TypeVar

import httpx

T = TypeVar("T")
API = "/services/data/v62.0"
PC_RESOURCE = "https://api.partner.microsoft.com"
WRITE_METHODS = ("POST", "PATCH", "PUT", "DELETE")
NOT_DATA = ("oauth2/token", "/webhooks/v1/registration", "/search", "/batch/read")
RECORD_DEADLINE = 60.0
POLL = 0.02


def wait_for(probe: Callable[[], T | None], deadline: float, what: str) -> T:
    end = time.monotonic() + deadline
    while time.monotonic() < end:
        found = probe()
        if found:
            return found
        time.sleep(POLL)
    raise TimeoutError(f"gave up after {deadline}s waiting for {what}")


class Counted:
    """An httpx client that counts its own API calls (control-surface calls excluded)."""

    def __init__(
        self, base_url: str, headers: dict[str, str] | None = None, *, logged: bool = True
    ) -> None:
        self.count = 0
        self.logged = logged
        """False when the emulator does not log these calls (HubSpot UI users): none to subtract."""
        hooks = {"request": [self._seen]}
        self.http = httpx.Client(
            base_url=base_url,
            headers=headers,
            timeout=30,
            event_hooks=hooks,
            limits=httpx.Limits(keepalive_expiry=2.0),  # below the emulators' 5 s keep-alive
        )

    def _seen(self, request: httpx.Request) -> None:
        if self.logged and not request.url.path.startswith("/_emulator"):
            self.count += 1


def token(url: str, form: dict[str, str]) -> str:
    response = httpx.post(url, data=form, timeout=30)
    response.raise_for_status()
    return str(response.json()["access_token"])


class Bench:
    """Both sides of a running sandbox, as the benchmark drives and watches them."""

    def __init__(self, manifest: dict[str, Any]) -> None:
        pc = manifest["partner_center"]
        keys = ("client_id", "client_secret", "username", "password")
        pc_token = token(
            pc["token_url"],
            {"grant_type": "password", "resource": PC_RESOURCE, **{k: pc[k] for k in keys}},
        )
        self.pc = Counted(pc["url"], {"Authorization": f"Bearer {pc_token}"})
        self.sf = self._crm(manifest)

    def _crm(self, manifest: dict[str, Any]) -> Counted:
        sf = manifest["salesforce"]
        keys = ("client_id", "client_secret", "username", "password")
        sf_token = token(sf["token_url"], {"grant_type": "password", **{k: sf[k] for k in keys}})
        return Counted(sf["url"], {"Authorization": f"Bearer {sf_token}"})

    # --- acting -------------------------------------------------------------------------------

    def share(self, n: int) -> str:
        body = {
            "name": f"Bench referral {n}",
            "type": "Shared",
            "customerProfile": {
                "name": f"Bench customer {n}",
                "address": {"city": "Austin", "country": "US"},
                "team": [{"firstName": "Bo", "lastName": "Ng", "email": f"bo{n}@bench.example"}],
            },
            "details": {
                "dealValue": 1000 + n,
                "currency": "USD",
                "closingDateTime": "2027-12-31T00:00:00Z",
            },
        }
        response = self.pc.http.post("/_emulator/referrals", json=body)
        response.raise_for_status()
        return str(response.json()["id"])

    def create(self, sobject: str, fields: dict[str, Any]) -> str:
        response = self.sf.http.post(f"{API}/sobjects/{sobject}", json=fields)
        response.raise_for_status()
        return str(response.json()["id"])

    def complete_opportunity(self, n: int) -> str:
        account = self.create("Account", {"Name": f"Bench account {n}", "BillingCountry": "US"})
        opportunity = self.create(
            "Opportunity",
            {
                "Name": f"Bench opportunity {n}",
                "StageName": "Prospecting",
                "CloseDate": "2027-12-31",
                "Amount": 2000 + n,
                "CurrencyIsoCode": "USD",
                "AccountId": account,
                "How_can_Microsoft_help__c": "Proof of concept or demo",
                "Products__c": "SOL-BENCH",
            },
        )
        contact = self.create(
            "Contact", {"LastName": f"Buyer{n}", "Email": f"buyer{n}@bench.example"}
        )
        self.create("OpportunityContactRole", {"OpportunityId": opportunity, "ContactId": contact})
        return opportunity

    def flag(self, opportunity_id: str) -> None:
        url = f"{API}/sobjects/Opportunity/{opportunity_id}"
        self.sf.http.patch(url, json={"Sync_with_Partner_Center__c": True}).raise_for_status()

    # --- watching -----------------------------------------------------------------------------

    def opportunity_for(self, referral_id: str) -> str | None:
        """The id of the referral's opportunity, once it exists."""
        soql = f"SELECT Id FROM Opportunity WHERE Referral_Identifier__c = '{referral_id}'"  # noqa: S608
        rows = self.sf.http.get(f"{API}/query", params={"q": soql}).json()["records"]
        return str(rows[0]["Id"]) if rows else None

    def referral_for(self, opportunity_id: str) -> bool:
        params = {"$filter": f"externalReferenceId eq '{opportunity_id}'"}
        return bool(self.pc.http.get("/v1.0/engagements/referrals", params=params).json()["value"])

    def calls(self) -> tuple[dict[str, int], dict[str, int]]:
        pc = self.pc.http.get("/_emulator/calls").json()["calls"]
        sf = self.sf.http.get("/_emulator/calls").json()["calls"]
        return pc, sf

    def reset_calls(self) -> None:
        self.pc.http.delete("/_emulator/calls").raise_for_status()
        self.sf.http.delete("/_emulator/calls").raise_for_status()
        self.pc.count = self.sf.count = 0

    def writes(self) -> tuple[int, int]:
        pc = self.pc.http.get("/_emulator/calls").json()
        sf = self.sf.http.get("/_emulator/calls").json()
        return _writes(pc), _writes(sf)

    def quiet(self, window: float = 3.0, deadline: float = 120.0) -> tuple[int, int]:
        """Write totals once neither side has seen a write for ``window`` seconds."""
        last, since = self.writes(), time.monotonic()
        end = time.monotonic() + deadline
        while time.monotonic() < end:
            time.sleep(0.2)
            now = self.writes()
            if now != last:
                last, since = now, time.monotonic()
            elif time.monotonic() - since >= window:
                return now
        raise TimeoutError("the sandbox never went quiet")


class HubSpotBench(Bench):
    """The same measurements with HubSpot deals as the CRM side (a seller in HubSpot's UI)."""

    def _crm(self, manifest: dict[str, Any]) -> Counted:
        hs = manifest["hubspot"]
        control = httpx.post(f"{hs['control_url']}/users", json={"user_id": 7}, timeout=30)
        control.raise_for_status()
        headers = {"Authorization": f"Bearer {control.json()['token']}"}
        return Counted(hs["url"], headers, logged=False)  # UI calls are not in the call log

    def _hs_create(
        self, kind: str, properties: dict[str, str], links: list[tuple[str, int]]
    ) -> str:
        body: dict[str, Any] = {"properties": properties}
        body["associations"] = [
            {
                "to": {"id": to},
                "types": [{"associationCategory": "HUBSPOT_DEFINED", "associationTypeId": type_id}],
            }
            for to, type_id in links
        ]
        response = self.sf.http.post(f"/crm/v3/objects/{kind}", json=body)
        response.raise_for_status()
        return str(response.json()["id"])

    def complete_opportunity(self, n: int) -> str:
        company = self._hs_create("companies", {"name": f"Bench account {n}", "country": "US"}, [])
        contact = self._hs_create(
            "contacts", {"lastname": f"Buyer{n}", "email": f"buyer{n}@bench.example"}, []
        )
        properties = {
            "dealname": f"Bench deal {n}",
            "dealstage": "qualifiedtobuy",
            "closedate": "2027-12-31T00:00:00Z",
            "amount": str(2000 + n),
            "deal_currency_code": "USD",
            "cosell_help_code": "Proof of concept or demo",
            "cosell_products": "SOL-BENCH",
        }
        return self._hs_create("deals", properties, [(company, 5), (contact, 3)])

    def flag(self, opportunity_id: str) -> None:
        body = {"properties": {"cosell_sync_with_partner_center": "true"}}
        self.sf.http.patch(f"/crm/v3/objects/deals/{opportunity_id}", json=body).raise_for_status()

    def opportunity_for(self, referral_id: str) -> str | None:
        params = {"idProperty": "cosell_referral_id"}
        found = self.sf.http.get(f"/crm/v3/objects/deals/{referral_id}", params=params)
        return str(found.json()["id"]) if found.is_success else None


# What one record needs written on HubSpot at the least, and what batches of 100 make of it.
HUBSPOT_FLOOR = {
    "Partner Center -> CRM": ("deal upsert, company, contact, 2 associations, 1 read", 6),
    "CRM -> Partner Center": (
        "deal read with associations, company read, contacts read, "
        "write-back of id, link and status",
        4,
    ),
}
BATCH = 100


def _writes(snapshot: dict[str, Any]) -> int:
    """Calls that wrote data, from an emulator's ``/_emulator/calls``: its own count where it
    keeps one (Salesforce: a composite of queries is a POST that only reads), else by method."""
    if "writes" in snapshot:
        return sum(n for route, n in snapshot["writes"].items() if not _setup(route))
    return sum(
        n
        for route, n in snapshot["calls"].items()
        if route.split(" ")[0] in WRITE_METHODS and not _setup(route)
    )


def _setup(route: str) -> bool:
    return any(p in route for p in NOT_DATA)


def _total(calls: dict[str, int]) -> int:
    return sum(n for route, n in calls.items() if "oauth2/token" not in route)


# --- phases -------------------------------------------------------------------------------------


def pc_to_crm(bench: Bench, records: int, gap: float = 0.0, first: int = 0) -> list[float]:
    """Each record's time from its share to its opportunity, one after the other; ``gap``
    seconds between one record's opportunity and the next share (0: at once)."""
    latencies = []
    for n in range(first, first + records):
        if gap and n > first:
            time.sleep(gap)  # pacing the load, not waiting for a result
        started = time.monotonic()
        referral_id = bench.share(n)
        wait_for(partial(bench.opportunity_for, referral_id), RECORD_DEADLINE, "an opportunity")
        latencies.append(time.monotonic() - started)
    return latencies


def crm_to_pc(bench: Bench, records: int) -> list[float]:
    latencies = []
    for n in range(records):
        opportunity_id = bench.complete_opportunity(n)
        started = time.monotonic()
        bench.flag(opportunity_id)
        wait_for(partial(bench.referral_for, opportunity_id), RECORD_DEADLINE, "a referral")
        latencies.append(time.monotonic() - started)
    return latencies


def connector_calls(bench: Bench) -> tuple[int, int]:
    """Calls the connector made on each side since the last reset (ours subtracted)."""
    pc, sf = bench.calls()
    return _total(pc) - bench.pc.count, _total(sf) - bench.sf.count


IDLE_WINDOW = 35.0
"""Seconds idle calls are counted over: longer than the sandbox's slowest idle signal (the
Partner Center sweep, every 30 s), so each signal's idle calls are in the rate (a 10 s window
missed the sweep, and its listings then counted against the records)."""


def idle_rate(bench: Bench, seconds: float = IDLE_WINDOW) -> tuple[float, float]:
    """The connector's calls per second on each side while nothing changes (polls, sweeps)."""
    bench.quiet()
    bench.reset_calls()
    started = time.monotonic()
    end = started + seconds
    while time.monotonic() < end:
        time.sleep(0.2)
    pc, sf = connector_calls(bench)
    elapsed = time.monotonic() - started
    return pc / elapsed, sf / elapsed


def calls_per_record(
    bench: Bench, records: int, started: float, idle: tuple[float, float]
) -> tuple[float, float]:
    """Connector calls per record since ``started`` once all is quiet, net of idle polling."""
    bench.quiet()
    elapsed = time.monotonic() - started
    pc, sf = connector_calls(bench)
    return (pc - idle[0] * elapsed) / records, (sf - idle[1] * elapsed) / records


def idle_full_pass(bench: Bench, manifest: dict[str, Any]) -> tuple[int, int]:
    before = bench.quiet()
    env = {k: v for k, v in os.environ.items() if not k.startswith("COSELL_")}
    command = [sys.executable, "-m", "cosell", "sync", "--once"]
    command += ["--config", manifest["config_file"]]
    done = subprocess.run(
        command,
        env={**env, **manifest["env"]},
        capture_output=True,
        text=True,
        timeout=300,
        check=False,
    )
    if done.returncode != 0:
        raise RuntimeError(f"cosell sync --once failed: {done.stderr[-2000:]}")
    after = bench.writes()
    return after[0] - before[0], after[1] - before[1]


# --- the sandbox --------------------------------------------------------------------------------


def start_sandbox(state_dir: Path, log: Path, crm: str = "salesforce") -> subprocess.Popen[bytes]:
    command = [
        sys.executable,
        "-m",
        "cosell",
        "sandbox",
        "--no-seed",
        "--state-dir",
        str(state_dir),
    ]
    command += ["--port", "0", "--pc-port", "0", "--sf-port", "0", "--hs-port", "0", "--crm", crm]
    env = {k: v for k, v in os.environ.items() if not k.startswith("COSELL_")}
    with log.open("wb") as out:
        return subprocess.Popen(command, stdout=out, stderr=subprocess.STDOUT, env=env)


def wait_ready(process: subprocess.Popen[bytes], manifest: Path) -> dict[str, Any]:
    def ready() -> dict[str, Any] | None:
        if process.poll() is not None:
            raise RuntimeError(f"the sandbox exited with status {process.returncode}")
        if not manifest.exists():
            return None
        content: dict[str, Any] = json.loads(manifest.read_text())
        return content if content.get("pid") == process.pid else None

    return wait_for(ready, 120.0, "sandbox.json")


def stop(process: subprocess.Popen[bytes]) -> None:
    if process.poll() is None:
        process.send_signal(signal.SIGTERM)
        try:
            process.wait(60)
        except subprocess.TimeoutExpired:
            process.kill()
            process.wait(10)


def percentile(values: list[float], p: float) -> float:
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, round(p / 100 * (len(ordered) - 1)))]


def report(name: str, latencies: list[float]) -> str:
    p50, p99 = percentile(latencies, 50), percentile(latencies, 99)
    mean = statistics.fmean(latencies)
    return f"{name:<28} p50 {p50:6.2f} s   p99 {p99:6.2f} s   mean {mean:6.2f} s"


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--records", type=int, default=50, help="records per direction")
    parser.add_argument("--crm", choices=("salesforce", "hubspot"), default="salesforce")
    args = parser.parse_args()
    with tempfile.TemporaryDirectory(prefix="cosell-bench-") as tmp:
        state_dir, log = Path(tmp) / "state", Path(tmp) / "sandbox.log"
        process = start_sandbox(state_dir, log, args.crm)
        try:
            manifest = wait_ready(process, state_dir / "sandbox.json")
            bench = HubSpotBench(manifest) if args.crm == "hubspot" else Bench(manifest)
            idle = idle_rate(bench)
            bench.reset_calls()
            started = time.monotonic()
            incoming = pc_to_crm(bench, args.records)
            pc_calls_in, sf_calls_in = calls_per_record(bench, args.records, started, idle)
            bench.reset_calls()
            started = time.monotonic()
            outgoing = crm_to_pc(bench, args.records)
            pc_calls_out, sf_calls_out = calls_per_record(bench, args.records, started, idle)
            pc_writes, sf_writes = idle_full_pass(bench, manifest)
        finally:
            stop(process)
    print(
        f"cosell propagation benchmark: {args.records} records each way, sandbox defaults,"
        f" CRM {args.crm}"
    )
    print(report("Partner Center -> CRM", incoming))
    print(report("CRM -> Partner Center", outgoing))
    per_minute = f"Partner Center {idle[0] * 60:.0f}, CRM {idle[1] * 60:.0f}"
    print(f"Idle connector calls per minute: {per_minute}")
    print("API calls per synced record (connector only, net of idle polling):")
    print(
        f"  Partner Center -> CRM      Partner Center {pc_calls_in:5.1f}   CRM {sf_calls_in:5.1f}"
    )
    print(
        f"  CRM -> Partner Center      Partner Center {pc_calls_out:5.1f}   CRM {sf_calls_out:5.1f}"
    )
    print(f"Writes by an idle full pass: Partner Center {pc_writes}, CRM {sf_writes} (expect 0)")
    if args.crm == "hubspot":
        print(f"HubSpot floor per record with batches of {BATCH} (one reconcile per record today):")
        for path, (what, calls) in HUBSPOT_FLOOR.items():
            print(f"  {path:<26} {calls / BATCH:5.2f}   ({calls} calls: {what})")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
