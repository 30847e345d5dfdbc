"""The opt-in name marker (``crm.name_marker: true``): ✔ / ✖ on the opportunity name, never sent
to Partner Center as a name change."""

from __future__ import annotations

import pytest
from engine_world import World

from cosell.sync.engine import Engine
from cosell.sync.mapping import default_mapping_text, parse_mapping
from cosell.sync.name_marker import strip
from cosell.sync.reconcile import NotReady

HELP = "Customer technical architecture"


def marker_engine(world: World) -> Engine:
    text = default_mapping_text().replace(
        "  audit_field: Audit__c", "  audit_field: Audit__c\n  name_marker: true"
    )
    mapping = parse_mapping(text)
    assert mapping.crm.name_marker
    return Engine.build(
        store=world.store,
        tenant=world.tenant,
        partner_center=world.pc_client,
        salesforce=world.sf_client,
        mapping=mapping,
        clock=world.clock,
    )


@pytest.mark.parametrize(
    ("name", "bare"), [("Deal ✔", "Deal"), ("Deal ✖ ✔", "Deal"), ("Deal", "Deal"), (None, None)]
)
def test_a_trailing_marker_is_stripped(name: str | None, bare: str | None) -> None:
    assert strip(name) == bare


def test_the_marker_follows_the_sync_state_and_never_reaches_partner_center(
    world: World,
) -> None:
    engine = marker_engine(world)
    opp_id = world.opportunity(
        solutions=("SOL-1",), Sync_with_Partner_Center__c=True, How_can_Microsoft_help__c=HELP
    )
    engine.reconcile_key(f"opportunity:{opp_id}")
    [referral] = world.referrals()
    rid = str(referral["id"])
    assert world.opp(opp_id)["Name"] == "Northwind renewal ✔"
    assert referral["name"] == "Northwind renewal"
    before = world.writes()
    engine.reconcile_key(f"opportunity:{opp_id}")
    engine.reconcile_key(f"referral:{rid}")
    assert world.writes() == before

    world.edit(opp_id, Name="Northwind renewal (EU)")
    engine.reconcile_key(f"opportunity:{opp_id}")
    assert world.referral(rid)["name"] == "Northwind renewal (EU)"
    assert world.opp(opp_id)["Name"] == "Northwind renewal (EU) ✔"

    [row] = world.query("SELECT Id FROM Microsoft_Solution__c")
    world.sf_client.delete("Microsoft_Solution__c", row["Id"])
    world.edit(opp_id, Products__c=None, Amount=3)
    with pytest.raises(NotReady, match="Solution ID is required"):
        engine.reconcile_key(f"opportunity:{opp_id}")
    assert world.opp(opp_id)["Name"] == "Northwind renewal (EU) ✖"
    assert world.referral(rid)["name"] == "Northwind renewal (EU)"


def test_without_the_setting_the_name_is_left_alone(world: World) -> None:
    opp_id = world.opportunity(
        solutions=("SOL-1",), Sync_with_Partner_Center__c=True, How_can_Microsoft_help__c=HELP
    )
    world.sync(f"opportunity:{opp_id}")
    assert world.opp(opp_id)["Name"] == "Northwind renewal"
