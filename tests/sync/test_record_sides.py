"""One record's sides as the console shows them, read through the engine from both emulators:
every mapped field with Partner Center, the CRM and the base, differences marked."""

from __future__ import annotations

from engine_world import World

from cosell.operations.record_sides import RecordSides


def test_a_seller_edit_shows_as_a_difference_from_partner_center_and_the_base(
    world: World,
) -> None:
    referral = world.share_referral(
        name="Fabrikam data platform",
        details={"dealValue": 48000, "currency": "EUR", "closingDateTime": "2026-12-31T00:00:00Z"},
        customerProfile={"name": "Fabrikam", "address": {"country": "DE"}},
    )
    rid = str(referral["id"])
    world.sync(f"referral:{rid}")
    link = world.store.link_by_referral(world.tenant, rid)
    assert link is not None
    assert link.opportunity_id is not None
    world.edit(link.opportunity_id, Amount=51000)  # on hold: kept until accepted
    built: list[int] = []

    def engine():  # type: ignore[no-untyped-def]
        built.append(1)
        return world.engine

    sides = RecordSides(engine)
    read = sides.read("referral", rid, link)
    assert read.pc_found
    assert read.crm_found
    by_name = {f.name: f for f in read.fields}
    value = by_name["deal_value"]
    assert (value.partner_center, value.crm, value.base) == ("48000.00", "51000.00", "48000.00")
    assert value.sides_differ
    assert value.held_reason == "on hold: kept until accepted"
    assert value.crm_changed
    assert not value.pc_changed
    assert not by_name["name"].sides_differ
    assert read.differences >= 1
    sides.read("referral", rid, link)
    assert built == [1]  # the engine is built once
