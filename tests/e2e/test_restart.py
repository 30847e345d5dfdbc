"""A crash between a remote create and the local commit, then a restart on the same state
directory: the referral exists once, and the connector links it instead of creating another."""

from __future__ import annotations

from pathlib import Path

import pytest
from e2e_sandbox import SandboxProcess, running_sandbox
from e2e_sides import CrmSeller, PartnerCenterReader

from cosell.sandbox.crash import CRASH_STATUS
from support.wait import wait_until

pytestmark = pytest.mark.e2e


def test_crash_right_after_the_referral_create_leaves_exactly_one_referral(
    tmp_path: Path,
) -> None:
    state_dir = tmp_path / "state"
    crashing = SandboxProcess(state_dir, "--no-seed", "--crash-after", "referral-create")
    try:
        crm = CrmSeller(crashing.wait_ready())
        opportunity_id = crm.opportunity(Name="Crash: created once")
        crm.close()
        assert crashing.process.wait(60) == CRASH_STATUS
    finally:
        crashing.kill()

    with running_sandbox(state_dir, "--no-seed") as restarted:
        crm, pc = CrmSeller(restarted.manifest), PartnerCenterReader(restarted.manifest)
        try:
            created = pc.for_opportunity(opportunity_id)
            assert len(created) == 1  # the create reached Partner Center before the crash
            soql = f"SELECT Referral_Identifier__c FROM Opportunity WHERE Id = '{opportunity_id}'"  # noqa: S608
            linked = wait_until(
                lambda: crm.query(soql)[0]["Referral_Identifier__c"], what="the link"
            )
            assert linked == created[0]["id"]
            assert [r["id"] for r in pc.for_opportunity(opportunity_id)] == [linked]
            assert len(pc.referrals("direction eq 'Outgoing'")) == 1
        finally:
            crm.close()
            pc.close()
