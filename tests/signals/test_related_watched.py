"""What the related-row poll watches, the queries it sends, and its share of the API budget."""

from __future__ import annotations

import dataclasses
from datetime import UTC, datetime

import pytest
from engine_world import World

from cosell.settings import SyncSettings
from cosell.signals.cadence import budget_share
from cosell.signals.related_rows import (
    ACCOUNT,
    CONTACT,
    CONTACT_ROLE,
    TEAM,
    RelatedObject,
    changed_rows_soql,
    solution_object,
    watched_objects,
)
from cosell.sync.core.contacts import CONTACT_FIELDS
from cosell.sync.sides.salesforce.schema import CrmSchema

SINCE = datetime(2026, 3, 2, 9, 0, 30, 500_000, tzinfo=UTC)


def without(schema: CrmSchema, *crm_names: str) -> CrmSchema:
    """The schema with the mapped fields whose CRM side is in ``crm_names`` left out."""
    kept = {n: s for n, s in schema.mapping.fields.items() if s.crm not in crm_names}
    return dataclasses.replace(schema, mapping=schema.mapping.model_copy(update={"fields": kept}))


def test_the_default_mapping_on_a_set_up_org_watches_every_related_object(world: World) -> None:
    watched = watched_objects(world.engine.schema)
    assert [w.name for w in watched] == ["account", "contact", "contact_role", "solution", "team"]
    solutions = solution_object("Microsoft_Solution__c", "Opportunity__c")
    assert watched[3] == dataclasses.replace(solutions, values=("Solution_Id__c",))
    # each with the values its version is told by: those the engine reads of it
    account_fields = world.engine.schema.account_fields_read
    assert watched[0].values == tuple(f"Account.{n}" for n in account_fields)
    assert watched[1].values == tuple(f"Contact.{n}" for n in CONTACT_FIELDS)
    assert (watched[2].values, watched[4].values) == (("ContactId",), ("UserId",))


def test_only_what_the_mapping_reads_is_watched(world: World) -> None:
    schema = world.engine.schema
    account_fields = [s.crm for s in schema.mapping.fields.values() if s.crm.startswith("Account.")]
    assert [w.name for w in watched_objects(without(schema, *account_fields))] == [
        "contact",
        "contact_role",
        "solution",
        "team",
    ]
    assert [w.name for w in watched_objects(without(schema, "Contacts", "OpportunityTeam"))] == [
        "account",
        "solution",
    ]
    no_solutions = dataclasses.replace(schema, has_solution_object=False)
    assert "solution" not in [w.name for w in watched_objects(no_solutions)]
    unmapped = without(schema, "Products__c")
    assert "solution" not in [w.name for w in watched_objects(unmapped)]


@pytest.mark.parametrize(
    ("watched", "expected"),
    [
        (
            ACCOUNT,
            "SELECT Id, Account.SystemModstamp, Account.LastModifiedById FROM Opportunity "
            "WHERE Account.SystemModstamp >= "
            "2026-03-02T09:00:30Z AND (Flag__c = true) ORDER BY Account.SystemModstamp, Id",
        ),
        (
            CONTACT,
            "SELECT Id, OpportunityId, Contact.SystemModstamp, Contact.LastModifiedById "
            "FROM OpportunityContactRole WHERE "
            "Contact.SystemModstamp >= 2026-03-02T09:00:30Z "
            "AND OpportunityId IN (SELECT Id FROM Opportunity WHERE Flag__c = true) "
            "ORDER BY Contact.SystemModstamp, Id",
        ),
        (
            dataclasses.replace(CONTACT, values=("Contact.Email", "Contact.Phone")),
            "SELECT Id, OpportunityId, Contact.SystemModstamp, Contact.LastModifiedById, "
            "Contact.Email, Contact.Phone FROM OpportunityContactRole WHERE "
            "Contact.SystemModstamp >= 2026-03-02T09:00:30Z "
            "AND OpportunityId IN (SELECT Id FROM Opportunity WHERE Flag__c = true) "
            "ORDER BY Contact.SystemModstamp, Id",
        ),
        (
            TEAM,
            "SELECT Id, OpportunityId, SystemModstamp, LastModifiedById, IsDeleted "
            "FROM OpportunityTeamMember WHERE SystemModstamp >= 2026-03-02T09:00:30Z "
            "AND OpportunityId IN (SELECT Id FROM Opportunity WHERE Flag__c = true) "
            "ORDER BY SystemModstamp, Id",
        ),
    ],
)
def test_poll_queries_read_ids_stamps_opportunities_and_values_in_stamp_order(
    watched: RelatedObject, expected: str
) -> None:
    assert changed_rows_soql(watched, SINCE, "Flag__c = true") == expected


def test_other_rows_take_the_filter_through_their_opportunity_and_no_filter_adds_nothing() -> None:
    role = changed_rows_soql(CONTACT_ROLE, SINCE, "Flag__c = true")
    assert "OpportunityId IN (SELECT Id FROM Opportunity WHERE Flag__c = true)" in role
    assert "AND" not in changed_rows_soql(ACCOUNT, SINCE, "  ")
    assert "AND" not in changed_rows_soql(CONTACT_ROLE, SINCE, "")


def test_an_idle_tenant_spends_under_three_percent_of_a_100k_daily_budget() -> None:
    sync = SyncSettings()
    opportunity_poll = budget_share(sync.poll_max_interval)
    # every object watched: five queries in one composite call a look
    related = budget_share(sync.related_poll_interval, calls_per_look=1)
    assert opportunity_poll == pytest.approx(0.0144)
    assert related == pytest.approx(0.00288)
    assert opportunity_poll + related < 0.03
