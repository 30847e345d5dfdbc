"""Conflicts through a running sandbox whose mapping leaves the deal value to a person
(``owner: manual``): a field both sides changed goes to its owner (the loser audited), and the
manual one is parked, listed by ``cosell conflicts``, and applied to both sides once
``cosell conflicts resolve`` records the choice."""

from __future__ import annotations

from collections.abc import Callable, Iterator
from typing import Any

import pytest
from e2e_lifecycle import Cli, audit_rows, outgoing, record_when
from e2e_sandbox import SandboxProcess, running_sandbox
from e2e_sides import CrmSeller, MicrosoftSeller, PartnerCenterReader

from cosell.sync.core.mapping import default_mapping_text
from support.wait import wait_until

pytestmark = pytest.mark.e2e
OWNED_BY_CRM = "crm: Amount\n    transform: decimal\n    owner: crm"
MANUAL = "crm: Amount\n    transform: decimal\n    owner: manual"


@pytest.fixture(scope="module")
def sandbox(tmp_path_factory: pytest.TempPathFactory) -> Iterator[SandboxProcess]:
    root = tmp_path_factory.mktemp("conflicts")
    text = default_mapping_text()
    assert OWNED_BY_CRM in text
    mapping = root / "mapping.yaml"
    mapping.write_text(text.replace(OWNED_BY_CRM, MANUAL), encoding="utf-8")
    env = {"COSELL_SYNC__MAPPING_FILE": str(mapping)}
    with running_sandbox(root / "state", "--no-seed", env=env) as running:
        yield running


def listed_when(
    pc: PartnerCenterReader, referral_id: str, check: Callable[[dict[str, Any]], bool], what: str
) -> dict[str, Any]:
    """The referral read through the list (the connector's reads of it by id are throttled)."""

    def probe() -> dict[str, Any] | None:
        [found] = pc.referrals(f"id eq '{referral_id}'")
        return found if check(found) else None

    return wait_until(probe, 30.0, what=what)


def both_change(
    microsoft: MicrosoftSeller,
    crm: CrmSeller,
    ids: tuple[str, str],
    details: dict[str, Any],
    **fields: Any,
) -> None:
    """Microsoft and the seller edit the pair before the connector reads the referral again:
    its reads of this referral are throttled for a few seconds meanwhile."""
    opportunity_id, referral_id = ids
    path = f"/v1.0/engagements/referrals/{referral_id}"
    microsoft.fault("throttle", params={"retry_after": 1}, method="GET", path=path, count=3)
    crm.edit("Opportunity", opportunity_id, **fields)
    microsoft.change(referral_id, details=details)


def test_the_owner_wins_and_the_losing_value_is_audited(
    microsoft: MicrosoftSeller, crm: CrmSeller, pc: PartnerCenterReader, sandbox: SandboxProcess
) -> None:
    ids = outgoing(crm, Name="Conflict: notes", Description="first draft")
    opportunity_id, referral_id = ids
    both_change(microsoft, crm, ids, {"notes": "from Microsoft"}, Description="from the seller")
    listed_when(
        pc, referral_id, lambda r: r["details"]["notes"] == "from the seller", "the owner's value"
    )
    record_when(
        crm, opportunity_id, lambda r: r["Description"] == "from the seller", "the CRM unchanged"
    )

    rows = audit_rows(Cli(sandbox), referral_id)
    [conflict] = [r for r in rows if r["outcome"] == "conflict" and r["field"] == "notes"]
    assert (conflict["old"], conflict["new"]) == ("from Microsoft", "from the seller")
    assert "crm wins" in conflict["message"]


def test_a_manual_field_is_parked_listed_and_applied_once_resolved(
    microsoft: MicrosoftSeller, crm: CrmSeller, pc: PartnerCenterReader, sandbox: SandboxProcess
) -> None:
    cli = Cli(sandbox)
    ids = outgoing(crm, Name="Conflict: value", Amount=1000)
    opportunity_id, referral_id = ids
    both_change(
        microsoft, crm, ids, {"dealValue": 1111}, Amount=2222, Name="Conflict: value, grown"
    )
    listed_when(  # the other fields keep syncing
        pc, referral_id, lambda r: r["name"] == "Conflict: value, grown", "the new name"
    )

    def parked() -> dict[str, Any] | None:
        listed = [c for c in cli.json("conflicts") if c["referral_id"] == referral_id]
        return listed[0] if listed else None

    conflict = wait_until(parked, 30.0, 0.2, "the parked conflict")
    assert conflict["opportunity_id"] == opportunity_id
    assert conflict["field"] == "deal_value"
    assert (conflict["base"], conflict["partner_center"], conflict["crm"]) == (
        "1000.00",
        "1111.00",
        "2222.00",
    )
    assert float(listed_when(pc, referral_id, bool, "it")["details"]["dealValue"]) == 1111

    said = cli.ok("conflicts", "resolve", str(conflict["id"]), "--take", "value=3000")

    assert said.startswith(f"conflict {conflict['id']} on deal_value")
    assert f"enqueued referral:{referral_id}" in said
    listed_when(
        pc, referral_id, lambda r: float(r["details"]["dealValue"]) == 3000, "the chosen value"
    )
    record_when(crm, opportunity_id, lambda r: r["Amount"] == 3000, "the chosen value in the CRM")
    assert all(c["id"] != conflict["id"] for c in cli.json("conflicts"))
