"""Soak: random work on both sides of a served sandbox under faults and kills, then a check of
the outcome that does not trust cosell.

Run on purpose: ``uv run python bench/soak.py --ops 10000 --fault-rate 0.10 --kills 3 --seed 1``.
A short version runs in the test suite (``tests/e2e/test_soak.py``). ``--crm hubspot`` runs it
with HubSpot's emulator as the CRM (a seller in HubSpot's UI; HubSpot's faults in place of
Salesforce's; see ``docs/reliability.md``); the steps below say Salesforce for either.
``--postgres URL`` keeps the store in a fresh database on that PostgreSQL server (dropped at the
end unless ``--keep-database``, to read its audit after a failure) instead of SQLite in the state
directory; with it, ``--procrastinate`` runs the scale-out
queue and ``--workers N`` adds N ``cosell worker`` processes, each kill then taking one of them
or ``cosell run`` at random.

1. Starts both emulators in one process (in memory, for the whole soak; the org set up and the
   connector configured as ``cosell sandbox`` does) and ``cosell run`` against them in another,
   on fixed free ports; the webhook is registered once the service answers.
2. Injects faults through both emulators' ``/_emulator/faults``: Partner Center 500s, 429s and
   dropped, duplicated (re-sent: a replay of a signed delivery) and reordered webhooks;
   Salesforce 500s, ``UNABLE_TO_LOCK_ROW`` and dropped connections; every so often it revokes
   every Salesforce session and every Partner Center access token.
3. Drives ``--ops`` random operations as the people on each side: a Microsoft seller shares a
   referral or edits it (deal value, notes); a partner seller creates a complete opportunity
   flagged for co-sell, edits one (amount, description) or its contact's email, accepts,
   declines, closes (won or lost) or deletes one. Microsoft adds a contact to an open deal's
   referral (read, then written with ``If-Match``), at times right after the seller edited the
   deal's contact, before cosell has synced either (a change of both sides' contacts, merged
   person by person). Microsoft corrects the email of the deal's contact, at times right after
   the seller corrected it too (one person: the owner's email, never both). Partner Center has
   no delete: a referral leaves only by closing. ``--kills``
   times, right after a burst of writes (so reconciles are running), ``cosell run`` is killed
   with SIGKILL and started again on the same store.
4. Removes the faults, waits until both sides stop changing, and checks from the two emulators'
   APIs alone (no read of cosell's store):

   * every pair agrees on the fields the harness writes (name, amount, description, stage), with
     its own small copy of the default mapping, or shows a reason on the record (parked);
   * 0 duplicates: no referral has two opportunities, no opportunity two referrals, no deal's
     contact is two contacts in the CRM (on an opportunity or not);
   * 0 deleted opportunities made again: a referral whose opportunity the seller deleted holds
     no other;
   * 0 lost updates: per pair and field the harness remembers the last value written on each
     side; both sides must hold the last write, or, when the owner (the CRM for these fields)
     wrote within ``--conflict-window`` seconds before a later Partner Center write, or that
     write was made while the owner's had not reached Partner Center yet, the owner's (a
     both-sides change, resolved by the owner rule); every contact Microsoft added is on both
     sides, beside the deal's own;
   * an idle ``--idle`` seconds (60 by default) makes 0 writes on either emulator.

   ``cosell verify --no-repair`` then compares every pair on every mapped field (contacts and
   solutions included); its counts are printed too.

The exit status is 0 only when every check passes.
"""

from __future__ import annotations

import argparse
import contextlib
import json
import os
import random
import re
import signal
import socket
import subprocess
import sys
import tempfile
import time
from collections.abc import Callable, Iterable
from dataclasses import dataclass, field, replace
from pathlib import Path
from typing import Any, TypeVar

import httpx

T = TypeVar("T")
API = "/services/data/v62.0"
PC_RESOURCE = "https://api.partner.microsoft.com"
WRITE_METHODS = ("POST", "PATCH", "PUT", "DELETE")
NOT_DATA = ("oauth2/token", "/webhooks/v1/registration")
READ_POSTS = ("/search", "/batch/read")
"""HubSpot's POSTs that only read (its emulator counts calls by method: Salesforce's says)."""
FAST_SIGNALS = {
    "COSELL_SYNC__POLL_MIN_INTERVAL": "0.2",
    "COSELL_SYNC__POLL_MAX_INTERVAL": "1.0",
    "COSELL_SYNC__RELATED_POLL_INTERVAL": "2.0",
    "COSELL_SYNC__SWEEP_INTERVAL": "2.0",
    "COSELL_SYNC__SETTLE_SECONDS": "3",
    "COSELL_SERVICE__LEASE_SECONDS": "15",
    "COSELL_SYNC__VERIFY_INTERVAL": "60",
    "COSELL_SERVICE__LOG_LEVEL": "warning",
}
"""Quick signals so the sides settle in seconds (the sandbox's own are slower); a key a killed
process held is taken over after 15 s instead of 5 minutes; the drift check runs every 60 s."""
STAGES = {  # the default mappings' stage table, written out again here on purpose
    ("New", "Pending"): "on_hold",
    ("New", "Received"): "on_hold",
    ("Active", "Accepted"): "active",
    ("Closed", "Declined"): "declined",
    ("Closed", "Won"): "won",
    ("Closed", "Lost"): "lost",
    ("Closed", "Expired"): "lost",
}
"""A referral's status and substatus, and the stage its opportunity should be in: its key in
the mapping's ``stages`` table (an accepted referral's opportunity may also be in an ``open``
stage)."""
SF_STAGES = {
    "On Hold": "on_hold",
    "Qualification": "active",
    "Prospecting": "open",
    "Needs Analysis": "open",
    "Value Proposition": "open",
    "Declined": "declined",
    "Closed Won": "won",
    "Closed Lost": "lost",
}
"""The shipped Salesforce mapping's stage names, by key."""
HS_STAGES = {
    "on_hold": "Co-sell on hold",
    "active": "Appointment Scheduled",
    "open": "Qualified To Buy",
    "declined": "Co-sell declined",
    "won": "Closed Won",
    "lost": "Closed Lost",
}
"""The shipped HubSpot mapping's stage labels, by key (``open``: the first of its open ones)."""
HS_OPEN_STAGES = (
    "Qualified To Buy",
    "Presentation Scheduled",
    "Decision Maker Bought-In",
    "Contract Sent",
)
HELP = "Proof of concept or demo"
FIELDS = ("amount", "notes", "email")
"""What the oracle tracks: the deal's amount and notes, and its one contact's email (a related
record: on HubSpot, nothing about the deal moves when it is edited)."""
OWNER = {"amount": "crm", "notes": "crm", "email": "crm"}
SF_RETRY = 12


def wait_for(probe: Callable[[], T | None], deadline: float, what: str, pause: float = 0.2) -> T:
    end = time.monotonic() + deadline
    while time.monotonic() < end:
        found = probe()
        if found:
            return found
        time.sleep(pause)
    raise TimeoutError(f"gave up after {deadline:.0f}s waiting for {what}")


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


# --- the stack: emulators in one process, the service in another --------------------------------


SF_DAILY_LIMIT = 1_000_000
"""The emulated org's daily API allowance (its ``daily_api_limit``): a long soak with the drift
check and the closing ``cosell verify`` spends more than a common org's 100,000."""


class Sandbox:
    """Both emulators (in memory, in one process that lives for the whole soak) and ``cosell
    run`` against them (its own process: the one that is killed with SIGKILL and started again
    on the same store). The emulators' process sets up the org and the connector's configuration
    as ``cosell sandbox`` does, and registers the webhook once the service answers."""

    def __init__(
        self,
        state_dir: Path,
        log: Path,
        env: dict[str, str] | None = None,
        daily_api_limit: int = SF_DAILY_LIMIT,
        crm: str = "salesforce",
        database_url: str | None = None,
        workers: int = 0,
    ) -> None:
        self.state_dir, self.log = state_dir, log
        self.workers: list[subprocess.Popen[bytes] | None] = [None] * workers
        """``cosell worker`` processes beside ``cosell run`` (the procrastinate queue)."""
        self.daily_api_limit = daily_api_limit
        self.crm = crm
        self.database_url = database_url
        self.ports = (free_port(), free_port(), free_port())
        self.extra_env = env or {}
        self.emulators: subprocess.Popen[bytes] | None = None
        self.process: subprocess.Popen[bytes] | None = None
        self.manifest: dict[str, Any] = {}

    def _environment(self, extra: dict[str, str] | None = None) -> dict[str, str]:
        env = {k: v for k, v in os.environ.items() if not k.startswith("COSELL_")}
        return env | FAST_SIGNALS | self.extra_env | (extra or {})

    def _manifest(self, wanted: Callable[[dict[str, Any]], bool]) -> dict[str, Any]:
        path = self.state_dir / STACK_FILE

        def ready() -> dict[str, Any] | None:
            assert self.emulators is not None
            if self.emulators.poll() is not None:
                raise RuntimeError(f"the emulators exited {self.emulators.returncode}: {self.log}")
            if not path.exists():
                return None
            with contextlib.suppress(ValueError):
                content: dict[str, Any] = json.loads(path.read_text())
                if content.get("pid") == self.emulators.pid and wanted(content):
                    return content
            return None

        return wait_for(ready, 120.0, str(path))

    def start(self) -> dict[str, Any]:
        """Start the emulators (first time only) and the service; wait until both answer."""
        self.state_dir.mkdir(parents=True, exist_ok=True)
        if self.emulators is None:
            ports = ",".join(str(p) for p in self.ports)
            command = [sys.executable, __file__, "--serve", str(self.state_dir), "--ports", ports]
            command += ["--sf-daily-limit", str(self.daily_api_limit), "--crm", self.crm]
            if self.database_url is not None:
                command += ["--database-url", self.database_url]
            with self.log.open("ab") as out:
                self.emulators = subprocess.Popen(
                    command, stdout=out, stderr=subprocess.STDOUT, env=self._environment()
                )
            self.manifest = self._manifest(lambda _m: True)
        if self.process is None or self.process.poll() is not None:  # not after a worker's kill
            command = [sys.executable, "-m", "cosell", "run", "--config"]
            command += [self.manifest["config_file"], "--log-format", "json"]
            with self.log.open("ab") as out:
                self.process = subprocess.Popen(
                    command,
                    stdout=out,
                    stderr=subprocess.STDOUT,
                    env=self._environment(self.manifest["env"]),
                )
            health = self.manifest["connector"]["health_url"]

            def healthy() -> bool:
                assert self.process is not None
                if self.process.poll() is not None:
                    raise RuntimeError(f"cosell run exited {self.process.returncode}: {self.log}")
                with contextlib.suppress(httpx.HTTPError):
                    return httpx.get(health, timeout=5).status_code == 200
                return False

            wait_for(healthy, 120.0, health)
            self.manifest = self._manifest(lambda m: bool(m.get("registered")))
        for n, worker in enumerate(self.workers):
            if worker is None or worker.poll() is not None:
                self.workers[n] = self._worker()
        return self.manifest

    def _worker(self) -> subprocess.Popen[bytes]:
        command = [sys.executable, "-m", "cosell", "worker", "--config"]
        command += [self.manifest["config_file"], "--log-format", "json"]
        with self.log.open("ab") as out:
            return subprocess.Popen(
                command,
                stdout=out,
                stderr=subprocess.STDOUT,
                env=self._environment(self.manifest["env"]),
            )

    def kill(self, which: int = 0) -> None:
        """SIGKILL the service (0) or worker ``which`` (1, 2, ...): no drain, no clean stop."""
        process = self.process if which == 0 else self.workers[which - 1]
        if process is not None and process.poll() is None:
            process.send_signal(signal.SIGKILL)
            process.wait(30)

    def stop(self) -> None:
        for process in (*self.workers, self.process, self.emulators):
            if process is None or process.poll() is not None:
                continue
            process.send_signal(signal.SIGTERM)
            try:
                process.wait(90)
            except subprocess.TimeoutExpired:
                process.kill()
                process.wait(30)


STACK_FILE = "stack.json"


def serve_emulators(
    state_dir: Path,
    ports: str,
    daily_api_limit: int = SF_DAILY_LIMIT,
    database_url: str | None = None,
) -> int:
    """The emulators' process: both emulators in memory, the org set up, the connector's
    configuration written; the webhook registered once the service answers; then serve until
    SIGTERM."""
    import threading

    from cosell.clock import SystemClock
    from cosell.emulators.partner_center import PartnerCenterEmulatorConfig
    from cosell.emulators.partner_center import create_app as partner_center_app
    from cosell.emulators.salesforce import SalesforceEmulatorConfig
    from cosell.emulators.salesforce import create_app as salesforce_app
    from cosell.sandbox import connector
    from cosell.sandbox.emulators import Emulators
    from cosell.sandbox.manifest import Places, manifest, write_manifest
    from cosell.sandbox.servers import ServedApp, bind

    port, pc_port, sf_port = (int(p) for p in ports.split(","))
    pc_served, sf_served = (
        ServedApp("partner-center", bind(pc_port)),
        ServedApp("sf", bind(sf_port)),
    )
    pc_config = PartnerCenterEmulatorConfig(public_url=pc_served.url)
    sf_config = SalesforceEmulatorConfig(
        public_url=sf_served.url, fls_strict=True, daily_api_limit=daily_api_limit
    )
    pc_app, sf_app = partner_center_app(pc_config), salesforce_app(sf_config)
    pc_served.start(pc_app)
    sf_served.start(sf_app)
    emulators = Emulators(pc_served, sf_served, pc_config, sf_config, pc_app, sf_app, False)
    data = connector.config_data(emulators, state_dir, port)
    if database_url is not None:
        data["service"]["database_url"] = database_url
    config_file = state_dir / connector.CONFIG_FILE
    connector.write_config(config_file, data)
    env = connector.secret_env(emulators)
    settings = connector.build_settings(data, env)
    report = connector.set_up_salesforce(settings)
    failed = report.with_status("missing", "differs", "failed")
    if failed:
        raise RuntimeError(f"the emulated org could not be set up: {failed}")
    url = f"http://127.0.0.1:{port}"
    places = Places(state_dir, url, settings.database_url, config_file)
    content = manifest(emulators, places, env, {})
    write_manifest(state_dir / STACK_FILE, content)
    stopping = threading.Event()
    signal.signal(signal.SIGTERM, lambda *_: stopping.set())
    wait_for(lambda: _answers(f"{url}/healthz") or stopping.is_set(), 300.0, "cosell run", 0.1)
    if not stopping.is_set():
        connector.register_webhook(settings, SystemClock(), url)
        write_manifest(state_dir / STACK_FILE, {**content, "registered": True})
    stopping.wait()
    pc_served.stop()
    sf_served.stop()
    pc_app.state.emulator.close()
    return 0


def serve_hubspot(state_dir: Path, ports: str, database_url: str | None = None) -> int:
    """As :func:`serve_emulators`, with HubSpot's emulator as the CRM (its portal set up as
    ``cosell setup hubspot`` does; its app's webhooks subscribed once the service answers)."""
    import threading

    from cosell.sandbox.hubspot_stack import HubSpotSandbox
    from cosell.sandbox.manifest import write_manifest

    port, pc_port, hs_port = (int(p) for p in ports.split(","))
    stack = HubSpotSandbox(state_dir, (port, pc_port, hs_port), database_url=database_url)
    prepared = stack.prepare()
    url = f"http://127.0.0.1:{port}"
    content = stack.manifest_for(prepared, url)
    write_manifest(state_dir / STACK_FILE, content)
    stopping = threading.Event()
    signal.signal(signal.SIGTERM, lambda *_: stopping.set())
    wait_for(lambda: _answers(f"{url}/healthz") or stopping.is_set(), 300.0, "cosell run", 0.1)
    if not stopping.is_set():
        stack.connect(prepared, url)
        write_manifest(state_dir / STACK_FILE, {**content, "registered": True})
    stopping.wait()
    stack.stop()
    return 0


def _answers(url: str) -> bool:
    with contextlib.suppress(httpx.HTTPError):
        return httpx.get(url, timeout=5).status_code == 200
    return False


# --- the two sides, as people and as the checker read them ---------------------------------------


class Sides:
    """HTTP clients of both emulators; Salesforce calls retry the faults the soak injects."""

    def __init__(self, manifest: dict[str, Any]) -> None:
        self.manifest = manifest
        self.crm = str(manifest.get("crm", "salesforce"))
        pc, crm = manifest["partner_center"], manifest[self.crm]
        limits = httpx.Limits(keepalive_expiry=2.0)
        self.pc = httpx.Client(base_url=pc["url"], timeout=30, limits=limits)
        self.sf = httpx.Client(base_url=crm["url"], timeout=30, limits=limits)
        self.harness_calls = {"partner_center": 0, "crm": 0}
        self._pc_token = self._sf_token = ""
        self.driver: Crm = HubSpotCrm(self) if self.crm == "hubspot" else SalesforceCrm(self)
        """The CRM's seller and reader."""

    def close(self) -> None:
        self.pc.close()
        self.sf.close()

    def _login_sf(self) -> None:
        sf = self.manifest["salesforce"]
        keys = ("client_id", "client_secret", "username", "password")
        form = {"grant_type": "password", **{k: sf[k] for k in keys}}
        response = httpx.post(sf["token_url"], data=form, timeout=30)
        response.raise_for_status()
        self._sf_token = str(response.json()["access_token"])

    def _login_pc(self) -> None:
        pc = self.manifest["partner_center"]
        keys = ("client_id", "client_secret", "username", "password")
        form = {"grant_type": "password", "resource": PC_RESOURCE, **{k: pc[k] for k in keys}}
        response = httpx.post(pc["token_url"], data=form, timeout=30)
        response.raise_for_status()
        self._pc_token = str(response.json()["access_token"])

    def sf_call(self, method: str, path: str, **kwargs: Any) -> httpx.Response:
        """A Salesforce API call that outlasts injected faults (re-signing in after a revoke)."""
        for attempt in range(SF_RETRY):
            if not self._sf_token:
                self._login_sf()
            headers = {"Authorization": f"Bearer {self._sf_token}"}
            self.harness_calls["crm"] += 1
            try:
                response = self.sf.request(method, path, headers=headers, **kwargs)
            except httpx.TransportError:
                if method == "POST":
                    raise  # the caller decides whether the create happened
                time.sleep(0.05 * (attempt + 1))
                continue
            if response.status_code == 401:
                self._sf_token = ""
                continue
            if response.status_code >= 500 or "UNABLE_TO_LOCK_ROW" in response.text:
                time.sleep(0.05 * (attempt + 1))
                continue
            return response
        raise RuntimeError(f"Salesforce {method} {path} kept failing")

    def pc_call(self, method: str, path: str, **kwargs: Any) -> httpx.Response:
        for attempt in range(SF_RETRY):
            if not self._pc_token:
                self._login_pc()
            headers = {"Authorization": f"Bearer {self._pc_token}"}
            self.harness_calls["partner_center"] += 1
            try:
                response = self.pc.request(method, path, headers=headers, **kwargs)
            except httpx.TransportError:
                time.sleep(0.05 * (attempt + 1))
                continue
            if response.status_code == 401:
                self._pc_token = ""
                continue
            if response.status_code in (429, 500, 502, 503):
                time.sleep(0.05 * (attempt + 1))
                continue
            return response
        raise RuntimeError(f"Partner Center {method} {path} kept failing")

    def control(self, side: str, method: str, path: str, **kwargs: Any) -> httpx.Response:
        client = self.pc if side == "partner_center" else self.sf
        for attempt in range(SF_RETRY):
            try:
                return client.request(method, f"/_emulator/{path}", **kwargs)
            except httpx.TransportError:
                time.sleep(0.05 * (attempt + 1))
        raise RuntimeError(f"control {side} {path} unreachable")

    # --- reading (the checker) ---------------------------------------------------------------

    def query(self, soql: str) -> list[dict[str, Any]]:
        rows: list[dict[str, Any]] = []
        response = self.sf_call("GET", f"{API}/query", params={"q": soql})
        response.raise_for_status()
        body = response.json()
        rows += body["records"]
        while not body.get("done", True) and body.get("nextRecordsUrl"):
            response = self.sf_call("GET", body["nextRecordsUrl"])
            response.raise_for_status()
            body = response.json()
            rows += body["records"]
        return rows

    def referrals(self) -> list[dict[str, Any]]:
        out: list[dict[str, Any]] = []
        url: str | None = "/v1.0/engagements/referrals"
        params: dict[str, Any] | None = {"$top": 100}
        while url:
            response = self.pc_call("GET", url, params=params)
            response.raise_for_status()
            body = response.json()
            out += body["value"]
            url, params = body.get("@odata.nextLink"), None
            if url and url.startswith("http"):
                url = httpx.URL(url).raw_path.decode()
        return out

    def calls(self) -> tuple[dict[str, int], dict[str, int]]:
        pc = self.control("partner_center", "GET", "calls").json()["calls"]
        sf = self.control("crm", "GET", "calls").json()["calls"]
        return pc, sf

    def written(self) -> tuple[dict[str, int], dict[str, int]]:
        """The calls that wrote data, by route: the emulator's own count where it keeps one
        (Salesforce: a composite of queries is a POST that only reads), else by method."""
        pc = _writes_of(self.control("partner_center", "GET", "calls").json())
        sf = _writes_of(self.control("crm", "GET", "calls").json())
        return pc, sf


@dataclass(frozen=True)
class Opp:
    """An opportunity (a Salesforce opportunity, a HubSpot deal) as the checker reads it."""

    id: str
    referral_id: str | None
    name: Any
    amount: Any
    notes: Any
    stage: str | None
    """Its stage's key in the mapping's ``stages`` table (see :data:`STAGES`)."""
    stage_label: Any
    error: str | None
    """The sync error cosell shows on the record, if any."""
    emails: tuple[str, ...] = ()
    """Its contacts' emails, lower-case and sorted."""


class SalesforceCrm:
    """The partner's seller in Salesforce, and the checker's reading of its opportunities."""

    name = "Salesforce"

    def __init__(self, sides: Sides) -> None:
        self.sides = sides

    def fault_rules(self, r: float) -> list[dict[str, Any]]:
        sobjects, error = f"{API}/", {"status": 500}
        return [
            {"kind": "server_error", "params": error, "path": sobjects, "rate": r / 3},
            {"kind": "unable_to_lock_row", "method": "PATCH", "path": sobjects, "rate": r / 3},
            {"kind": "drop_connection", "path": sobjects, "rate": r / 3},
        ]

    def revoke(self) -> None:
        self.sides.control("crm", "POST", "sessions/revoke")

    def _create(self, sobject: str, values: dict[str, Any], unique: tuple[str, str]) -> str:
        """A create that outlasts a dropped connection without making a second record."""
        field_name, value = unique
        for _ in range(SF_RETRY):
            try:
                response = self.sides.sf_call("POST", f"{API}/sobjects/{sobject}", json=values)
            except httpx.TransportError:
                response = None
            if response is not None and response.status_code in (200, 201):
                return str(response.json()["id"])
            soql = f"SELECT Id FROM {sobject} WHERE {field_name} = '{value}'"  # noqa: S608
            found = self.sides.query(soql)
            if found:
                return str(found[0]["Id"])
        raise RuntimeError(f"could not create {sobject} {value}")

    def create(self, n: int, amount: int, notes: str) -> str:
        """A complete opportunity (account, contact, role), then flagged for co-sell."""
        name = f"Soak opportunity {n}"
        account_name = f"Soak account {n}"
        account_values = {"Name": account_name, "BillingCountry": "US"}
        account = self._create("Account", account_values, ("Name", account_name))
        values = {
            "Name": name,
            "StageName": "Prospecting",
            "CloseDate": "2027-12-31",
            "Amount": amount,
            "CurrencyIsoCode": "USD",
            "AccountId": account,
            "Description": notes,
            "How_can_Microsoft_help__c": HELP,
            "Products__c": "SOL-SOAK",
        }
        opportunity = self._create("Opportunity", values, ("Name", name))
        email = f"buyer{n}@soak.example"
        contact = self._create(
            "Contact", {"LastName": f"Buyer{n}", "Email": email}, ("Email", email)
        )
        role = {"OpportunityId": opportunity, "ContactId": contact}
        self._create("OpportunityContactRole", role, ("OpportunityId", opportunity))
        flag = {"Sync_with_Partner_Center__c": True}
        self.sides.sf_call("PATCH", f"{API}/sobjects/Opportunity/{opportunity}", json=flag)
        return opportunity

    def edit(self, opportunity_id: str, amount: int | None, notes: str | None) -> bool:
        change: dict[str, Any] = {}
        if amount is not None:
            change["Amount"] = amount
        if notes is not None:
            change["Description"] = notes
        path = f"{API}/sobjects/Opportunity/{opportunity_id}"
        return self.sides.sf_call("PATCH", path, json=change).status_code < 300

    def contact_email(
        self, opportunity_id: str, email: str, others: frozenset[str] = frozenset()
    ) -> bool:
        """The seller changes the email of the opportunity's contact (not one of ``others``,
        the contacts Microsoft added)."""
        roles_of = "SELECT ContactId, Contact.Email FROM OpportunityContactRole"
        soql = f"{roles_of} WHERE OpportunityId = '{opportunity_id}'"
        roles = [
            r
            for r in self.sides.query(soql)
            if str((r.get("Contact") or {}).get("Email") or "").lower() not in others
        ]
        if len(roles) != 1:
            return False
        path = f"{API}/sobjects/Contact/{roles[0]['ContactId']}"
        return self.sides.sf_call("PATCH", path, json={"Email": email}).status_code < 300

    def stage(self, opportunity_id: str, key: str) -> bool:
        names = {v: k for k, v in SF_STAGES.items() if v != "open"}
        body: dict[str, Any] = {"StageName": names[key]}
        if key == "lost":
            body["Loss_Reason__c"] = "Lost to competitor"
        path = f"{API}/sobjects/Opportunity/{opportunity_id}"
        return self.sides.sf_call("PATCH", path, json=body).status_code < 300

    def delete(self, opportunity_id: str) -> bool:
        path = f"{API}/sobjects/Opportunity/{opportunity_id}"
        return self.sides.sf_call("DELETE", path).status_code in (204, 404)

    def opportunity_for(self, referral_id: str) -> str | None:
        soql = f"SELECT Id FROM Opportunity WHERE Referral_Identifier__c = '{referral_id}'"  # noqa: S608
        rows = self.sides.query(soql)
        return str(rows[0]["Id"]) if rows else None

    def referral_of(self, opportunity_id: str) -> str | None:
        response = self.sides.sf_call("GET", f"{API}/sobjects/Opportunity/{opportunity_id}")
        if response.status_code != 200:
            return None
        return response.json().get("Referral_Identifier__c") or None

    def contact_emails(self) -> list[str]:
        """Every contact's email in the org."""
        return [str(r.get("Email") or "") for r in self.sides.query("SELECT Email FROM Contact")]

    def opportunities(self) -> list[Opp]:
        roles = "(SELECT Contact.Email FROM OpportunityContactRoles)"
        rows = self.sides.query(f"SELECT {OPP_FIELDS}, {roles} FROM Opportunity")  # noqa: S608
        return [
            Opp(
                str(row["Id"]),
                row.get("Referral_Identifier__c") or None,
                row.get("Name"),
                row.get("Amount"),
                row.get("Description"),
                SF_STAGES.get(str(row.get("StageName"))),
                row.get("StageName"),
                row.get("Co_sell_Sync_Error__c") or None,
                emails(
                    (role.get("Contact") or {}).get("Email")
                    for role in (row.get("OpportunityContactRoles") or {}).get("records", [])
                ),
            )
            for row in rows
        ]


class HubSpotCrm:
    """The partner's seller in HubSpot's UI (a UI user's token: its calls are not the app's API
    calls, so the emulator's call log holds the connector's alone), and the checker's reading of
    the deals."""

    name = "HubSpot"
    DEALS = "/crm/v3/objects/deals"
    PROPERTIES = "dealname,amount,description,dealstage,cosell_referral_id,cosell_sync_error"

    def __init__(self, sides: Sides) -> None:
        self.sides = sides
        answer = sides.control("crm", "POST", "users", json={"user_id": 4242})
        answer.raise_for_status()
        self._headers = {"Authorization": f"Bearer {answer.json()['token']}"}
        self._stages: dict[str, str] | None = None

    def call(self, method: str, path: str, **kwargs: Any) -> httpx.Response:
        """A call that outlasts the faults the soak injects (each answered before the request
        is served, so asking again cannot make a second record)."""
        for attempt in range(SF_RETRY):
            try:
                response = self.sides.sf.request(method, path, headers=self._headers, **kwargs)
            except httpx.TransportError:
                time.sleep(0.05 * (attempt + 1))
                continue
            if response.status_code in (423, 429, 477) or response.status_code >= 500:
                time.sleep(0.1 * (attempt + 1))
                continue
            return response
        raise RuntimeError(f"HubSpot {method} {path} kept failing")

    def fault_rules(self, r: float) -> list[dict[str, Any]]:
        objects, error = "/crm/v3/objects/", {"status": 502}
        return [
            {"kind": "server_error", "params": error, "path": objects, "rate": r / 3},
            {"kind": "rate_limited", "path": "/crm/v3/", "rate": r / 3},
            {"kind": "locked", "method": "PATCH", "path": objects, "rate": r / 6},
            {"kind": "webhook_drop", "path": "deal.", "rate": min(1.0, r * 3)},
            {"kind": "webhook_duplicate", "path": "deal.", "rate": r},
            {"kind": "webhook_reorder", "path": "deal.", "rate": r},
        ]

    def revoke(self) -> None:
        """A private app's token is not revoked by HubSpot: nothing to do."""

    def _create(self, kind: str, properties: dict[str, str], links: list[tuple[str, int]]) -> str:
        body: dict[str, Any] = {"properties": properties}
        body["associations"] = [
            {
                "to": {"id": to},
                "types": [{"associationCategory": "HUBSPOT_DEFINED", "associationTypeId": kind_id}],
            }
            for to, kind_id in links
        ]
        response = self.call("POST", f"/crm/v3/objects/{kind}", json=body)
        if response.status_code != 201:
            raise RuntimeError(f"could not create {kind}: {response.text[:300]}")
        return str(response.json()["id"])

    def stage_id(self, key: str) -> str:
        labels = {v: k for k, v in self.stage_keys().items()}
        return labels[HS_STAGES[key]]

    def stage_keys(self) -> dict[str, str]:
        """Stage id -> label, of the deal pipeline cosell was set up with."""
        if self._stages is None:
            response = self.call("GET", "/crm/v3/pipelines/deals/default")
            response.raise_for_status()
            self._stages = {str(s["id"]): str(s["label"]) for s in response.json()["stages"]}
        return self._stages

    def create(self, n: int, amount: int, notes: str) -> str:
        """A company, a contact and a deal associated with both, flagged for co-sell."""
        company = self._create("companies", {"name": f"Soak account {n}", "country": "US"}, [])
        person = {"firstname": "Buyer", "lastname": str(n), "email": f"buyer{n}@soak.example"}
        contact = self._create("contacts", person, [])
        properties = {
            "dealname": f"Soak opportunity {n}",
            "dealstage": self.stage_id("open"),
            "amount": str(amount),
            "closedate": "2027-12-31T00:00:00Z",
            "deal_currency_code": "USD",
            "description": notes,
            "cosell_sync_with_partner_center": "true",
            "cosell_help_code": HELP,
            "cosell_products": "SOL-SOAK",
        }
        return self._create("deals", properties, [(company, 5), (contact, 3)])

    def _patch(self, deal_id: str, properties: dict[str, str]) -> bool:
        response = self.call("PATCH", f"{self.DEALS}/{deal_id}", json={"properties": properties})
        return response.status_code == 200

    def edit(self, opportunity_id: str, amount: int | None, notes: str | None) -> bool:
        change: dict[str, str] = {}
        if amount is not None:
            change["amount"] = str(amount)
        if notes is not None:
            change["description"] = notes
        return self._patch(opportunity_id, change)

    def contact_email(
        self, opportunity_id: str, email: str, others: frozenset[str] = frozenset()
    ) -> bool:
        """The seller changes the email of the deal's contact (not one of ``others``, the
        contacts Microsoft added)."""
        path = f"/crm/v4/objects/deals/{opportunity_id}/associations/contacts"
        response = self.call("GET", path)
        linked = response.json().get("results", []) if response.status_code == 200 else []
        mine = []
        for link in linked:
            contact = f"/crm/v3/objects/contacts/{link['toObjectId']}"
            found = self.call("GET", contact, params={"properties": "email"})
            if found.status_code != 200:
                return False
            held = str((found.json().get("properties") or {}).get("email") or "").lower()
            if held not in others:
                mine.append(contact)
        if len(mine) != 1:
            return False
        body = {"properties": {"email": email}}
        return self.call("PATCH", mine[0], json=body).status_code == 200

    def stage(self, opportunity_id: str, key: str) -> bool:
        change = {"dealstage": self.stage_id(key)}
        if key == "lost":
            change["cosell_status_reason"] = "Lost to competitor"
        return self._patch(opportunity_id, change)

    def delete(self, opportunity_id: str) -> bool:
        return self.call("DELETE", f"{self.DEALS}/{opportunity_id}").status_code in (204, 404)

    def opportunity_for(self, referral_id: str) -> str | None:
        params = {"idProperty": "cosell_referral_id"}
        response = self.call("GET", f"{self.DEALS}/{referral_id}", params=params)
        return str(response.json()["id"]) if response.status_code == 200 else None

    def referral_of(self, opportunity_id: str) -> str | None:
        params = {"properties": "cosell_referral_id"}
        response = self.call("GET", f"{self.DEALS}/{opportunity_id}", params=params)
        if response.status_code != 200:
            return None
        return response.json()["properties"].get("cosell_referral_id") or None

    def contact_emails(self) -> list[str]:
        """Every contact's email in the portal."""
        emails: list[str] = []
        params: dict[str, Any] = {"limit": 100, "properties": "email"}
        while True:
            response = self.call("GET", "/crm/v3/objects/contacts", params=params)
            response.raise_for_status()
            body = response.json()
            emails += [str(c["properties"].get("email") or "") for c in body["results"]]
            after = ((body.get("paging") or {}).get("next") or {}).get("after")
            if not after:
                return emails
            params = {**params, "after": after}

    def opportunities(self) -> list[Opp]:
        labels = self.stage_keys()
        keys = {label: key for key, label in HS_STAGES.items() if key != "open"}
        keys |= dict.fromkeys(HS_OPEN_STAGES, "open")
        found: list[Opp] = []
        params: dict[str, Any] = {"limit": 100, "properties": self.PROPERTIES}
        while True:
            response = self.call("GET", self.DEALS, params=params)
            response.raise_for_status()
            body = response.json()
            for deal in body["results"]:
                props = deal["properties"]
                label = labels.get(str(props.get("dealstage")), props.get("dealstage"))
                found.append(
                    Opp(
                        str(deal["id"]),
                        props.get("cosell_referral_id") or None,
                        props.get("dealname"),
                        props.get("amount"),
                        props.get("description"),
                        keys.get(str(label)),
                        label,
                        props.get("cosell_sync_error") or None,
                    )
                )
            after = ((body.get("paging") or {}).get("next") or {}).get("after")
            if not after:
                return self._with_emails(found)
            params = {**params, "after": after}

    def _with_emails(self, deals: list[Opp]) -> list[Opp]:
        """The deals with their contacts' emails (associations and contacts read in batches)."""
        linked: dict[str, list[str]] = {}
        ids = [deal.id for deal in deals]
        for start in range(0, len(ids), 1000):
            inputs = [{"id": i} for i in ids[start : start + 1000]]
            path = "/crm/v4/associations/deals/contacts/batch/read"
            response = self.call("POST", path, json={"inputs": inputs})
            for row in response.json().get("results", []):
                linked[str(row["from"]["id"])] = [str(t["toObjectId"]) for t in row.get("to", [])]
        contacts = sorted({c for found in linked.values() for c in found})
        email: dict[str, str | None] = {}
        for start in range(0, len(contacts), 100):
            inputs = [{"id": i} for i in contacts[start : start + 100]]
            body = {"inputs": inputs, "properties": ["email"]}
            response = self.call("POST", "/crm/v3/objects/contacts/batch/read", json=body)
            for row in response.json().get("results", []):
                email[str(row["id"])] = (row.get("properties") or {}).get("email")
        return [
            replace(deal, emails=emails(email.get(c) for c in linked.get(deal.id, [])))
            for deal in deals
        ]


Crm = SalesforceCrm | HubSpotCrm


def _writes_of(snapshot: dict[str, Any]) -> dict[str, int]:
    if "writes" in snapshot:
        routes: dict[str, int] = snapshot["writes"]
    else:
        routes = {r: n for r, n in snapshot["calls"].items() if r.split(" ")[0] in WRITE_METHODS}
    return {
        r: n
        for r, n in routes.items()
        if not any(p in r for p in NOT_DATA) and not r.endswith(READ_POSTS)
    }


def writes(routes: dict[str, int]) -> int:
    return sum(routes.values())


def total(calls: dict[str, int]) -> int:
    return sum(n for route, n in calls.items() if "oauth2/token" not in route)


# --- the oracle ---------------------------------------------------------------------------------


@dataclass
class Write:
    side: str
    value: Any
    at: float
    raced: bool = False
    """A Partner Center write made while the owner's last write of the field had not reached
    Partner Center yet: cosell finds both sides changed since its last sync, whenever it
    looks."""


@dataclass
class Deal:
    """One pair as the harness made it, and the last write of each field on each side."""

    n: int
    origin: str  # "partner_center" (shared by Microsoft) or "crm" (flagged by a seller)
    referral_id: str | None = None
    opportunity_id: str | None = None
    state: str = "open"  # on_hold, open, declined, won, lost, deleted
    writes: dict[str, dict[str, Write]] = field(default_factory=dict)
    added: set[str] = field(default_factory=set)
    """Contacts Microsoft added to the referral's team: both sides keep each, beside the
    deal's own contact (the ``email`` the oracle tracks)."""

    def wrote(self, name: str, side: str, value: Any, raced: bool = False) -> None:
        self.writes.setdefault(name, {})[side] = Write(side, value, time.monotonic(), raced)

    def unsynced(self, name: str, held: Any) -> bool:
        """Whether the owner's last write of ``name`` differs from ``held``, the other side's
        value (normalised as the checker compares them)."""
        owner = self.writes.get(name, {}).get(OWNER[name])
        if owner is None:
            return False
        norm = number if name == "amount" else text
        return bool(norm(owner.value) != norm(held))

    def history(self, name: str) -> str:
        """Each side's last write of ``name`` and how long before the check it was made."""
        now = time.monotonic()
        ordered = sorted(self.writes.get(name, {}).values(), key=lambda w: w.at)
        return "; ".join(f"{w.side} wrote {w.value!r} {now - w.at:.0f}s ago" for w in ordered)

    def allowed(self, name: str, window: float) -> list[Any]:
        """The values both sides may hold: the last write, or the owner's when both changed."""
        by_side = self.writes.get(name, {})
        if not by_side:
            return []
        ordered = sorted(by_side.values(), key=lambda w: w.at)
        last = ordered[-1]
        values = [last.value]
        owner = by_side.get(OWNER[name])
        if owner is not None and owner is not last and (last.at - owner.at <= window or last.raced):
            values.append(owner.value)
        return values


@dataclass
class Figures:
    ops: dict[str, int] = field(default_factory=dict)
    faults: dict[str, int] = field(default_factory=dict)
    kills: int = 0
    revokes: int = 0
    added: int = 0
    """Contacts Microsoft added, and of those right after the seller's edit of the deal's own
    (``racing``), before cosell had synced it (its 412 refusals are not counted)."""
    racing: int = 0
    emails_racing: int = 0
    """Emails of a deal's own contact both sides corrected at once (Microsoft's write not
    refused)."""


class Soak:
    """The random work, the faults and the kills."""

    def __init__(self, sandbox: Sandbox, args: argparse.Namespace) -> None:
        self.sandbox = sandbox
        self.args = args
        self.rng = random.Random(args.seed)
        self.deals: list[Deal] = []
        self.figures = Figures()
        self.sides = Sides(sandbox.manifest)
        self.crm = self.sides.driver

    # --- faults --------------------------------------------------------------------------------

    def fault_rules(self) -> list[tuple[str, dict[str, Any]]]:
        r = self.args.fault_rate
        referrals = "/v1.0/engagements/referrals"
        pc = "partner_center"
        error, half = {"status": 500}, r / 2
        return [
            (pc, {"kind": "server_error", "params": error, "path": referrals, "rate": r / 2}),
            (
                pc,
                {"kind": "throttle", "params": {"retry_after": 1}, "path": referrals, "rate": half},
            ),
            (pc, {"kind": "webhook_drop", "path": "referral-", "rate": min(1.0, r * 3)}),
            (pc, {"kind": "webhook_duplicate", "path": "referral-", "rate": r}),
            (pc, {"kind": "webhook_reorder", "path": "referral-", "rate": r}),
            *(("crm", rule) for rule in self.crm.fault_rules(r)),
        ]

    def inject(self) -> None:
        if self.args.fault_rate <= 0:
            return
        for side, rule in self.fault_rules():
            self.sides.control(side, "POST", "faults", json=rule).raise_for_status()

    def clear_faults(self) -> None:
        for side in ("partner_center", "crm"):
            rules = self.sides.control(side, "GET", "faults").json()
            for rule in rules["faults"]:
                kind = str(rule["kind"])
                self.figures.faults[kind] = self.figures.faults.get(kind, 0) + int(rule["fired"])
            self.sides.control(side, "DELETE", "faults").raise_for_status()

    # --- the work --------------------------------------------------------------------------------

    def run(self) -> None:
        self.inject()
        ops = self.args.ops
        kill_at = sorted(self.rng.sample(range(ops // 10, ops), min(self.args.kills, ops)))
        revoke_every = max(50, ops // 20) if self.args.fault_rate > 0 else 0
        started = time.monotonic()
        rate = self.args.rate
        for i in range(ops):
            if rate > 0:  # a steady load: operation i starts i / rate seconds in
                time.sleep(max(started + i / rate - time.monotonic(), 0.0))
            self.step()
            if revoke_every and i % revoke_every == revoke_every - 1:
                self.crm.revoke()
                self.sides.control("partner_center", "POST", "tokens/revoke", json={})
                self.figures.revokes += 1
            if kill_at and i == kill_at[0]:
                kill_at.pop(0)
                self.kill_and_restart()
            if self.args.progress and i % 500 == 499:
                print(f"  {i + 1} ops, {time.monotonic() - started:.0f}s", flush=True)
        self.clear_faults()

    def kill_and_restart(self) -> None:
        for _ in range(5):  # a burst of writes: reconciles are running when the kill lands
            self.step()
        time.sleep(self.rng.uniform(0.1, 0.8))
        # The emulators live on: their faults and counters carry on.
        self.sandbox.kill(self.rng.randrange(len(self.sandbox.workers) + 1))
        self.figures.kills += 1
        self.sandbox.start()

    def step(self) -> None:
        choices: list[tuple[str, float]] = [
            ("share", 1.0),
            ("create", 1.0),
            ("pc_update", 3.0 if self.deals else 0),
            ("crm_update", 3.0 if self.deals else 0),
            ("contact_edit", 1.0 if self.deals else 0),
            ("contact_add", 0.5 if self.deals else 0),
            ("contacts_both", 0.5 if self.deals else 0),
            ("contact_email_ms", 0.5 if self.deals else 0),
            ("emails_both", 0.5 if self.deals else 0),
            ("accept", 1.0 if self.deals else 0),
            ("decline", 0.3 if self.deals else 0),
            ("close", 0.6 if self.deals else 0),
            ("delete", 0.2 if self.deals else 0),
        ]
        names, weights = zip(*choices, strict=True)
        name = self.rng.choices(names, weights)[0]
        done = getattr(self, f"op_{name}")()
        if done:
            self.figures.ops[name] = self.figures.ops.get(name, 0) + 1

    def _deal(self, states: set[str], need_opportunity: bool = False) -> Deal | None:
        pool = [d for d in self.deals if d.state in states]
        self.rng.shuffle(pool)
        for deal in pool[:10]:
            if not need_opportunity or self._opportunity(deal):
                return deal
        return None

    def _opportunity(self, deal: Deal) -> str | None:
        """The opportunity of a shared referral, once cosell made it (read from the CRM)."""
        if deal.opportunity_id is None and deal.referral_id is not None:
            deal.opportunity_id = self.crm.opportunity_for(deal.referral_id)
        return deal.opportunity_id

    def op_share(self) -> bool:
        n = len(self.deals)
        amount = self.rng.randrange(1000, 90000)
        body = {
            "name": f"Soak referral {n}",
            "type": "Shared",
            "customerProfile": {
                "name": f"Soak customer {n}",
                "address": {"city": "Austin", "country": "US"},
                "team": [{"firstName": "Bo", "lastName": "Ng", "email": f"bo{n}@soak.example"}],
            },
            "details": {
                "dealValue": amount,
                "currency": "USD",
                "closingDateTime": "2027-12-31T00:00:00Z",
                "notes": f"shared {n}",
                "requirements": {"solutions": [{"id": "SOL-SOAK", "name": "Soak"}]},
            },
            "inviteContext": {"assistanceRequestCode": "ProofOfConceptOrDemo"},
        }
        response = self.sides.control("partner_center", "POST", "referrals", json=body)
        response.raise_for_status()
        deal = Deal(n, "partner_center", referral_id=str(response.json()["id"]), state="on_hold")
        deal.wrote("amount", "partner_center", float(amount))
        deal.wrote("notes", "partner_center", f"shared {n}")
        deal.wrote("email", "partner_center", f"bo{n}@soak.example")
        self.deals.append(deal)
        return True

    def op_create(self) -> bool:
        n = len(self.deals)
        amount = self.rng.randrange(1000, 90000)
        opportunity = self.crm.create(n, amount, f"created {n}")
        deal = Deal(n, "crm", opportunity_id=opportunity, state="open")
        deal.wrote("amount", "crm", float(amount))
        deal.wrote("notes", "crm", f"created {n}")
        deal.wrote("email", "crm", f"buyer{n}@soak.example")
        self.deals.append(deal)
        return True

    def op_pc_update(self) -> bool:
        deal = self._deal({"on_hold", "open"})
        if deal is None or deal.referral_id is None:
            return False
        amount = float(self.rng.randrange(1000, 90000))
        notes = f"microsoft {self.rng.randrange(10**6)}"
        change: dict[str, Any] = {}
        if self.rng.random() < 0.7:
            change["dealValue"] = amount
        if self.rng.random() < 0.5 or not change:
            change["notes"] = notes
        path = f"/v1.0/engagements/referrals/{deal.referral_id}"
        before = self.sides.pc_call("GET", path)
        held = (before.json().get("details") or {}) if before.status_code == 200 else {}
        response = self.sides.control(
            "partner_center", "PATCH", f"referrals/{deal.referral_id}", json={"details": change}
        )
        if response.status_code != 200:
            return False
        if "dealValue" in change:
            raced = deal.unsynced("amount", held.get("dealValue"))
            deal.wrote("amount", "partner_center", amount, raced)
        if "notes" in change:
            deal.wrote("notes", "partner_center", notes, deal.unsynced("notes", held.get("notes")))
        return True

    def op_crm_update(self) -> bool:
        # Edits of an on-hold opportunity are kept until accepted: only open deals are edited.
        deal = self._deal({"open"}, need_opportunity=True)
        if deal is None or deal.opportunity_id is None:
            return False
        amount = self.rng.randrange(1000, 90000)
        notes = f"seller {self.rng.randrange(10**6)}"
        new_amount = self.rng.random() < 0.7
        new_notes = self.rng.random() < 0.5 or not new_amount
        edit = (amount if new_amount else None, notes if new_notes else None)
        if not self.crm.edit(deal.opportunity_id, *edit):
            return False
        if new_amount:
            deal.wrote("amount", "crm", float(amount))
        if new_notes:
            deal.wrote("notes", "crm", notes)
        return True

    def op_contact_edit(self) -> bool:
        """The seller changes the email of an open deal's contact (a related record)."""
        deal = self._deal({"open"}, need_opportunity=True)
        return deal is not None and self._contact_edit(deal)

    def _contact_edit(self, deal: Deal) -> bool:
        if deal.opportunity_id is None:
            return False
        email = f"buyer{deal.n}.{self.rng.randrange(10**6)}@soak.example"
        if not self.crm.contact_email(deal.opportunity_id, email, frozenset(deal.added)):
            return False
        deal.wrote("email", "crm", email)
        return True

    def op_contact_add(self) -> bool:
        """Microsoft adds a contact to an open deal's referral (read, then written only if the
        referral has not moved since: ``If-Match``)."""
        deal = self._deal({"open"})
        return deal is not None and self._contact_add(deal)

    def _contact_add(self, deal: Deal) -> bool:
        email = ""

        def add(team: list[dict[str, Any]]) -> list[dict[str, Any]]:
            nonlocal email
            email = f"ms{deal.n}.{self.rng.randrange(10**6)}@soak.example"
            return [*team, {"firstName": "Mo", "lastName": f"Added {deal.n}", "email": email}]

        if not self._microsoft_team(deal, add):
            return False
        deal.added.add(email)
        self.figures.added += 1
        return True

    def op_contact_email_ms(self) -> bool:
        """Microsoft corrects the email of an open deal's own contact on the referral (read,
        then written only if the referral has not moved since: ``If-Match``)."""
        deal = self._deal({"open"})
        return deal is not None and self._ms_contact_email(deal)

    def _ms_contact_email(self, deal: Deal, raced: bool = False) -> bool:
        email = ""

        def correct(team: list[dict[str, Any]]) -> list[dict[str, Any]] | None:
            nonlocal email
            own = [m for m in team if str(m.get("email") or "").lower() not in deal.added]
            if len(own) != 1:
                return None
            email = f"buyer{deal.n}.ms{self.rng.randrange(10**6)}@soak.example"
            return [{**m, "email": email} if m is own[0] else m for m in team]

        if not self._microsoft_team(deal, correct):
            return False
        deal.wrote("email", "partner_center", email, raced=raced)
        return True

    def _microsoft_team(
        self,
        deal: Deal,
        change: Callable[[list[dict[str, Any]]], list[dict[str, Any]] | None],
    ) -> bool:
        """Microsoft's seller changes the referral's customer team: read, changed (``None``:
        nothing to change), then written only if the referral has not moved since
        (``If-Match``). False when nothing was written."""
        if deal.referral_id is None:
            return False
        seen = self.sides.pc_call("GET", f"/v1.0/engagements/referrals/{deal.referral_id}")
        if seen.status_code != 200:
            return False
        referral = seen.json()
        customer = referral.get("customerProfile") or {}
        team = change(list(customer.get("team") or []))
        if team is None:
            return False
        response = self.sides.control(
            "partner_center",
            "PATCH",
            f"referrals/{deal.referral_id}",
            json={"customerProfile": {**customer, "team": team}},
            headers={"If-Match": str(referral.get("eTag") or "")},
        )
        # 412: cosell wrote it meanwhile; Microsoft's seller would look again
        return response.status_code == 200

    def op_emails_both(self) -> bool:
        """Both sides correct the email of the deal's own contact at once: one person, whose
        email is the owner's (the CRM's), never both."""
        deal = self._deal({"open"}, need_opportunity=True)
        if deal is None or not self._contact_edit(deal):
            return False
        if self._ms_contact_email(deal, raced=True):
            self.figures.emails_racing += 1
        return True

    def op_contacts_both(self) -> bool:
        """Both sides change the contacts at once: the seller edits the deal's contact and
        Microsoft adds another before cosell has synced either (merged person by person)."""
        deal = self._deal({"open"}, need_opportunity=True)
        if deal is None or not self._contact_edit(deal):
            return False
        if self._contact_add(deal):
            self.figures.racing += 1
        return True

    def _stage(self, deal: Deal, outcome: str, state: str) -> bool:
        if deal.opportunity_id is None or not self.crm.stage(deal.opportunity_id, outcome):
            return False
        deal.state = state
        return True

    def op_accept(self) -> bool:
        deal = self._deal({"on_hold"}, need_opportunity=True)
        return deal is not None and self._stage(deal, "active", "open")

    def op_decline(self) -> bool:
        deal = self._deal({"on_hold"}, need_opportunity=True)
        return deal is not None and self._stage(deal, "declined", "declined")

    def op_close(self) -> bool:
        deal = self._deal({"open"}, need_opportunity=True)
        if deal is None or (deal.origin == "crm" and not self._referral(deal)):
            return False
        if self.rng.random() < 0.5:
            return self._stage(deal, "won", "won")
        return self._stage(deal, "lost", "lost")

    def _referral(self, deal: Deal) -> str | None:
        """The referral of a seller's opportunity, once cosell made it (read from the CRM)."""
        if deal.referral_id is None and deal.opportunity_id is not None:
            deal.referral_id = self.crm.referral_of(deal.opportunity_id)
        return deal.referral_id

    def op_delete(self) -> bool:
        deal = self._deal({"open", "won", "lost", "declined"}, need_opportunity=True)
        if deal is None or deal.opportunity_id is None:
            return False
        if deal.origin == "crm" and not self._referral(deal):
            return False
        if not self.crm.delete(deal.opportunity_id):
            return False
        deal.state = "deleted"
        return True


# --- the check ----------------------------------------------------------------------------------


@dataclass
class Outcome:
    pairs: int = 0
    converged: int = 0
    parked: list[str] = field(default_factory=list)
    disagreeing: list[str] = field(default_factory=list)
    duplicates: list[str] = field(default_factory=list)
    lost_updates: list[str] = field(default_factory=list)
    unpaired: list[str] = field(default_factory=list)
    deleted: int = 0
    made_again: list[str] = field(default_factory=list)
    """Referrals whose opportunity the seller deleted and which hold another one now."""

    @property
    def ok(self) -> bool:
        return not (
            self.disagreeing
            or self.duplicates
            or self.lost_updates
            or self.unpaired
            or self.made_again
        )


OPP_FIELDS = (
    "Id, Name, Amount, Description, StageName, Referral_Identifier__c, Co_sell_Sync_Error__c"
)


def status_pair(referral: dict[str, Any]) -> tuple[str, str]:
    return str(referral.get("status")), str(referral.get("substatus"))


def number(value: Any) -> float | None:
    return None if value in (None, "") else round(float(value), 2)


def text(value: Any) -> str:
    return str(value or "").strip()


def check(sides: Sides, deals: list[Deal] | None, window: float) -> Outcome:
    """Both emulators read through their APIs; the deals (if given) are the oracle."""
    out = Outcome()
    referrals = {str(r["id"]): r for r in sides.referrals()}
    opportunities = sides.driver.opportunities()
    by_referral: dict[str, list[Opp]] = {}
    for opp in opportunities:
        if opp.referral_id:
            by_referral.setdefault(opp.referral_id, []).append(opp)
    by_external: dict[str, list[str]] = {}
    for referral in referrals.values():
        if referral.get("externalReferenceId"):
            by_external.setdefault(str(referral["externalReferenceId"]), []).append(
                str(referral["id"])
            )
    out.duplicates += [
        f"referral {r}: {len(o)} opportunities" for r, o in by_referral.items() if len(o) > 1
    ]
    out.duplicates += [
        f"opportunity {o}: {len(r)} referrals" for o, r in by_external.items() if len(r) > 1
    ]
    out.duplicates += duplicate_people(sides.driver.contact_emails())
    known = {d.opportunity_id: d for d in deals or [] if d.opportunity_id}
    for referral_id, referral in sorted(referrals.items()):
        opps = by_referral.get(referral_id, [])
        deal = next((d for d in deals or [] if d.referral_id == referral_id), None)
        if deal is None and referral.get("externalReferenceId") in known:
            deal = known[str(referral["externalReferenceId"])]
        if deal is not None and deal.state == "deleted":
            out.deleted += 1
            out.made_again += [
                f"referral {referral_id}: opportunity {deal.opportunity_id} deleted, {o.id} made"
                for o in opps
                if o.id != deal.opportunity_id
            ]
            continue
        if not opps:
            if deal is not None or deals is None:
                closed = referral.get("status") == "Closed"
                label = f"referral {referral_id} ({status_pair(referral)}) has no opportunity"
                (out.parked if closed else out.unpaired).append(label)
            continue
        out.pairs += 1
        opp = opps[0]
        problems = compare(referral, opp)
        if deal is not None:
            out.lost_updates += lost(deal, referral, opp, window)
        if not problems:
            out.converged += 1
        elif opp.error:
            out.parked.append(f"{referral_id}: {'; '.join(problems)} — {opp.error}")
        else:
            out.disagreeing.append(f"{referral_id} ↔ {opp.id}: {'; '.join(problems)}")
    if deals is not None:
        paired = {d.opportunity_id for d in deals if d.referral_id}
        for deal in deals:
            mine = deal.origin == "crm" and deal.state != "deleted" and deal.opportunity_id
            if (
                mine
                and deal.opportunity_id not in by_external
                and deal.opportunity_id not in paired
            ):
                found = next((o for o in opportunities if o.id == deal.opportunity_id), None)
                reason = found.error if found is not None else None
                label = f"opportunity {deal.opportunity_id} has no referral"
                (out.parked if reason else out.unpaired).append(
                    f"{label} — {reason}" if reason else label
                )
    return out


def compare(referral: dict[str, Any], opp: Opp) -> list[str]:
    """The harness's own reading of the default mapping for the fields it writes."""
    details = referral.get("details") or {}
    problems = []
    if text(referral.get("name")) != text(opp.name):
        problems.append(f"name {referral.get('name')!r} ≠ {opp.name!r}")
    if number(details.get("dealValue")) != number(opp.amount):
        problems.append(f"amount {details.get('dealValue')!r} ≠ {opp.amount!r}")
    if text(details.get("notes")) != text(opp.notes):
        problems.append(f"notes {details.get('notes')!r} ≠ {opp.notes!r}")
    stage = STAGES.get(status_pair(referral))
    if stage != opp.stage and not (stage == "active" and opp.stage == "open"):
        problems.append(f"stage {status_pair(referral)} ≠ {opp.stage_label!r}")
    team = team_emails(referral)
    if team != opp.emails:
        problems.append(f"team {list(team)} ≠ contacts {list(opp.emails)}")
    return problems


OWN_CONTACT = re.compile(r"^(?:buyer|bo)(\d+)[.@]")
"""A deal's own contact's email, whoever last wrote it: ``bo<n>@`` (shared by Microsoft),
``buyer<n>@`` (made by the seller), ``buyer<n>.<…>@`` (either side's correction)."""


def duplicate_people(contact_emails: Iterable[str]) -> list[str]:
    """Deals whose one contact is more than one contact in the CRM: every correction of its
    email, on either side, is of that one person (a contact made beside it is a duplicate even
    when it is on no opportunity)."""
    people: dict[str, list[str]] = {}
    for email in contact_emails:
        if found := OWN_CONTACT.match(email.lower()):
            people.setdefault(found.group(1), []).append(email.lower())
    return [
        f"deal {n}'s contact is {len(found)} contacts in the CRM: {', '.join(sorted(found))}"
        for n, found in sorted(people.items(), key=lambda item: int(item[0]))
        if len(found) > 1
    ]


def emails(found: Iterable[Any]) -> tuple[str, ...]:
    """Emails as the checker compares them: lower-case, sorted, empty ones left out."""
    return tuple(sorted({str(e).lower() for e in found if e}))


def team_emails(referral: dict[str, Any]) -> tuple[str, ...]:
    team = (referral.get("customerProfile") or {}).get("team") or []
    return emails(member.get("email") for member in team)


def lost(deal: Deal, referral: dict[str, Any], opp: Opp, window: float) -> list[str]:
    details = referral.get("details") or {}
    held = {
        "amount": (number(details.get("dealValue")), number(opp.amount)),
        "notes": (text(details.get("notes")), text(opp.notes)),
        "email": (
            tuple(e for e in team_emails(referral) if e not in deal.added),
            tuple(e for e in opp.emails if e not in deal.added),
        ),
    }
    out = []
    for email in sorted(deal.added):
        if email not in team_emails(referral) or email not in opp.emails:
            out.append(
                f"{deal.referral_id} contact {email} Microsoft added: Partner Center "
                f"{team_emails(referral)!r}, CRM {opp.emails!r}"
            )
    for name in FIELDS:
        allowed = deal.allowed(name, window)
        if not allowed:
            continue
        norm = [_normal(name, v) for v in allowed]
        pc_value, crm_value = held[name]
        if pc_value not in norm or crm_value not in norm:
            out.append(
                f"{deal.referral_id} {name}: last written {norm[0]!r}, "
                f"Partner Center {pc_value!r}, CRM {crm_value!r} ({deal.history(name)})"
            )
    return out


def _normal(name: str, value: Any) -> Any:
    """A written value as the checker holds it (an email: the contacts it leaves)."""
    if name == "amount":
        return number(value)
    if name == "email":
        return emails([value])
    return text(value)


def write_routes(sides: Sides) -> dict[str, int]:
    pc, sf = sides.written()
    routes = {}
    for side, written in (("Partner Center", pc), (sides.driver.name, sf)):
        for route, n in written.items():
            routes[f"{side}: {route}"] = n
    return routes


LAST_WRITES: dict[str, int] = {}
"""The write routes that moved while the soak waited for quiet (printed when it never came)."""


QUIET = 10.0
"""Seconds without a write on either emulator that count as quiet."""


def quiet(sides: Sides, deadline: float, window: float = QUIET) -> bool:
    """True once neither emulator has seen a write for ``window`` seconds; False when writes
    went on for ``deadline`` seconds."""
    last, since = write_routes(sides), time.monotonic()
    end = time.monotonic() + deadline
    while time.monotonic() < end:
        time.sleep(0.5)
        now = write_routes(sides)
        if now != last:
            moved = {k: v - last.get(k, 0) for k, v in now.items() if v != last.get(k, 0)}
            for route, count in moved.items():
                LAST_WRITES[route] = LAST_WRITES.get(route, 0) + count
            last, since = now, time.monotonic()
        elif time.monotonic() - since >= window:
            return True
    return False


def settle(
    sides: Sides, deals: list[Deal], window: float, deadline: float
) -> tuple[float, bool, Outcome]:
    """Wait until the sides are quiet and agree, or ``deadline`` seconds have passed; returns
    the seconds waited, whether the writes stopped, and the last check."""
    started = time.monotonic()
    end = started + deadline
    while True:
        LAST_WRITES.clear()
        stopped = quiet(sides, max(end - time.monotonic(), QUIET + 5.0), QUIET)
        outcome = check(sides, deals, window)
        if (stopped and outcome.ok) or time.monotonic() >= end:
            return time.monotonic() - started, stopped, outcome
        time.sleep(min(5.0, max(end - time.monotonic(), 0.0)))


def verify_counts(manifest: dict[str, Any]) -> str:
    """``cosell verify --no-repair --json``: every mapped field of every linked pair."""
    env = {k: v for k, v in os.environ.items() if not k.startswith("COSELL_")}
    command = [sys.executable, "-m", "cosell", "verify", "--no-repair", "--json"]
    command += ["--config", manifest["config_file"]]
    done = subprocess.run(
        command, capture_output=True, env={**env, **manifest["env"]}, timeout=600, check=False
    )
    try:
        pairs = json.loads(done.stdout)["pairs"]
    except (ValueError, KeyError):
        return f"could not run (exit {done.returncode}): {done.stderr.decode()[-300:]}"
    states: dict[str, int] = {}
    for pair in pairs:
        states[pair["state"]] = states.get(pair["state"], 0) + 1
    drift = [
        f"{p['referral_id']}: {', '.join(d['field'] for d in p['drift'])}"
        for p in pairs
        if p["drift"]
    ]
    listed = "".join(f"\n    drift {line}" for line in drift[:20])
    return f"exit {done.returncode}, {json.dumps(states, sort_keys=True)}{listed}"


# --- main ---------------------------------------------------------------------------------------


def soak(args: argparse.Namespace, workdir: Path) -> int:
    """The soak, its store in a fresh database on ``--postgres``'s server when given."""
    if args.postgres is None:
        return _soak(args, workdir, None)
    from cosell.store.testing import fresh_postgres_database

    keep = args.keep_database
    with fresh_postgres_database(args.postgres, prefix="cosell_soak", keep=keep) as database:
        if keep:
            print(f"store: {database.rsplit('/', 1)[-1]} (kept)", flush=True)
        return _soak(args, workdir, database)


def _soak(args: argparse.Namespace, workdir: Path, database: str | None) -> int:
    state_dir, log = workdir / "state", workdir / "stack.log"
    sandbox = Sandbox(
        state_dir,
        log,
        env={"COSELL_SERVICE__QUEUE": "procrastinate"} if args.procrastinate else None,
        daily_api_limit=args.sf_daily_limit,
        crm=args.crm,
        database_url=database,
        workers=args.workers,
    )
    started = time.monotonic()
    sandbox.start()
    runner = Soak(sandbox, args)
    try:
        runner.run()
        ops_seconds = time.monotonic() - started
        settled, stopped, outcome = settle(
            runner.sides, runner.deals, args.conflict_window, args.settle_deadline
        )
        pc_written, sf_written = runner.sides.written()
        before = (writes(pc_written), writes(sf_written))
        time.sleep(args.idle)
        pc_after, sf_after = runner.sides.calls()
        pc_written, sf_written = runner.sides.written()
        idle = (writes(pc_written) - before[0], writes(sf_written) - before[1])
        verified = verify_counts(sandbox.manifest) if args.verify else "not run"
    finally:
        runner.sides.close()
        sandbox.stop()
    figures = runner.figures
    harness = runner.sides.harness_calls
    pc_total, crm_total = total(pc_after), total(sf_after)
    crm = runner.crm.name
    ops_done, faults = sum(figures.ops.values()), sum(figures.faults.values())
    seconds = time.monotonic() - started
    lines = [
        f"soak ({crm}): seed {args.seed}, {args.ops} ops, fault rate {args.fault_rate:.2f}, "
        f"kills {args.kills}, rate {f'{args.rate:g} ops/s' if args.rate else 'unpaced'}"
        + (f", procrastinate with {args.workers} cosell worker(s)" if args.procrastinate else ""),
        f"ops done: {ops_done} {json.dumps(figures.ops, sort_keys=True)}",
        f"faults injected: {faults} {json.dumps(figures.faults, sort_keys=True)}"
        f" + {figures.revokes} token revocations (each side)",
        f"kills (SIGKILL + restart): {figures.kills}",
        f"contacts Microsoft added: {figures.added}, {figures.racing} of them right after the "
        "seller's edit of the deal's own",
        f"contact emails both sides corrected at once: {figures.emails_racing}",
        f"pairs: {outcome.pairs}, converged: {outcome.converged}, "
        f"deleted opportunities: {outcome.deleted}",
        f"parked (visible, with reason): {len(outcome.parked)}",
        *[f"    {p}" for p in outcome.parked[:50]],
        f"disagreeing: {len(outcome.disagreeing)}",
        *[f"    {p}" for p in outcome.disagreeing[:50]],
        f"missing a side (no reason shown): {len(outcome.unpaired)}",
        *[f"    {p}" for p in outcome.unpaired[:50]],
        f"duplicates: {len(outcome.duplicates)}",
        *[f"    {p}" for p in outcome.duplicates[:50]],
        f"deleted opportunities made again: {len(outcome.made_again)}",
        *[f"    {p}" for p in outcome.made_again[:50]],
        f"lost updates: {len(outcome.lost_updates)}",
        *[f"    {p}" for p in outcome.lost_updates[:50]],
        f"idle {args.idle:.0f}s writes: Partner Center {idle[0]}, {crm} {idle[1]}",
        f"API calls (connector + harness): Partner Center {pc_total}, {crm} {crm_total};"
        f" the harness's own: Partner Center {harness['partner_center']},"
        f" {crm} {harness['crm'] if crm == 'Salesforce' else '0 (a UI user)'}",
        f"cosell verify --no-repair: {verified}",
        f"duration: ops {ops_seconds:.0f}s, settle {settled:.0f}s, total {seconds:.0f}s",
    ]
    if not stopped:
        moved = json.dumps(LAST_WRITES, sort_keys=True)
        lines.insert(-1, f"NOT QUIET: writes went on for the whole {args.settle_deadline:.0f}s")
        lines.insert(-1, f"    writes while waiting: {moved}")
    passed = outcome.ok and stopped and idle == (0, 0)
    lines.append(f"result: {'PASS' if passed else 'FAIL'}")
    print("\n".join(lines), flush=True)
    return 0 if passed else 1


def parse(argv: list[str] | None = None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--ops", type=int, default=1000)
    parser.add_argument("--fault-rate", type=float, default=0.10)
    parser.add_argument("--kills", type=int, default=1)
    parser.add_argument("--seed", type=int, default=1)
    parser.add_argument("--idle", type=float, default=60.0, help="seconds of the idle check")
    parser.add_argument("--settle-deadline", type=float, default=900.0)
    parser.add_argument("--conflict-window", type=float, default=60.0)
    parser.add_argument(
        "--rate",
        type=float,
        default=0.0,
        help="operations per second (0: as fast as the harness goes, which on two cores "
        "outruns the connector and queues changes for minutes)",
    )
    parser.add_argument("--no-verify", dest="verify", action="store_false")
    parser.add_argument("--progress", action="store_true")
    parser.add_argument(
        "--sf-daily-limit",
        type=int,
        default=SF_DAILY_LIMIT,
        help="the emulated Salesforce org's daily API allowance",
    )
    parser.add_argument("--workdir", type=Path, default=None, help="keep state and logs here")
    parser.add_argument(
        "--crm", choices=("salesforce", "hubspot"), default="salesforce", help="the CRM side"
    )
    parser.add_argument(
        "--postgres",
        metavar="URL",
        help="the store in a fresh database on this PostgreSQL server (default: SQLite)",
    )
    parser.add_argument(
        "--keep-database",
        action="store_true",
        help="with --postgres: leave the database afterwards, to read its audit",
    )
    parser.add_argument(
        "--procrastinate",
        action="store_true",
        help="the scale-out queue: cosell run on procrastinate (needs --postgres)",
    )
    parser.add_argument(
        "--workers",
        type=int,
        default=0,
        help="cosell worker processes beside cosell run (needs --procrastinate); a kill picks"
        " one of them or cosell run",
    )
    parser.add_argument("--database-url", default=None, help=argparse.SUPPRESS)
    parser.add_argument("--serve", type=Path, default=None, help=argparse.SUPPRESS)
    parser.add_argument("--ports", default="", help=argparse.SUPPRESS)
    args = parser.parse_args(argv)
    if args.procrastinate and not args.postgres and args.serve is None:
        parser.error("--procrastinate needs --postgres (the queue lives in the store)")
    if args.workers and not args.procrastinate:
        parser.error("--workers needs --procrastinate")
    return args


def main(argv: list[str] | None = None) -> int:
    args = parse(argv)
    if args.serve is not None and args.crm == "hubspot":
        return serve_hubspot(args.serve, args.ports, args.database_url)
    if args.serve is not None:
        return serve_emulators(args.serve, args.ports, args.sf_daily_limit, args.database_url)
    if args.workdir is not None:
        args.workdir.mkdir(parents=True, exist_ok=True)
        return soak(args, args.workdir)
    with tempfile.TemporaryDirectory(prefix="cosell-soak-") as tmp:
        return soak(args, Path(tmp))


if __name__ == "__main__":
    raise SystemExit(main())
