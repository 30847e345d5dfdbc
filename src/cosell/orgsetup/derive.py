"""The org schema a mapping needs: a field definition for every custom field it names (typed
from the field's transform), the standard fields it only reads and writes, and its stages."""

from __future__ import annotations

from typing import Any

from cosell.orgsetup.fields import FieldSpec, StageSpec, StandardFieldSpec
from cosell.sync.core.mapping import CRM_RELATED_LISTS, StageSettings, SyncMapping
from cosell.sync.core.mapping import FieldSpec as MappedField

TEXT_MAX = 255
LONG_TEXT_LINES = 3
OPTIONAL_STANDARD = {
    "CurrencyIsoCode": "single-currency org: every amount is in the corporate currency",
}
"""Standard fields that exist only with an org feature; cosell syncs without them."""

_FIXED_TEXT = {"currency": 3, "iso2_country": 80, "list": TEXT_MAX}


def label_of(api_name: str) -> str:
    """``Loss_Reason__c`` → ``Loss Reason``."""
    return api_name.removesuffix("__c").replace("_", " ").strip()


def is_custom(api_name: str) -> bool:
    return api_name.endswith("__c")


def _split(mapping: SyncMapping, spec: MappedField) -> tuple[str, str]:
    """``(sobject, field)`` a mapped CRM path names."""
    if spec.crm.startswith("Account."):
        return "Account", spec.crm.removeprefix("Account.")
    return mapping.crm.object, spec.crm


def _names_a_field(spec: MappedField) -> bool:
    return spec.crm not in CRM_RELATED_LISTS and spec.transform != "members"


def mapped_fields(mapping: SyncMapping) -> tuple[FieldSpec, ...]:
    """A definition for every custom field the mapping syncs, in mapping order."""
    found = []
    for spec in mapping.fields.values():
        sobject, name = _split(mapping, spec)
        if _names_a_field(spec) and is_custom(name):
            found.append(field_for(sobject, name, spec, mapping.stages))
    return tuple(found)


def standard_fields(mapping: SyncMapping) -> tuple[StandardFieldSpec, ...]:
    """The standard fields the mapping syncs (checked to exist, never created)."""
    found: dict[str, StandardFieldSpec] = {}
    for spec in mapping.fields.values():
        sobject, name = _split(mapping, spec)
        if _names_a_field(spec) and not is_custom(name):
            why = OPTIONAL_STANDARD.get(name, "")
            found.setdefault(
                f"{sobject}.{name}",
                StandardFieldSpec(sobject=sobject, name=name, optional_because=why),
            )
    return tuple(found.values())


def field_for(sobject: str, name: str, spec: MappedField, stages: StageSettings) -> FieldSpec:
    """The custom field type that holds what ``spec``'s transform writes."""
    typed = _typed(spec, stages)
    access = "edit" if spec.on_create_to("crm") else "read"
    return FieldSpec.model_validate(
        {"sobject": sobject, "name": name, "label": label_of(name), "access": access, **typed}
    )


def _typed(spec: MappedField, stages: StageSettings) -> dict[str, Any]:
    """The type and its settings for a mapped field, from its transform."""
    transform = spec.transform
    if transform == "text" and spec.values:
        return {"type": "Picklist", "values": tuple(spec.values.values())}
    if transform == "text" and spec.partner_center == "id":
        return {"type": "Text", "length": 100, "external_id": True, "unique": True}
    if transform == "text" and (spec.max_length or 0) > TEXT_MAX:
        length, lines = spec.max_length, LONG_TEXT_LINES
        return {"type": "LongTextArea", "length": length, "visible_lines": lines}
    if transform == "text":
        return {"type": "Text", "length": spec.max_length or TEXT_MAX}
    if transform == "bool":
        return {"type": "Checkbox", "default": "false"}
    if transform == "date":
        return {"type": "Date"}
    if transform == "decimal":
        return {"type": "Currency", "precision": 18, "scale": 2}
    if transform == "link":
        return {"type": "Url"}
    if transform == "stage":
        return {"type": "Picklist", "values": tuple(s.name for s in stage_specs(stages))}
    return {"type": "Text", "length": _FIXED_TEXT.get(transform, TEXT_MAX)}


def stage_specs(stages: StageSettings) -> tuple[StageSpec, ...]:
    """Every stage the stage table names, with the closed/won flags its role needs."""
    lost: dict[str, object] = {"closed": True, "probability": 0, "forecast_category": "Omitted"}
    open_: dict[str, object] = {"probability": 10}
    roles: list[tuple[str, dict[str, object]]] = [
        (stages.on_hold, open_),
        (stages.active, open_),
        *((name, open_) for name in stages.open),
        (
            stages.won,
            {"closed": True, "won": True, "probability": 100, "forecast_category": "Closed"},
        ),
        (stages.lost, lost),
        (stages.declined, lost),
        (stages.expired, lost),
    ]
    found: dict[str, StageSpec] = {}
    for name, flags in roles:
        found.setdefault(name, StageSpec.model_validate({"name": name, **flags}))
    return tuple(found.values())
