"""The opt-in name marker (``crm.name_marker: true``): ✔ / ✖ on the opportunity name, never sent
to Partner Center as a name change."""

from __future__ import annotations

import pytest
from engine_world import World

from cosell.sync.core.mapping import SyncMapping, default_mapping_text, parse_mapping
from cosell.sync.core.name_marker import NAME_LENGTH, fitted, marked_name, strip, unmarked
from cosell.sync.engine.engine import Engine
from cosell.sync.engine.reconcile import NotReady

HELP = "Customer technical architecture"


def marker_mapping() -> SyncMapping:
    text = default_mapping_text().replace(
        "  audit_field: Audit__c", "  audit_field: Audit__c\n  name_marker: true"
    )
    mapping = parse_mapping(text)
    assert mapping.crm.name_marker
    return mapping


def marker_engine(world: World) -> Engine:
    mapping = marker_mapping()
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


def test_a_long_name_is_trimmed_to_fit_the_marker() -> None:
    long = "Contoso " + "x" * 120
    marked = marked_name(marker_mapping(), {}, {"Name": long}, failed=False)
    assert len(marked["Name"]) == NAME_LENGTH
    assert marked["Name"] == fitted(long, NAME_LENGTH) + " ✔"
    assert marked_name(marker_mapping(), {}, {"Name": "Short"}, failed=True) == {"Name": "Short ✖"}


def test_a_trimmed_name_reads_as_the_agreed_one_but_an_edit_does_not() -> None:
    mapping, full = marker_mapping(), "Fabrikam " + "y" * 115
    trimmed = fitted(full, NAME_LENGTH)
    assert len(trimmed) < len(full)
    shown = {"Name": f"{trimmed} ✔"}
    assert unmarked(shown, mapping, {"name": full})["Name"] == full
    assert unmarked(shown, mapping, {"name": "Other"})["Name"] == trimmed
    assert unmarked({"Name": trimmed}, mapping, {"name": full})["Name"] == trimmed


def test_a_long_crm_name_keeps_its_full_text_in_partner_center(world: World) -> None:
    engine = marker_engine(world)
    full = "Northwind global renewal " + "z" * (NAME_LENGTH - 25)
    assert len(full) == NAME_LENGTH
    opp_id = world.opportunity(
        Name=full,
        solutions=("SOL-1",),
        Sync_with_Partner_Center__c=True,
        How_can_Microsoft_help__c=HELP,
    )
    engine.reconcile_key(f"opportunity:{opp_id}")
    [referral] = world.referrals()
    rid = str(referral["id"])
    shown = world.opp(opp_id)["Name"]
    assert shown == fitted(full, NAME_LENGTH) + " ✔"
    assert len(shown) <= NAME_LENGTH
    before = world.writes()
    world.emulator_clock.advance(1)
    engine.reconcile_key(f"opportunity:{opp_id}")
    engine.reconcile_key(f"referral:{rid}")
    assert world.writes() == before
    assert world.referral(rid)["name"] == full


def test_a_long_shared_referral_name_fits_and_is_not_echoed(world: World) -> None:
    engine = marker_engine(world)
    full = "Shared by Microsoft for Tailspin " + "w" * 100
    referral = world.share_referral(
        name=full,
        details={"dealValue": 9, "closingDateTime": "2026-12-31T00:00:00Z"},
        customerProfile={"name": "Tailspin Toys", "address": {"country": "GB"}},
    )
    rid = str(referral["id"])
    engine.reconcile_key(f"referral:{rid}")
    opp_id = engine.crm.find_by_referral(rid)
    assert opp_id is not None
    assert world.opp(opp_id)["Name"] == fitted(full[:NAME_LENGTH], NAME_LENGTH) + " ✔"
    before = world.writes()
    world.emulator_clock.advance(1)
    engine.reconcile_key(f"opportunity:{opp_id}")
    engine.reconcile_key(f"referral:{rid}")
    assert world.writes() == before
    assert world.referral(rid)["name"] == full
