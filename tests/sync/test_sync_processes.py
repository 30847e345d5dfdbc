"""``cosell sync`` in several processes (``sync.backfill_processes``), run as a user runs it.

Each test runs the command as a process against both emulators served on loopback, and reads
the result from the emulators' own APIs: every referral ends with one opportunity naming it,
every customer with one account, every flagged opportunity with one referral naming it; killed
processes leave nothing running and nothing half-done that the next pass does not finish.
"""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import threading
from collections import Counter
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import httpx
import pytest

from cosell.cli.common import CommandDeps
from cosell.cli.sync_shards import backfill_processes
from cosell.clients.connect import partner_center_client, salesforce_client
from cosell.clock import SystemClock
from cosell.emulators.partner_center import PartnerCenterEmulatorConfig
from cosell.emulators.partner_center import create_app as partner_center_app
from cosell.emulators.salesforce import SalesforceEmulatorConfig
from cosell.emulators.salesforce import create_app as salesforce_app
from cosell.sandbox import connector
from cosell.sandbox.emulators import Emulators
from cosell.sandbox.servers import ServedApp, bind
from cosell.settings import Settings
from cosell.store.sql import Store
from cosell.sync.engine.backfill import Checkpoint, Shard
from support.wait import wait_until

CUSTOMERS = 40
PER_CUSTOMER = 3


@dataclass
class Served:
    emulators: Emulators
    config_file: Path
    env: dict[str, str]
    settings: Settings

    def sync(self, processes: int = 2, **kw: Any) -> subprocess.Popen[str]:
        env = {k: v for k, v in os.environ.items() if not k.startswith("COSELL_")}
        env |= self.env | {"COSELL_SYNC__BACKFILL_PROCESSES": str(processes)}
        command = [sys.executable, "-m", "cosell", "sync", "--config", str(self.config_file)]
        return subprocess.Popen(
            command, env=env, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True, **kw
        )

    def share(self, customers: int, per_customer: int) -> None:
        """Referrals shared with us, ``per_customer`` for each customer."""
        emulator = self.emulators.pc_app.state.emulator
        for c in range(customers):
            for n in range(per_customer):
                body = {
                    "name": f"Deal {n} of customer {c}",
                    "type": "Shared",
                    "customerProfile": {
                        "name": f"Customer {_word(c)} Ltd",
                        "address": {"city": "Austin", "country": "US"},
                        "team": [{"firstName": "Bo", "lastName": "Ng", "email": f"bo{c}@x.test"}],
                    },
                    "details": {
                        "dealValue": 1000 + n,
                        "currency": "USD",
                        "closingDateTime": "2027-12-31T00:00:00Z",
                    },
                }
                with emulator.lock:
                    emulator.referrals.share_incoming(body)

    def flag(self, count: int) -> list[str]:
        """Flagged opportunities ready for co-sell (an account with its country, a contact
        with an email in a role, a solution), each of an account of its own; their ids."""
        with connector.opened_clients() as http:
            sf = salesforce_client(self.settings, SystemClock(), http)
            accounts = _made(
                sf.create_many(
                    "Account",
                    [
                        {"Name": f"Flagged {_word(n)} Inc", "BillingCountry": "US"}
                        for n in range(count)
                    ],
                )
            )
            opportunities = _made(
                sf.create_many(
                    "Opportunity",
                    [
                        {
                            "Name": f"Flagged opportunity {n}",
                            "AccountId": account,
                            "StageName": "Prospecting",
                            "CloseDate": "2027-12-31",
                            "Amount": 2000 + n,
                            "CurrencyIsoCode": "USD",
                            "How_can_Microsoft_help__c": "Proof of concept or demo",
                            "Products__c": "SOL-FLAGGED",
                            "Sync_with_Partner_Center__c": True,
                        }
                        for n, account in enumerate(accounts)
                    ],
                )
            )
            contacts = _made(
                sf.create_many(
                    "Contact",
                    [
                        {"AccountId": a, "LastName": f"Buyer{n}", "Email": f"buyer{n}@x.test"}
                        for n, a in enumerate(accounts)
                    ],
                )
            )
            roles = [
                {"OpportunityId": o, "ContactId": c, "Role": "Decision Maker"}
                for o, c in zip(opportunities, contacts, strict=True)
            ]
            _made(sf.create_many("OpportunityContactRole", roles))
            return opportunities

    def read_back(self) -> tuple[list[Any], list[dict[str, Any]], list[dict[str, Any]]]:
        """Every referral, opportunity and account, read through the emulators' APIs."""
        with connector.opened_clients() as http:
            pc = partner_center_client(self.settings, SystemClock(), http)
            sf = salesforce_client(self.settings, SystemClock(), http)
            referrals = list(pc.list_referrals())
            opportunities = [
                dict(r) for r in sf.query("SELECT Id, Referral_Identifier__c FROM Opportunity")
            ]
            accounts = [dict(r) for r in sf.query("SELECT Id, Name FROM Account")]
        return referrals, opportunities, accounts

    def opportunities(self) -> int:
        with connector.opened_clients() as http:
            sf = salesforce_client(self.settings, SystemClock(), http)
            return len(
                list(sf.query("SELECT Id FROM Opportunity WHERE Referral_Identifier__c != null"))
            )


def _made(results: list[Any]) -> list[str]:
    assert all(r.success for r in results), [r.errors for r in results if not r.success]
    return [str(r.id) for r in results]


def _word(n: int) -> str:
    """A made-up word per number: customers whose names share no word (no fuzzy matches)."""
    letters = "bcdfghjklmnpqrstvwxz"
    return "".join(letters[(n // 20**i) % 20] + "aeiou"[(n + i) % 5] for i in range(3)).title()


@pytest.fixture
def served(tmp_path: Path) -> Iterator[Served]:
    pc_served, sf_served = ServedApp("partner-center", bind(0)), ServedApp("salesforce", bind(0))
    pc_config = PartnerCenterEmulatorConfig(public_url=pc_served.url)
    sf_config = SalesforceEmulatorConfig(public_url=sf_served.url)
    pc_app, sf_app = partner_center_app(pc_config), salesforce_app(sf_config)
    pc_served.start(pc_app)
    sf_served.start(sf_app)
    emulators = Emulators(pc_served, sf_served, pc_config, sf_config, pc_app, sf_app, False)
    try:
        data = connector.config_data(emulators, tmp_path, 0)
        secrets = connector.secret_env(emulators)
        settings = connector.build_settings(data, secrets)
        connector.set_up_salesforce(settings)
        config_file = tmp_path / connector.CONFIG_FILE
        connector.write_config(config_file, data)
        yield Served(emulators, config_file, secrets, settings)
    finally:
        emulators.stop()


def assert_converged(served: Served, flagged: list[str]) -> None:
    """One opportunity per referral, naming it; one account per customer; one referral per
    flagged opportunity, naming it."""
    referrals, opportunities, accounts = served.read_back()
    shared = [r for r in referrals if r.external_reference_id not in flagged]
    named = Counter(o["Referral_Identifier__c"] for o in opportunities)
    assert {r.id for r in referrals} <= set(named), "a referral has no opportunity"
    assert [i for i, n in named.items() if n > 1] == [], "a referral has two opportunities"
    by_customer = Counter(a["Name"] for a in accounts)
    assert [name for name, n in by_customer.items() if n > 1] == [], "a customer has two accounts"
    assert len(shared) == CUSTOMERS * PER_CUSTOMER
    made_for = Counter(r.external_reference_id for r in referrals if r.external_reference_id)
    assert all(made_for[i] == 1 for i in flagged), made_for


def cursors(served: Served) -> dict[str, Checkpoint | None]:
    store = Store.open(served.settings.database_url, clock=SystemClock())
    try:
        tenant = store.ensure_tenant(served.settings.tenant.name)
        return {
            shard.cursor: Checkpoint.loads(store.get_cursor(tenant, shard.cursor))
            for shard in Shard.all_of(2)
        }
    finally:
        store.close()


def test_a_pass_in_two_processes_makes_one_of_everything(served: Served) -> None:
    served.share(CUSTOMERS, PER_CUSTOMER)
    flagged = served.flag(10)
    process = served.sync()
    out, _ = process.communicate(timeout=300)
    assert process.returncode == 0, out
    records = CUSTOMERS * PER_CUSTOMER + len(flagged)
    assert f"{records} records in this run" in out
    assert f"records: {records}, synced: {records}, failed: 0" in out
    assert f"verified pairs: {records}, agrees: {records}, " in out
    assert_converged(served, flagged)
    done = cursors(served)
    assert all(c is not None and c.finished for c in done.values()), done  # both shards ran


def test_a_killed_pass_leaves_no_shard_running_and_the_next_one_finishes_it(
    served: Served,
) -> None:
    served.share(CUSTOMERS * 5, PER_CUSTOMER)  # long enough to be killed half-way
    process = served.sync()
    child = wait_until(lambda: _children(process.pid), timeout=30, what="the shard's process")[0]
    wait_until(served.opportunities, timeout=60, what="the first opportunities")
    process.send_signal(signal.SIGKILL)
    process.communicate(timeout=30)
    wait_until(lambda: _ended(child), timeout=30, what=f"shard process {child} to end")
    assert served.opportunities() < CUSTOMERS * 5 * PER_CUSTOMER, "killed too late"

    again = served.sync()
    out, _ = again.communicate(timeout=300)
    assert again.returncode == 0, out
    assert "resumed an interrupted pass" in out
    referrals, opportunities, _ = served.read_back()
    named = Counter(o["Referral_Identifier__c"] for o in opportunities)
    assert len(referrals) == len(named) == CUSTOMERS * 5 * PER_CUSTOMER
    assert max(named.values()) == 1


def test_a_shard_whose_process_dies_fails_the_pass_with_its_reason_and_is_resumed(
    served: Served,
) -> None:
    served.share(CUSTOMERS * 5, PER_CUSTOMER)
    process = served.sync()
    child = wait_until(lambda: _children(process.pid), timeout=30, what="the shard's process")[0]
    wait_until(served.opportunities, timeout=60, what="the first opportunities")
    os.kill(child, signal.SIGKILL)
    out, _ = process.communicate(timeout=300)
    assert process.returncode == 1, out
    assert "shard 2 of 2: ended with exit status -9" in out

    again = served.sync()
    out, _ = again.communicate(timeout=300)
    assert again.returncode == 0, out
    referrals, opportunities, _ = served.read_back()
    named = Counter(o["Referral_Identifier__c"] for o in opportunities)
    assert len(referrals) == len(named) == CUSTOMERS * 5 * PER_CUSTOMER
    assert max(named.values()) == 1


def test_one_process_when_asked_for_one(served: Served) -> None:
    served.share(CUSTOMERS, 1)
    process = served.sync(processes=1)
    out, _ = process.communicate(timeout=300)
    assert process.returncode == 0, out
    assert all(c is None for c in cursors(served).values())  # the lone pass's cursor only


def _children(pid: int) -> list[int]:
    found: list[int] = []
    for task in Path(f"/proc/{pid}/task").glob("*"):
        try:
            found += [int(child) for child in (task / "children").read_text().split()]
        except OSError:
            continue
    return found


def _ended(pid: int) -> bool:
    """Gone, or a zombie nobody reaped yet (it runs no more)."""
    try:
        status = Path(f"/proc/{pid}/status").read_text()
    except OSError:
        return True
    return "State:\tZ" in status


def test_one_process_on_hubspot_with_a_test_s_http_or_beside_other_threads(
    served: Served, monkeypatch: pytest.MonkeyPatch
) -> None:
    settings = served.settings
    hubspot = settings.model_copy(
        update={"sync": settings.sync.model_copy(update={"crm": "hubspot"})}
    )
    alone = CommandDeps()
    monkeypatch.setattr(threading, "active_count", lambda: 1)
    assert backfill_processes(settings, alone) == 2
    assert backfill_processes(hubspot, alone) == 1
    assert backfill_processes(settings, CommandDeps(http=_own_http)) == 1
    monkeypatch.setattr(threading, "active_count", lambda: 3)
    assert backfill_processes(settings, alone) == 1


def _own_http(base_url: str, auth: httpx.Auth | None) -> httpx.Client:
    """A test's own HTTP factory (the command's children could not use what it gives)."""
    return httpx.Client(base_url=base_url, auth=auth)
