"""Details of the related rows an imported referral creates: the solution's name and the
contact's role."""

from __future__ import annotations

from engine_world import World


def test_an_imported_referral_names_its_solutions_and_gives_its_contact_a_role(
    world: World,
) -> None:
    referral = world.share_referral(
        name="Contoso analytics",
        details={
            "dealValue": 30000,
            "currency": "USD",
            "closingDateTime": "2026-12-31T00:00:00Z",
            "requirements": {"solutions": [{"id": "SOL-1", "name": "Azure Synapse pilot"}]},
        },
        customerProfile={
            "name": "Contoso",
            "address": {"country": "US", "postalCode": "98052"},
            "team": [{"firstName": "Ana", "lastName": "Lee", "email": "ana@contoso.example"}],
        },
    )
    world.sync(f"referral:{referral['id']}")
    [row] = world.query("SELECT Solution_Id__c, Solution_Name__c FROM Microsoft_Solution__c")
    assert (row["Solution_Id__c"], row["Solution_Name__c"]) == ("SOL-1", "Azure Synapse pilot")
    [role] = world.query("SELECT Role, Contact.Email FROM OpportunityContactRole")
    assert role["Role"] == "Business User"
    assert role["Contact"]["Email"] == "ana@contoso.example"


def test_a_solution_microsoft_adds_later_arrives_with_its_name(world: World) -> None:
    referral = world.share_referral(name="Contoso analytics")
    rid = str(referral["id"])
    world.sync(f"referral:{rid}")
    solutions = [{"id": "SOL-7", "name": "Fabric lakehouse"}]
    world.microsoft_update(rid, details={"requirements": {"solutions": solutions}})
    world.sync(f"referral:{rid}")
    rows = world.query("SELECT Solution_Id__c, Solution_Name__c FROM Microsoft_Solution__c")
    assert {(r["Solution_Id__c"], r["Solution_Name__c"]) for r in rows} >= {
        ("SOL-7", "Fabric lakehouse")
    }
