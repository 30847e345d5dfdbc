"""Propagation and calls per record, each printed beside its floor from the same run.

Run on purpose (not a test): ``uv run python bench/floor.py [--records 20]``.

Runs the propagation benchmark's two phases (``bench/propagation.py``: a referral shared in
Partner Center until its opportunity exists; a flagged opportunity until its referral exists) in
a ``cosell sandbox`` on its default timings, then prints for each path:

* the connector's calls per record on each side beside the floor: the fewest calls one record
  needs on that path, derived from the documented batch sizes (stated in the output), and the
  ratio;
* propagation p50 and p99 beside the loopback round-trip floor measured in the same run: the
  time of the minimum requests the path needs (below), made directly by this benchmark against
  the same emulators, ``--samples`` times; the ratios are p50/p50 and p99/p99.
  Partner Center -> CRM is timed from the referral's creation to the opportunity's, as the
  emulators stamped them on the host's monotonic clock (``/_emulator/created/{id}``): the
  benchmark finds the opportunity by polling every 20 ms, which added up to a poll interval and
  a query to each record's time but to none of the floor's (that time, from the share, is
  printed too). Its floor is timed from the first request to the graph's answer, the moment
  the opportunity exists (the write-back PATCH after it is made, not timed). Records go one
  after the other, each shared as soon as the last one's opportunity exists (the connector is
  still finishing that one: the write-back, its webhook, the re-check of the new opportunity).
  Partner Center -> CRM is then measured again with ``--spaced`` seconds between records
  (default 1), where a record meets no earlier record's work.

The minimum requests, one record at a time:

* Partner Center -> CRM: read the referral (GET), look its account up (one SOQL query), create
  account, contact, opportunity and contact role (one composite graph); then, after the
  opportunity exists, write it back to the referral (one PATCH).
* CRM -> Partner Center: read the opportunity with its account and contact roles (one SOQL query
  with a subquery), create the referral (one POST), write the referral id back (one PATCH).
"""

from __future__ import annotations

import argparse
import sys
import tempfile
import time
from collections.abc import Callable
from functools import partial
from pathlib import Path
from typing import Any

from propagation import (
    API,
    POLL,
    RECORD_DEADLINE,
    Bench,
    Counted,
    calls_per_record,
    crm_to_pc,
    idle_rate,
    percentile,
    start_sandbox,
    stop,
    wait_for,
    wait_ready,
)

# The fewest calls one record needs, one record at a time (documented sizes: one composite
# graph holds a record's account, contact, opportunity and role; a SOQL query with a
# parent-to-child subquery reads an opportunity with its roles; Partner Center has no batch).
FLOOR: dict[str, dict[str, tuple[int, str]]] = {
    "Partner Center -> CRM": {
        "pc": (2, "GET the referral, PATCH the opportunity back onto it"),
        "crm": (2, "1 account match query, 1 composite graph (account, contact, opp, role)"),
    },
    "CRM -> Partner Center": {
        "pc": (1, "POST the referral"),
        "crm": (2, "1 query with subqueries (opportunity, account, roles), 1 PATCH write-back"),
    },
}


class RoundTrip:
    """The minimum requests of each path, made directly and timed."""

    def __init__(self, bench: Bench, referral_id: str, opportunity_id: str) -> None:
        self.bench = bench
        self.referral_id = referral_id
        self.opportunity_id = opportunity_id
        self.n = 0

    def pc_to_crm(self) -> float:
        """The path's requests; the seconds until the opportunity exists (the graph's answer)."""
        pc, sf = self.bench.pc.http, self.bench.sf.http
        self.n += 1
        started = time.monotonic()
        referral = pc.get(f"/v1.0/engagements/referrals/{self.referral_id}")
        referral.raise_for_status()
        soql = "SELECT Id, Name FROM Account WHERE Name LIKE '%Floor%' LIMIT 200"
        sf.get(f"{API}/query", params={"q": soql}).raise_for_status()
        sf.post(f"{API}/composite/graph", json=self._graph()).raise_for_status()
        exists = time.monotonic() - started
        op = [{"op": "replace", "path": "/details/notes", "value": f"floor {self.n}"}]
        # Unguarded: the connector syncs each change this makes, and a guard would race it.
        headers = {"Content-Type": "application/json-patch+json"}
        pc.patch(
            f"/v1.0/engagements/referrals/{self.referral_id}", json=op, headers=headers
        ).raise_for_status()
        return exists

    def crm_to_pc(self) -> None:
        pc, sf = self.bench.pc.http, self.bench.sf.http
        self.n += 1
        roles = "(SELECT ContactId, Contact.Email FROM OpportunityContactRoles)"
        soql = (
            f"SELECT Id, Name, Amount, Account.Name, Account.BillingCountry, {roles} "  # noqa: S608
            f"FROM Opportunity WHERE Id = '{self.opportunity_id}'"
        )
        sf.get(f"{API}/query", params={"q": soql}).raise_for_status()
        body = {
            "name": f"Floor referral {self.n}",
            "type": "Independent",
            "status": "New",
            "substatus": "Pending",
            "customerProfile": {
                "name": "Floor customer",
                "address": {"city": "Austin", "country": "US"},
                "team": [{"firstName": "Bo", "lastName": "Ng", "email": "bo@floor.example"}],
            },
            "consent": {"consentToShareReferralWithMicrosoftSellers": False},
            "details": {
                "dealValue": 1,
                "currency": "USD",
                "requirements": {"solutions": [{"id": "SOL-BENCH", "name": "Bench"}]},
            },
        }
        pc.post("/v1.0/engagements/referrals", json=body).raise_for_status()
        url = f"{API}/sobjects/Opportunity/{self.opportunity_id}"
        sf.patch(url, json={"Description": f"floor {self.n}"}).raise_for_status()

    def _graph(self) -> dict[str, Any]:
        n = self.n
        nodes = [
            ("Account", "account", {"Name": f"Floor account {n}", "BillingCountry": "US"}),
            ("Contact", "contact", {"LastName": f"Floor{n}", "AccountId": "@{account.id}"}),
            (
                "Opportunity",
                "opportunity",
                {
                    "Name": f"Floor opportunity {n}",
                    "StageName": "Prospecting",
                    "CloseDate": "2027-12-31",
                    "AccountId": "@{account.id}",
                },
            ),
            (
                "OpportunityContactRole",
                "role",
                {"OpportunityId": "@{opportunity.id}", "ContactId": "@{contact.id}"},
            ),
        ]
        requests = [
            {"method": "POST", "url": f"{API}/sobjects/{sobject}", "referenceId": ref, "body": b}
            for sobject, ref, b in nodes
        ]
        return {"graphs": [{"graphId": f"floor{n}", "compositeRequest": requests}]}


def stamped_pc_to_crm(
    bench: Bench, records: int, gap: float = 0.0, first: int = 0
) -> tuple[list[float], list[float]]:
    """Each record's time from its referral's creation to its opportunity's, as the emulators
    stamped them; and from the share to the benchmark's sight of the opportunity."""
    stamped, seen = [], []
    for n in range(first, first + records):
        if gap and n > first:
            time.sleep(gap)  # pacing the load, not waiting for a result
        started = time.monotonic()
        referral_id = bench.share(n)
        opportunity_id = wait_for(
            partial(bench.opportunity_for, referral_id), RECORD_DEADLINE, "an opportunity"
        )
        seen.append(time.monotonic() - started)
        stamped.append(created(bench.sf, opportunity_id) - created(bench.pc, referral_id))
    return stamped, seen


def created(side: Counted, record_id: str) -> float:
    """When the emulator created the record, on the host's monotonic clock."""
    response = side.http.get(f"/_emulator/created/{record_id}")
    response.raise_for_status()
    return float(response.json()["monotonic"])


def timed(step: Callable[[], None], samples: int) -> list[float]:
    times = []
    for _ in range(samples):
        started = time.monotonic()
        step()
        times.append(time.monotonic() - started)
    return times


def line(path: str, latencies: list[float], floor: list[float]) -> str:
    p50, p99 = percentile(latencies, 50), percentile(latencies, 99)
    f50, f99 = percentile(floor, 50), percentile(floor, 99)
    return (
        f"  {path:<22} p50 {p50:6.3f} s / floor {f50:6.3f} s = {p50 / f50:5.1f}x"
        f"   p99 {p99:6.3f} s / floor {f99:6.3f} s = {p99 / f99:5.1f}x"
    )


def seen(latencies: list[float]) -> str:
    return (
        f"p50 {percentile(latencies, 50):.3f} s, p99 {percentile(latencies, 99):.3f} s"
        f" against the same floor"
    )


def calls_line(path: str, pc: float, crm: float) -> list[str]:
    out = []
    for side, label, measured in (("pc", "Partner Center", pc), ("crm", "Salesforce", crm)):
        least, why = FLOOR[path][side]
        out.append(
            f"  {path:<22} {label:<15} {measured:5.1f} / floor {least} = {measured / least:4.1f}x"
            f"   ({why})"
        )
    return out


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--records", type=int, default=20, help="records per direction")
    parser.add_argument("--samples", type=int, default=20, help="round trips per floor")
    parser.add_argument(
        "--spaced", type=float, default=1.0, help="seconds between records, second run (0: none)"
    )
    args = parser.parse_args()
    with tempfile.TemporaryDirectory(prefix="cosell-floor-") as tmp:
        state_dir, log = Path(tmp) / "state", Path(tmp) / "sandbox.log"
        process = start_sandbox(state_dir, log)
        try:
            manifest = wait_ready(process, state_dir / "sandbox.json")
            bench = Bench(manifest)
            idle = idle_rate(bench)
            bench.reset_calls()
            started = time.monotonic()
            incoming, incoming_seen = stamped_pc_to_crm(bench, args.records)
            calls_in = calls_per_record(bench, args.records, started, idle)
            bench.reset_calls()
            started = time.monotonic()
            outgoing = crm_to_pc(bench, args.records)
            calls_out = calls_per_record(bench, args.records, started, idle)
            spaced: list[float] = []
            if args.spaced:
                spaced, _ = stamped_pc_to_crm(bench, args.records, args.spaced, first=args.records)
            trip = RoundTrip(bench, bench.share(10_000), bench.complete_opportunity(10_000))
            bench.quiet()
            floor_in = [trip.pc_to_crm() for _ in range(args.samples)]
            floor_out = timed(trip.crm_to_pc, args.samples)
        finally:
            stop(process)
    print(f"cosell floor benchmark: {args.records} records each way, sandbox defaults")
    print(f"command: uv run python {' '.join(sys.argv)}")
    print(f"propagation beside the loopback round-trip floor ({args.samples} samples each):")
    print(
        "  (Partner Center -> CRM from the referral's creation to the opportunity's, as the"
        " emulators stamped them; its floor from its first request to the graph's answer)"
    )
    print(line("Partner Center -> CRM", incoming, floor_in))
    print(f"    (from the share, as polled every {POLL * 1000:.0f} ms: {seen(incoming_seen)})")
    print(line("CRM -> Partner Center", outgoing, floor_out))
    if spaced:
        print(f"the same, records {args.spaced:g} s apart:")
        print(line("Partner Center -> CRM", spaced, floor_in))
    print("API calls per synced record (connector only, net of idle polling) beside the floor:")
    for text in calls_line("Partner Center -> CRM", *calls_in):
        print(text)
    for text in calls_line("CRM -> Partner Center", *calls_out):
        print(text)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
