"""The shipped HubSpot mapping mirrors the Salesforce one, field by field."""

from cosell.orgsetup.hubspot_spec import portal_spec_for
from cosell.sync.core.mapping import default_mapping
from cosell.sync.sides.hubspot.mapping import hubspot_mapping


def test_every_salesforce_field_has_a_hubspot_twin_except_the_opportunity_team() -> None:
    salesforce, hubspot = default_mapping(), hubspot_mapping()
    assert set(salesforce.fields) - set(hubspot.fields) == {"partner_team"}
    for name, spec in hubspot.fields.items():
        twin = salesforce.fields[name]
        assert (spec.partner_center, spec.transform, spec.direction, spec.owner) == (
            twin.partner_center,
            twin.transform,
            twin.direction,
            twin.owner,
        )


def test_portal_spec_types_each_custom_property_from_its_transform() -> None:
    spec = portal_spec_for(hubspot_mapping())
    types = {p.name: (p.type, p.field_type, p.unique) for p in spec.properties}
    assert types["cosell_referral_id"] == ("string", "text", True)
    assert types["cosell_referral_visibility"] == ("bool", "booleancheckbox", False)
    assert types["cosell_products"] == ("string", "textarea", False)
    assert types["cosell_help_code"][0] == "enumeration"
    assert "dealname" not in types
    assert spec.standard_company == ("address", "city", "country", "name", "state", "zip")
    assert [s.label for s in spec.stages][:3] == [
        "Co-sell on hold",
        "Appointment Scheduled",
        "Co-sell declined",
    ]
