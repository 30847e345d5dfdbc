"""Related records through a running sandbox: contacts matched by email and never duplicated by
repeated full passes, the partner team matched to users by email (others kept), solutions added
and removed on either side, Microsoft's notes on the record, and a customer that matches several
accounts waiting for an admin's pick."""

from __future__ import annotations

from typing import Any

import pytest
from e2e_lifecycle import (
    Cli,
    full_pass,
    imported,
    incoming,
    opportunity_of,
    outgoing,
    record,
    record_when,
    referral_when,
    settled,
)
from e2e_sandbox import SandboxProcess
from e2e_sides import API, CrmSeller, MicrosoftSeller, PartnerCenterReader

from support.wait import wait_until

pytestmark = pytest.mark.e2e
SOLUTION_ROWS = "SELECT Id, Solution_Id__c FROM Microsoft_Solution__c WHERE Opportunity__c = '{}'"


@pytest.fixture
def cli(sandbox: SandboxProcess) -> Cli:
    return Cli(sandbox)


def member(first: str, last: str, email: str) -> dict[str, str]:
    return {"firstName": first, "lastName": last, "email": email}


def contact_roles(crm: CrmSeller, opportunity_id: str) -> dict[str, str]:
    """Email → contact id of the opportunity's contact roles."""
    soql = (
        "SELECT ContactId, Contact.Email FROM OpportunityContactRole "  # noqa: S608
        f"WHERE OpportunityId = '{opportunity_id}'"
    )
    return {r["Contact"]["Email"]: r["ContactId"] for r in crm.query(soql)}


def contacts_with(crm: CrmSeller, emails: list[str]) -> list[dict[str, Any]]:
    listed = ", ".join(f"'{e}'" for e in emails)
    return crm.query(f"SELECT Id, Email, AccountId FROM Contact WHERE Email IN ({listed})")  # noqa: S608


def test_contacts_are_matched_by_email_and_repeated_syncs_never_duplicate_them(
    microsoft: MicrosoftSeller, crm: CrmSeller, pc: PartnerCenterReader, cli: Cli
) -> None:
    account_id = crm.create("Account", Name="Dedup Customer", BillingCountry="IE")
    known = crm.create(
        "Contact", LastName="Byrne", Email="aoife@dedup.example", AccountId=account_id
    )
    emails = ["aoife@dedup.example", "liam@dedup.example"]
    team = [member("Aoife", "Byrne", emails[0]), member("Liam", "Walsh", emails[1])]
    body = incoming("Dedup: contacts")
    body["customerProfile"] = {**body["customerProfile"], "name": "Dedup Customer", "team": team}
    referral_id = str(microsoft.share(**body)["id"])
    opportunity = imported(crm, pc, referral_id)
    assert opportunity["AccountId"] == account_id
    roles = wait_until(
        lambda: len(r := contact_roles(crm, opportunity["Id"])) == 2 and r,
        what="both contact roles",
    )
    assert roles[emails[0]] == known

    full_pass(cli)
    full_pass(cli)

    found = contacts_with(crm, emails)
    assert sorted(c["Email"] for c in found) == emails
    assert {c["AccountId"] for c in found} == {account_id}
    assert contact_roles(crm, opportunity["Id"]) == roles


def team_emails(crm: CrmSeller, opportunity_id: str) -> set[str]:
    soql = f"SELECT UserId FROM OpportunityTeamMember WHERE OpportunityId = '{opportunity_id}'"  # noqa: S608
    users = [r["UserId"] for r in crm.query(soql)]
    return {crm.get("User", user)["Email"] for user in users}


def test_team_members_are_matched_to_users_by_email_and_the_others_kept(
    microsoft: MicrosoftSeller, crm: CrmSeller, pc: PartnerCenterReader, cli: Cli
) -> None:
    team = [
        member("Avery", "Stone", "astone@partner.example"),
        member("Dana", "Okafor", "dana@reseller.example"),
    ]
    referral_id = str(microsoft.share(**incoming("Team: by email", team=team))["id"])
    opportunity_id = imported(crm, pc, referral_id)["Id"]
    wait_until(
        lambda: team_emails(crm, opportunity_id) == {"astone@partner.example"},
        what="the user on the opportunity team",
    )
    crm.edit("Opportunity", opportunity_id, StageName="Qualification")
    referral_when(pc, referral_id, lambda r: r["status"] == "Active", "the accept")
    settled(crm, opportunity_id)

    casey = crm.query("SELECT Id FROM User WHERE Email = 'cnguyen@partner.example'")[0]["Id"]
    crm.create("OpportunityTeamMember", OpportunityId=opportunity_id, UserId=casey)
    crm.edit("Opportunity", opportunity_id, NextStep="Casey joins")  # a team change alone is silent
    referral = referral_when(
        pc,
        referral_id,
        lambda r: "cnguyen@partner.example" in {m["email"] for m in r["team"]},
        "the new member on the referral",
    )
    assert {m["email"] for m in referral["team"]} == {
        "astone@partner.example",
        "dana@reseller.example",
        "cnguyen@partner.example",
    }
    assert team_emails(crm, opportunity_id) == {
        "astone@partner.example",
        "cnguyen@partner.example",
    }
    messages = [r["message"] for r in cli.json("audit", referral_id)]
    assert any("dana@reseller.example matches no active Salesforce user" in m for m in messages)


def solution_rows(crm: CrmSeller, opportunity_id: str) -> dict[str, str]:
    return {r["Solution_Id__c"]: r["Id"] for r in crm.query(SOLUTION_ROWS.format(opportunity_id))}


def solution_ids(referral: dict[str, Any]) -> set[str]:
    return {s["id"] for s in referral["details"]["requirements"]["solutions"]}


def test_solutions_added_on_either_side_or_removed_by_microsoft_reach_the_other(
    microsoft: MicrosoftSeller, crm: CrmSeller, pc: PartnerCenterReader, cli: Cli
) -> None:
    opportunity_id, referral_id = outgoing(crm, Name="Solutions: both ways", Products__c="SOL-A")
    assert solution_ids(pc.referral(referral_id)) == {"SOL-A"}
    crm.edit("Opportunity", opportunity_id, Products__c="SOL-A;SOL-B")
    referral_when(pc, referral_id, lambda r: solution_ids(r) == {"SOL-A", "SOL-B"}, "the addition")
    wait_until(
        lambda: set(solution_rows(crm, opportunity_id)) == {"SOL-A", "SOL-B"},
        what="a related row per solution",
    )
    settled(crm, opportunity_id)

    grown = [{"id": f"SOL-{x}", "name": x} for x in "ABC"]
    microsoft.change(referral_id, details={"requirements": {"solutions": grown}})
    record_when(
        crm,
        opportunity_id,
        lambda r: set(solution_ids_in(r["Products__c"])) == {"SOL-A", "SOL-B", "SOL-C"},
        "Microsoft's addition in Products__c",
    )
    wait_until(
        lambda: rows_of(crm, opportunity_id, {"SOL-A", "SOL-B", "SOL-C"}),
        what="the related list in step",
    )
    settled(crm, opportunity_id)

    kept = {"SOL-B", "SOL-C"}
    microsoft.change(
        referral_id,
        details={"requirements": {"solutions": [s for s in grown if s["id"] in kept]}},
    )
    record_when(
        crm,
        opportunity_id,
        lambda r: set(solution_ids_in(r["Products__c"])) == kept,
        "Microsoft's removal in Products__c",
    )
    wait_until(lambda: rows_of(crm, opportunity_id, kept), what="the removed solution's row gone")
    in_step(crm, pc, opportunity_id, referral_id, kept)
    stays_removed(microsoft, crm, pc, cli, opportunity_id, referral_id, kept)


def in_step(
    crm: CrmSeller, pc: PartnerCenterReader, opportunity_id: str, referral_id: str, ids: set[str]
) -> None:
    """The referral, ``Products__c`` and the related list all name exactly ``ids``."""
    assert solution_ids(pc.referral(referral_id)) == ids
    products = solution_ids_in(record(crm, opportunity_id)["Products__c"])
    assert sorted(products) == sorted(ids), products
    assert set(solution_rows(crm, opportunity_id)) == ids


def stays_removed(
    microsoft: MicrosoftSeller,
    crm: CrmSeller,
    pc: PartnerCenterReader,
    cli: Cli,
    opportunity_id: str,
    referral_id: str,
    ids: set[str],
) -> None:
    """Later reconciles of either key, and a full pass, keep the solutions at ``ids``: a CRM
    edit that reaches the referral, a Microsoft edit that reaches the CRM, then both again
    through ``cosell sync --once``."""
    settled(crm, opportunity_id)
    crm.edit("Opportunity", opportunity_id, Amount=52000)
    referral_when(pc, referral_id, lambda r: r["details"]["dealValue"] == 52000, "the CRM edit")
    settled(crm, opportunity_id)
    in_step(crm, pc, opportunity_id, referral_id, ids)

    microsoft.change(referral_id, details={"notes": "Solutions agreed."})
    record_when(
        crm,
        opportunity_id,
        lambda r: r["Description"] == "Solutions agreed.",
        "Microsoft's edit",
    )
    settled(crm, opportunity_id)
    in_step(crm, pc, opportunity_id, referral_id, ids)

    full_pass(cli)
    in_step(crm, pc, opportunity_id, referral_id, ids)


def test_a_solution_row_deleted_in_the_crm_is_removed_from_the_referral(
    crm: CrmSeller, pc: PartnerCenterReader
) -> None:
    opportunity_id, referral_id = outgoing(
        crm, Name="Solutions: row deleted", Products__c="SOL-D;SOL-E"
    )
    rows = wait_until(
        lambda: rows_of(crm, opportunity_id, {"SOL-D", "SOL-E"}), what="a row per solution"
    )
    settled(crm, opportunity_id)
    deleted = crm.http.delete(f"{API}/sobjects/Microsoft_Solution__c/{rows['SOL-E']}")
    assert deleted.status_code == 204, deleted.text
    crm.edit("Opportunity", opportunity_id, NextStep="SOL-E dropped")  # rows alone are silent
    referral_when(pc, referral_id, lambda r: solution_ids(r) == {"SOL-D"}, "the removal")
    record_when(
        crm,
        opportunity_id,
        lambda r: solution_ids_in(r["Products__c"]) == ["SOL-D"],
        "Products__c in step with the related list",
    )


def rows_of(crm: CrmSeller, opportunity_id: str, ids: set[str]) -> dict[str, str] | None:
    """The Microsoft Solution rows (solution id → row id) once they are exactly ``ids``."""
    rows = solution_rows(crm, opportunity_id)
    return rows if set(rows) == ids else None


def solution_ids_in(text: str | None) -> list[str]:
    return [part for part in (text or "").split(";") if part]


def test_microsoft_notes_reach_the_description_and_a_note_on_the_opportunity(
    microsoft: MicrosoftSeller, crm: CrmSeller, pc: PartnerCenterReader
) -> None:
    referral_id = str(microsoft.share(**incoming("Notes: mirrored"))["id"])
    opportunity_id = imported(crm, pc, referral_id)["Id"]
    microsoft.change(referral_id, details={"notes": "Kick-off with the CIO on Monday."})
    record_when(
        crm,
        opportunity_id,
        lambda r: r["Description"] == "Kick-off with the CIO on Monday.",
        "the notes in the description",
    )
    soql = f"SELECT Title, Body FROM Note WHERE ParentId = '{opportunity_id}'"  # noqa: S608
    notes = wait_until(lambda: crm.query(soql), what="the Partner Center notes Note")
    assert [(n["Title"], n["Body"]) for n in notes] == [
        ("Partner Center notes", "Kick-off with the CIO on Monday.")
    ]


def test_an_ambiguous_customer_waits_for_an_admin_then_uses_the_chosen_account(
    microsoft: MicrosoftSeller, crm: CrmSeller, pc: PartnerCenterReader, cli: Cli
) -> None:
    first = crm.create("Account", Name="Twin Customer Ltd", BillingCountry="IE")
    second = crm.create("Account", Name="Twin Customer", BillingCountry="IE")
    body = incoming("Twin: which account")
    body["customerProfile"] = {**body["customerProfile"], "name": "Twin Customer"}
    referral_id = str(microsoft.share(**body)["id"])

    def parked() -> dict[str, Any] | None:
        listed = [c for c in cli.json("conflicts") if c["referral_id"] == referral_id]
        return listed[0] if listed else None

    review = wait_until(parked, 30.0, 0.2, "the account review")
    assert review["field"] == "account"
    candidates = str(review["crm"])
    assert first in candidates
    assert second in candidates
    assert opportunity_of(crm, referral_id) is None

    cli.ok("conflicts", "resolve", str(review["id"]), "--take", f"value={second}")

    opportunity = wait_until(lambda: opportunity_of(crm, referral_id), what="the opportunity")
    assert record(crm, opportunity["Id"])["AccountId"] == second
    accounts = crm.query("SELECT Id FROM Account WHERE Name LIKE 'Twin Customer%'")
    assert len(accounts) == 2
