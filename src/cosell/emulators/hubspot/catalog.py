"""The property catalogue: HubSpot-defined properties seeded per object type, groups, and
the properties API's create/update/archive rules."""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

from cosell.emulators.hubspot.schema import FIELD_TYPES, TYPES, PropertyDef
from cosell.emulators.hubspot.types import TYPES as OBJECT_TYPES
from cosell.emulators.hubspot.types import ObjectType
from cosell.emulators.hubspot.wire import HubSpotError, validation

# name, label, type, fieldType, read-only — HubSpot-defined properties the emulator knows.
_COMMON = (
    ("hs_object_id", "Record ID", "number", "number", True),
    ("createdate", "Create Date", "datetime", "date", True),
    ("hs_lastmodifieddate", "Last Modified Date", "datetime", "date", True),
    ("hs_object_source", "Record source", "string", "text", True),
    ("hs_created_by_user_id", "Created by user ID", "number", "number", True),
    ("hs_updated_by_user_id", "Updated by user ID", "number", "number", True),
    ("hubspot_owner_id", "Owner", "string", "text", False),
)
_SEED: dict[str, tuple[tuple[str, str, str, str, bool], ...]] = {
    "deals": (
        ("dealname", "Deal Name", "string", "text", False),
        ("amount", "Amount", "number", "number", False),
        ("closedate", "Close Date", "datetime", "date", False),
        ("pipeline", "Pipeline", "enumeration", "select", False),
        ("dealstage", "Deal Stage", "enumeration", "radio", False),
        ("description", "Deal Description", "string", "textarea", False),
        ("dealtype", "Deal Type", "enumeration", "radio", False),
        ("deal_currency_code", "Currency", "enumeration", "select", False),
        ("hs_is_closed", "Is Deal Closed?", "bool", "booleancheckbox", True),
        ("hs_is_closed_won", "Is Closed Won", "bool", "booleancheckbox", True),
        ("hs_deal_stage_probability", "Deal probability", "number", "number", True),
    ),
    "companies": (
        ("name", "Company name", "string", "text", False),
        ("domain", "Company Domain Name", "string", "text", False),
        ("website", "Website URL", "string", "text", False),
        ("phone", "Phone Number", "string", "text", False),
        ("address", "Street Address", "string", "text", False),
        ("city", "City", "string", "text", False),
        ("state", "State/Region", "string", "text", False),
        ("zip", "Postal Code", "string", "text", False),
        ("country", "Country/Region", "string", "text", False),
        ("industry", "Industry", "string", "text", False),
    ),
    "contacts": (
        ("email", "Email", "string", "text", False),
        ("firstname", "First Name", "string", "text", False),
        ("lastname", "Last Name", "string", "text", False),
        ("phone", "Phone Number", "string", "text", False),
        ("jobtitle", "Job Title", "string", "text", False),
        ("company", "Company Name", "string", "text", False),
        ("lastmodifieddate", "Last Modified Date", "datetime", "date", True),
    ),
    "line_items": (
        ("name", "Name", "string", "text", False),
        ("description", "Description", "string", "textarea", False),
        ("quantity", "Quantity", "number", "number", False),
        ("price", "Unit price", "number", "number", False),
        ("amount", "Net price", "number", "number", True),
        ("hs_sku", "SKU", "string", "text", False),
        ("hs_product_id", "Product ID", "number", "number", False),
    ),
    "notes": (
        ("hs_timestamp", "Activity date", "datetime", "date", False),
        ("hs_note_body", "Note body", "string", "html", False),
        ("hs_attachment_ids", "Attachment IDs", "string", "text", False),
    ),
}
_OPTIONS = {
    "dealtype": (("newbusiness", "New Business"), ("existingbusiness", "Existing Business")),
    "deal_currency_code": tuple((c, c) for c in ("USD", "EUR", "GBP", "JPY", "AUD", "CAD")),
}


def option(value: str, label: str, order: int) -> dict[str, Any]:
    return {"label": label, "value": value, "displayOrder": order, "hidden": False}


@dataclass
class Catalog:
    """Every object type's properties and property groups."""

    properties: dict[str, dict[str, PropertyDef]] = field(default_factory=dict)
    groups: dict[str, dict[str, dict[str, Any]]] = field(default_factory=dict)

    @classmethod
    def seeded(cls, stamp: str) -> Catalog:
        catalog = cls()
        for kind in OBJECT_TYPES:
            catalog.groups[kind.name] = {
                kind.group: _group(kind.group, f"{kind.singular.title()} information", 0)
            }
            rows = (*_SEED[kind.name], *_COMMON)
            catalog.properties[kind.name] = {
                row[0]: _seed_property(kind, row, order, stamp) for order, row in enumerate(rows)
            }
        return catalog

    def of(self, kind: ObjectType, archived: bool = False) -> dict[str, PropertyDef]:
        return {n: p for n, p in self.properties[kind.name].items() if p.archived == archived}

    def get(self, kind: ObjectType, name: str) -> PropertyDef | None:
        found = self.properties[kind.name].get(name)
        return None if found is None or found.archived else found

    def require(self, kind: ObjectType, name: str) -> PropertyDef:
        found = self.get(kind, name)
        if found is None:
            raise HubSpotError(
                404,
                "OBJECT_NOT_FOUND",
                f"Unable to find property {name} for object type {kind.type_id}",
            )
        return found

    def create(self, kind: ObjectType, body: dict[str, Any], stamp: str) -> PropertyDef:
        """A new custom property from a properties-API body (409 when the name is taken)."""
        for key in ("name", "label", "type", "fieldType", "groupName"):
            if not isinstance(body.get(key), str) or not body[key]:
                raise validation(f"Required field {key} is missing or not a string.")
        name = body["name"]
        if name in self.properties[kind.name] and not self.properties[kind.name][name].archived:
            raise HubSpotError(
                409,
                "OBJECT_ALREADY_EXISTS",
                f"A property named '{name}' already exists.",
                context={"name": [name]},
            )
        prop = PropertyDef(name, body["label"], "", "", "", created_at=stamp, updated_at=stamp)
        self._apply(kind, prop, body)
        prop.has_unique_value = bool(body.get("hasUniqueValue", False))
        self.properties[kind.name][name] = prop
        return prop

    def update(self, kind: ObjectType, name: str, body: dict[str, Any], stamp: str) -> PropertyDef:
        prop = self.require(kind, name)
        if prop.hubspot_defined and set(body) - {"options", "label", "description"}:
            raise validation(f"Property {name} is HubSpot-defined; only labels may change.")
        if "hasUniqueValue" in body and bool(body["hasUniqueValue"]) != prop.has_unique_value:
            raise validation("hasUniqueValue cannot be changed after a property is created.")
        merged = {**prop.as_dict(), **body}
        self._apply(kind, prop, merged)
        prop.updated_at = stamp
        return prop

    def archive(self, kind: ObjectType, name: str) -> None:
        prop = self.require(kind, name)
        if prop.hubspot_defined:
            raise validation(f"Property {name} is HubSpot-defined and cannot be archived.")
        prop.archived = True

    def _apply(self, kind: ObjectType, prop: PropertyDef, body: dict[str, Any]) -> None:
        if body["type"] not in TYPES:
            raise validation(f"type: {body['type']} is not one of {sorted(TYPES)}.")
        if body["fieldType"] not in FIELD_TYPES:
            raise validation(f"fieldType: {body['fieldType']} is not one of {sorted(FIELD_TYPES)}.")
        if body["groupName"] not in self.groups[kind.name]:
            raise validation(f"Property group {body['groupName']} does not exist.")
        options = body.get("options") or []
        if body["type"] == "enumeration" and not options:
            raise validation(f"Enumeration property {prop.name} needs at least one option.")
        prop.label, prop.type, prop.field_type = body["label"], body["type"], body["fieldType"]
        prop.group_name, prop.description = body["groupName"], str(body.get("description", ""))
        prop.options = [_option(o, i) for i, o in enumerate(options)]
        prop.display_order = int(body.get("displayOrder", prop.display_order))
        prop.hidden = bool(body.get("hidden", prop.hidden))
        prop.form_field = bool(body.get("formField", prop.form_field))

    def create_group(self, kind: ObjectType, body: dict[str, Any]) -> dict[str, Any]:
        name, label = body.get("name"), body.get("label")
        if not isinstance(name, str) or not name or not isinstance(label, str):
            raise validation("A property group needs a name and a label.")
        if name in self.groups[kind.name]:
            raise HubSpotError(
                409, "OBJECT_ALREADY_EXISTS", f"A property group named '{name}' already exists."
            )
        group = _group(name, label, int(body.get("displayOrder", -1)))
        self.groups[kind.name][name] = group
        return group

    def group(self, kind: ObjectType, name: str) -> dict[str, Any]:
        found = self.groups[kind.name].get(name)
        if found is None:
            raise HubSpotError(404, "OBJECT_NOT_FOUND", f"Property group {name} does not exist.")
        return found


def _group(name: str, label: str, order: int) -> dict[str, Any]:
    return {"name": name, "label": label, "displayOrder": order, "archived": False}


def _option(raw: Any, order: int) -> dict[str, Any]:
    if not isinstance(raw, dict) or "value" not in raw or "label" not in raw:
        raise validation("Each option needs a label and a value.")
    return {
        "label": str(raw["label"]),
        "value": str(raw["value"]),
        "displayOrder": int(raw.get("displayOrder", order)),
        "hidden": bool(raw.get("hidden", False)),
        "description": str(raw.get("description", "")),
    }


def _seed_property(
    kind: ObjectType, row: tuple[str, str, str, str, bool], order: int, stamp: str
) -> PropertyDef:
    name, label, value_type, field_type, read_only = row
    options = [option(v, lab, i) for i, (v, lab) in enumerate(_OPTIONS.get(name, ()))]
    if value_type == "bool":
        options = [option("true", "True", 0), option("false", "False", 1)]
    return PropertyDef(
        name,
        label,
        value_type,
        field_type,
        kind.group,
        options=options,
        hubspot_defined=True,
        read_only=read_only,
        display_order=order,
        has_unique_value=name == "hs_object_id",
        created_at=stamp,
        updated_at=stamp,
    )
