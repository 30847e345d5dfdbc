"""Changes to an opportunity's related records sync it with no further action, through a running
sandbox: a missing country fixed on the account creates the referral, and a Microsoft Solutions
row a seller adds reaches the referral. Neither edit touches the opportunity itself."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from e2e_lifecycle import Cli, outgoing, queue_idle, record, referral_when, settled
from e2e_sandbox import SETTLE_SECONDS, SandboxProcess, running_sandbox
from e2e_sides import CrmSeller, PartnerCenterReader

from support.wait import wait_until

pytestmark = pytest.mark.e2e
RELATED_POLL = {"COSELL_SYNC__RELATED_POLL_INTERVAL": "1.0"}
"""The related-row poll's idle ceiling, quick like the other signals of these sandboxes."""
RECHECK_AFTER = SETTLE_SECONDS + 1
"""Seconds after which the opportunity poll no longer rechecks a stamp of cosell's own write."""
RELATED_DEADLINE = 45.0
"""A related row is reconciled once its second has settled, after the poll's next look."""


@pytest.fixture(scope="module")
def sandbox(tmp_path_factory: pytest.TempPathFactory) -> Iterator[SandboxProcess]:
    state_dir: Path = tmp_path_factory.mktemp("sandbox") / "state"
    with running_sandbox(state_dir, "--no-seed", env=RELATED_POLL) as running:
        yield running


def quiet(sandbox: SandboxProcess, crm: CrmSeller, opportunity_id: str) -> None:
    """Once the opportunity's last write is older than the poll's recheck of an unsettled second
    and nothing is queued: only a related-row signal can sync it after this."""
    settled(crm, opportunity_id, seconds=RECHECK_AFTER)
    queue_idle(Cli(sandbox))


def solution_ids(referral: dict[str, Any]) -> set[str]:
    return {str(s["id"]) for s in referral["details"]["requirements"]["solutions"]}


def test_a_country_fixed_on_the_account_creates_the_referral(
    sandbox: SandboxProcess, crm: CrmSeller, pc: PartnerCenterReader
) -> None:
    opportunity_id = crm.opportunity(Name="Tailspin: account fixed", country=None)
    reason = wait_until(
        lambda: record(crm, opportunity_id)["Co_sell_Sync_Error__c"], what="the reason shown"
    )
    assert "Account.BillingCountry" in reason
    quiet(sandbox, crm, opportunity_id)

    account_id = crm.get("Opportunity", opportunity_id)["AccountId"]
    crm.update("Account", account_id, BillingCountry="NL")

    linked = wait_until(
        lambda: (r := record(crm, opportunity_id))["Referral_Identifier__c"] and r,
        RELATED_DEADLINE,
        what="the referral created from the fixed account",
    )
    referral = pc.referral(linked["Referral_Identifier__c"])
    assert referral["customerProfile"]["address"]["country"] == "NL"
    assert referral["externalReferenceId"] == opportunity_id
    assert not linked["Co_sell_Sync_Error__c"]
    assert len(pc.for_opportunity(opportunity_id)) == 1


def test_a_solution_row_added_to_a_synced_opportunity_reaches_the_referral(
    sandbox: SandboxProcess, crm: CrmSeller, pc: PartnerCenterReader
) -> None:
    opportunity_id, referral_id = outgoing(crm, Name="Tailspin: new solution", Products__c="SOL-R1")
    assert solution_ids(pc.referral(referral_id)) == {"SOL-R1"}
    quiet(sandbox, crm, opportunity_id)

    row = {"Name": "SOL-R2", "Solution_Id__c": "SOL-R2", "Opportunity__c": opportunity_id}
    crm.create("Microsoft_Solution__c", **row)

    referral = referral_when(
        pc,
        referral_id,
        lambda r: solution_ids(r) == {"SOL-R1", "SOL-R2"},
        "the added solution on the referral",
        RELATED_DEADLINE,
    )
    assert referral["externalReferenceId"] == opportunity_id
