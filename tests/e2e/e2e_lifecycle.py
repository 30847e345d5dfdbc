"""What the lifecycle, conflict, related-record and operations tests share: the ``cosell`` CLI
pointed at a running sandbox, referral bodies a Microsoft seller shares, and waits on either
side's record."""

from __future__ import annotations

import calendar
import json
import subprocess
import sys
import time
from collections.abc import Callable
from typing import Any

from e2e_sandbox import SandboxProcess, cosell_env
from e2e_sides import CrmSeller, MicrosoftSeller, PartnerCenterReader, writes

from support.wait import wait_until

DAY = 86_400
STATUS = "Co_sell_Sync_Status__c"
OPPORTUNITY_FIELDS = (
    "Id, Name, StageName, Amount, CloseDate, Description, Products__c, Loss_Reason__c, "
    "Microsoft_Referral_Visibility__c, Referral_Identifier__c, AccountId, "
    "Co_sell_Sync_Status__c, Co_sell_Sync_Error__c, Audit__c"
)


class Cli:
    """``cosell <command> … --config <the sandbox's cosell.toml>`` as a subprocess, with the
    sandbox's secrets in the environment (plus ``env``)."""

    def __init__(self, sandbox: SandboxProcess, env: dict[str, str] | None = None) -> None:
        self.config = str(sandbox.manifest["config_file"])
        self.env = {**sandbox.manifest["env"], **(env or {})}

    def run(
        self, *args: str, env: dict[str, str] | None = None, timeout: float = 120.0
    ) -> subprocess.CompletedProcess[str]:
        command = [sys.executable, "-m", "cosell", *args, "--config", self.config]
        return subprocess.run(
            command,
            env=cosell_env({**self.env, **(env or {})}),
            capture_output=True,
            text=True,
            timeout=timeout,
            check=False,
        )

    def ok(self, *args: str, env: dict[str, str] | None = None) -> str:
        """Run; assert exit status 0; the standard output."""
        done = self.run(*args, env=env)
        assert done.returncode == 0, f"{args}: {done.returncode}\n{done.stdout}\n{done.stderr}"
        return done.stdout

    def json(self, *args: str) -> Any:
        return json.loads(self.ok(*args, "--json"))


def incoming(name: str, **overrides: Any) -> dict[str, Any]:
    """A co-sell referral a Microsoft seller shares; ``name`` makes it this test's own."""
    slug = "".join(c for c in name.lower() if c.isalnum())[:20]
    return {
        "name": name,
        "customerProfile": {
            "name": f"{name} Customer",
            "address": {"addressLine1": "5 Quay", "city": "Cork", "country": "IE"},
            "team": [{"firstName": "Aoife", "lastName": "Byrne", "email": f"aoife@{slug}.example"}],
        },
        "details": {
            "dealValue": 30000,
            "currency": "EUR",
            "closingDateTime": "2027-06-30T00:00:00Z",
            "requirements": {"solutions": [{"id": "SOL-LC-1", "name": "Lifecycle solution"}]},
        },
        "inviteContext": {"assistanceRequestCode": "ProofOfConceptOrDemo"},
        **overrides,
    }


def record(crm: CrmSeller, opportunity_id: str) -> dict[str, Any]:
    soql = f"SELECT {OPPORTUNITY_FIELDS} FROM Opportunity WHERE Id = '{opportunity_id}'"  # noqa: S608
    return crm.query(soql)[0]


def opportunity_of(crm: CrmSeller, referral_id: str) -> dict[str, Any] | None:
    soql = (
        f"SELECT {OPPORTUNITY_FIELDS} FROM Opportunity "  # noqa: S608
        f"WHERE Referral_Identifier__c = '{referral_id}'"
    )
    rows = crm.query(soql)
    assert len(rows) <= 1, rows
    return rows[0] if rows else None


def imported(crm: CrmSeller, pc: PartnerCenterReader, referral_id: str) -> dict[str, Any]:
    """The opportunity made from a shared referral, once the pair is linked both ways (the
    opportunity id is on the referral) and the record is no longer being written."""
    found = wait_until(lambda: opportunity_of(crm, referral_id), what="the imported opportunity")
    wait_until(
        lambda: pc.referral(referral_id).get("externalReferenceId") == found["Id"],
        what="the opportunity id on the referral",
    )
    return settled(crm, found["Id"])


def outgoing(crm: CrmSeller, **fields: Any) -> tuple[str, str]:
    """A flagged opportunity, once its referral exists: (opportunity id, referral id)."""
    opportunity_id = crm.opportunity(**fields)
    linked = wait_until(
        lambda: (r := record(crm, opportunity_id))["Referral_Identifier__c"] and r,
        what=f"the referral of {opportunity_id}",
    )
    settled(crm, opportunity_id)
    return opportunity_id, str(linked["Referral_Identifier__c"])


def settled(crm: CrmSeller, opportunity_id: str, seconds: int = 2) -> dict[str, Any]:
    """The record once it has not changed for ``seconds`` whole seconds of the org's clock
    (Salesforce stamps to the second: an edit in the second of the connector's own last write
    could not be told apart from it)."""

    def quiet() -> dict[str, Any] | None:
        now = stamp_seconds(crm.now())
        found = crm.get("Opportunity", opportunity_id)
        return found if now - stamp_seconds(found["SystemModstamp"]) >= seconds else None

    return wait_until(quiet, 15.0, 0.2, f"{opportunity_id} to settle")


def stamp_seconds(stamp: str) -> float:
    return calendar.timegm(time.strptime(stamp[:19], "%Y-%m-%dT%H:%M:%S"))


def referral_when(
    pc: PartnerCenterReader,
    referral_id: str,
    check: Callable[[dict[str, Any]], bool],
    what: str,
    deadline: float = 30.0,
) -> dict[str, Any]:
    def probe() -> dict[str, Any] | None:
        found = pc.referral(referral_id)
        return found if check(found) else None

    return wait_until(probe, deadline, what=what)


def record_when(
    crm: CrmSeller,
    opportunity_id: str,
    check: Callable[[dict[str, Any]], bool],
    what: str,
    deadline: float = 30.0,
) -> dict[str, Any]:
    def probe() -> dict[str, Any] | None:
        found = record(crm, opportunity_id)
        return found if check(found) else None

    return wait_until(probe, deadline, what=what)


def accepted(
    microsoft: MicrosoftSeller, crm: CrmSeller, pc: PartnerCenterReader, name: str
) -> tuple[str, str]:
    """A shared referral accepted in the CRM (moved out of on-hold): (referral, opportunity)."""
    referral_id = str(microsoft.share(**incoming(name))["id"])
    opportunity_id = imported(crm, pc, referral_id)["Id"]
    crm.edit("Opportunity", opportunity_id, StageName="Qualification")
    referral_when(pc, referral_id, lambda r: r["status"] == "Active", "the accept")
    settled(crm, opportunity_id)
    return referral_id, opportunity_id


def audit_rows(cli: Cli, record_id: str) -> list[dict[str, Any]]:
    rows: list[dict[str, Any]] = cli.json("audit", record_id)
    return rows


def write_counts(microsoft: MicrosoftSeller, crm: CrmSeller) -> tuple[int, int]:
    """Data writes so far on (Partner Center, Salesforce)."""
    return writes(microsoft.calls()), writes(crm.calls())


def queue_idle(cli: Cli) -> None:
    """Wait until the connector's queue is empty (nothing waiting, nothing leased)."""
    wait_until(
        lambda: cli.json("status", "--offline")["queue_depth"] == 0, 30.0, 0.2, "an empty queue"
    )


def full_pass(cli: Cli) -> str:
    """``cosell sync --once`` once the running service's queue is empty: a pass started while
    the service holds a key's lease waits for that lease until its ``--timeout``."""
    queue_idle(cli)
    return cli.ok("sync", "--once", "--timeout", "60")
