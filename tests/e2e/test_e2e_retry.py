"""``cosell retry ID`` and ``cosell retry --all-failed`` against a running sandbox.

The failure is a person's doing and lasts until a person undoes it: an org validation rule that
refuses every save of the opportunity (even cosell's status write), so Microsoft's change to the
deal value cannot reach the CRM and the referral's key is dead-lettered with the rule's message.
Removing the rule changes neither record, so no webhook, poll or sweep brings the key back: the
test first proves the dead letter stays parked across later polls and sweeps, then retries it
through the CLI and watches the service sync it.
"""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

import httpx
import pytest
from e2e_lifecycle import (
    STATUS,
    Cli,
    audit_rows,
    imported,
    incoming,
    record,
    record_when,
    stamp_seconds,
)
from e2e_sandbox import SETTLE_SECONDS, SandboxProcess
from e2e_sides import CrmSeller, MicrosoftSeller, PartnerCenterReader
from prometheus_client.parser import text_string_to_metric_families

from support.wait import wait_until

pytestmark = pytest.mark.e2e
FROZEN = "Frozen"
RULE = {
    "sobject": "Opportunity",
    "field": "Name",
    "operator": "contains",
    "value": FROZEN,
    "message": "Frozen deals are locked for the quarter-end audit",
}
SETTLED_SECONDS = SETTLE_SECONDS + 2
"""A change feed enqueues a row again on every look until its stamp has settled (then once
more, and never again): past this age, only a new edit would signal the record."""
LOOKS = ("salesforce-poll", "partner-center-sweep")
RUNS = "cosell_signal_runs_total"


@pytest.fixture
def cli(sandbox: SandboxProcess) -> Cli:
    return Cli(sandbox)


class Org:
    """The Salesforce admin: validation rules through the emulator's control surface."""

    def __init__(self, crm: CrmSeller) -> None:
        self.control = crm.control

    def freeze(self) -> None:
        response = self.control.post("/_emulator/validation-rules", json=RULE)
        assert response.status_code == 201, response.text

    def thaw(self) -> None:
        self.control.delete("/_emulator/validation-rules").raise_for_status()
        assert self.control.get("/_emulator/validation-rules").json()["rules"] == []


@pytest.fixture
def org(crm: CrmSeller) -> Iterator[Org]:
    admin = Org(crm)
    yield admin
    admin.thaw()


def report(cli: Cli) -> dict[str, Any]:
    found: dict[str, Any] = cli.json("status", "--offline")
    return found


class Service:
    """The running service as an operator's monitoring sees it: its Prometheus metrics (cheap
    to read often, unlike a ``cosell status`` process)."""

    def __init__(self, sandbox: SandboxProcess) -> None:
        self.url = str(sandbox.manifest["connector"]["metrics_url"])
        self.tenant = "sandbox"  # the sandbox's [tenant] name: every sample carries it
        self.dashboard = str(sandbox.manifest["connector"]["status_url"])

    def samples(self) -> dict[tuple[str, tuple[tuple[str, str], ...]], float]:
        text = httpx.get(self.url, timeout=30.0).text
        return {
            (s.name, tuple(sorted(s.labels.items()))): s.value
            for family in text_string_to_metric_families(text)
            for s in family.samples
        }

    def idle_with(self, dead: int) -> bool:
        """Nothing queued (nor due later) and ``dead`` keys parked as dead letters."""
        found = self.samples()
        mine = (("tenant", self.tenant),)
        depth, parked = found[("cosell_queue_depth", mine)], found[("cosell_dead_letters", mine)]
        return depth == 0 and parked == dead

    def looks(self) -> tuple[float, ...]:
        """Rounds so far of each signal loop (any outcome)."""
        found = self.samples()
        runs = [(dict(labels)["signal"], v) for (name, labels), v in found.items() if name == RUNS]
        return tuple(sum(v for signal, v in runs if signal == s) for s in LOOKS)

    def shows_dead_letter(self, key: str, reason: str) -> bool:
        """The dashboard lists the dead letter ``key`` with its ``reason``."""
        page = httpx.get(self.dashboard, timeout=30.0)
        assert page.status_code == 200, page.text
        return key in page.text and reason in page.text

    def looked_again(self) -> None:
        """Wait for two more rounds of each loop: the second started after this call."""
        before = self.looks()
        wait_until(
            lambda: all(n >= b + 2 for n, b in zip(self.looks(), before, strict=True)),
            30.0,
            0.1,
            "two more polls and sweeps",
        )


@pytest.fixture
def service(sandbox: SandboxProcess) -> Service:
    return Service(sandbox)


def quiet(microsoft: MicrosoftSeller, service: Service, referral_ids: list[str]) -> None:
    """Every webhook about the referrals delivered, and nothing queued or due later (a poll
    row in an unsettled second is queued for a recheck once it settles)."""

    def delivered() -> bool:
        states = [d["state"] for d in microsoft.deliveries() if d["referral_id"] in referral_ids]
        return bool(states) and set(states) == {"delivered"}

    wait_until(delivered, what="the webhooks about the referrals")
    wait_until(lambda: service.idle_with(0), 30.0, 0.1, "an empty queue, no dead letter")


def pc_seconds(microsoft: MicrosoftSeller) -> float:
    return stamp_seconds(str(microsoft.http.get("/_emulator/clock").json()["now"]))


def frozen_pair(
    microsoft: MicrosoftSeller, crm: CrmSeller, pc: PartnerCenterReader, name: str
) -> tuple[str, str]:
    """A referral Microsoft shared, imported: (referral id, opportunity id)."""
    referral_id = str(microsoft.share(**incoming(f"{FROZEN}: {name}"))["id"])
    opportunity = imported(crm, pc, referral_id)
    assert opportunity["Amount"] == 30000
    return referral_id, str(opportunity["Id"])


def refused(
    microsoft: MicrosoftSeller,
    pc: PartnerCenterReader,
    service: Service,
    referral_ids: list[str],
) -> None:
    """Microsoft raises each deal value; wait until each refusal is a dead letter that no
    signal is left to run again: the referrals' last change has settled for the sweep, and
    polls and sweeps ran since."""
    for referral_id in referral_ids:
        microsoft.change(referral_id, details={"dealValue": 41000})
    dead = len(referral_ids)
    wait_until(lambda: service.idle_with(dead), 30.0, 0.1, f"{dead} dead letters")
    latest = max(stamp_seconds(pc.referral(i)["updatedDateTime"]) for i in referral_ids)
    wait_until(
        lambda: pc_seconds(microsoft) - latest >= SETTLED_SECONDS,
        SETTLED_SECONDS + 10.0,
        0.2,
        "the referrals' last change to settle",
    )
    service.looked_again()
    assert service.idle_with(dead), service.samples()


def still_refused(crm: CrmSeller, opportunity_id: str) -> None:
    unchanged = record(crm, opportunity_id)
    assert unchanged["Amount"] == 30000
    assert FROZEN in unchanged["Name"]


def synced(crm: CrmSeller, opportunity_id: str) -> dict[str, Any]:
    """The opportunity once Microsoft's deal value is on it and its status says synced."""
    return record_when(
        crm,
        opportunity_id,
        lambda r: r["Amount"] == 41000 and str(r[STATUS] or "").startswith("✔"),
        "Microsoft's deal value, synced",
    )


def test_retry_of_one_record_fails_again_until_the_cause_is_fixed_then_syncs_it(
    microsoft: MicrosoftSeller,
    crm: CrmSeller,
    pc: PartnerCenterReader,
    cli: Cli,
    org: Org,
    service: Service,
) -> None:
    referral_id, opportunity_id = frozen_pair(microsoft, crm, pc, "retry one")
    quiet(microsoft, service, [referral_id])
    org.freeze()
    refused(microsoft, pc, service, [referral_id])
    assert report(cli)["dead_letters"] == 1
    assert service.shows_dead_letter(f"referral:{referral_id}", str(RULE["message"]))
    still_refused(crm, opportunity_id)
    while_refused = cli.ok("retry", f"referral:{referral_id}")  # by its queue key
    assert while_refused.splitlines() == [f"requeued referral:{referral_id}", "1 requeued"]
    wait_until(lambda: service.idle_with(1), 30.0, 0.1, "the same refusal, parked again")
    still_refused(crm, opportunity_id)

    org.thaw()
    service.looked_again()  # the fix is no signal: the dead letter stays parked
    assert service.idle_with(1), service.samples()
    still_refused(crm, opportunity_id)

    shown = cli.ok("retry", opportunity_id)

    assert shown.splitlines() == [f"requeued referral:{referral_id}", "1 requeued"]
    assert report(cli)["dead_letters"] == 0
    opportunity = synced(crm, opportunity_id)
    assert not opportunity["Co_sell_Sync_Error__c"]
    wait_until(lambda: service.idle_with(0), 30.0, 0.1, "nothing queued, no dead letter")
    history = audit_rows(cli, opportunity_id)
    values = [r for r in history if r["field"] == "deal_value"]
    assert [(float(r["old"]), float(r["new"]), r["outcome"]) for r in values] == [
        (30000, 41000, "synced")
    ]
    assert values[0]["direction"] == "to_crm"
    assert any(f"created from referral {referral_id}" in r["message"] for r in history)
    again = cli.run("retry", referral_id)
    assert again.returncode == 1
    assert f"no dead letter for {referral_id}" in again.stderr


def test_retry_all_failed_requeues_every_dead_letter(
    microsoft: MicrosoftSeller,
    crm: CrmSeller,
    pc: PartnerCenterReader,
    cli: Cli,
    org: Org,
    service: Service,
) -> None:
    pairs = [frozen_pair(microsoft, crm, pc, f"retry all {n}") for n in (1, 2)]
    referral_ids = [referral for referral, _ in pairs]
    quiet(microsoft, service, referral_ids)
    org.freeze()
    refused(microsoft, pc, service, referral_ids)
    org.thaw()
    service.looked_again()
    assert service.idle_with(2), service.samples()

    shown = cli.ok("retry", "--all-failed").splitlines()

    assert sorted(shown[:-1]) == sorted(f"requeued referral:{r}" for r in referral_ids)
    assert shown[-1] == "2 requeued"
    for _, opportunity_id in pairs:
        synced(crm, opportunity_id)
    wait_until(lambda: service.idle_with(0), 30.0, 0.1, "nothing queued, no dead letter")
    assert report(cli)["dead_letters"] == 0
