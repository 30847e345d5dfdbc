"""Metadata API shapes (as the Tooling API takes them) turned into field definitions and
Opportunity stages."""

from __future__ import annotations

from typing import Any

from cosell.emulators.salesforce.objects import Stage
from cosell.emulators.salesforce.schema import FieldDef
from cosell.emulators.salesforce.wire import SalesforceError

FIELD_TYPES = {
    "Text": "string",
    "TextArea": "textarea",
    "LongTextArea": "textarea",
    "Html": "textarea",
    "Checkbox": "boolean",
    "Url": "url",
    "Email": "email",
    "Phone": "phone",
    "Picklist": "picklist",
    "MultiselectPicklist": "multipicklist",
    "Number": "double",
    "Currency": "currency",
    "Percent": "percent",
    "Date": "date",
    "DateTime": "datetime",
    "Lookup": "reference",
    "MasterDetail": "reference",
}
_DEFAULT_LENGTHS = {
    "TextArea": 255,
    "Url": 255,
    "Email": 80,
    "Phone": 40,
    "Picklist": 255,
    "MultiselectPicklist": 4099,
}


def _invalid(message: str) -> SalesforceError:
    return SalesforceError(400, "FIELD_INTEGRITY_EXCEPTION", message, [])


def field_from_metadata(name: str, metadata: dict[str, Any]) -> FieldDef:
    """A custom field definition from a ``CustomField`` ``Metadata`` body."""
    kind = metadata.get("type")
    if kind not in FIELD_TYPES:
        raise _invalid(f"Type: bad value for restricted picklist field: {kind}")
    if not metadata.get("label"):
        raise SalesforceError(
            400, "REQUIRED_FIELD_MISSING", "Required fields are missing: [Label]", ["Label"]
        )
    length = metadata.get("length") or _DEFAULT_LENGTHS.get(kind, 0)
    if kind in ("Text", "LongTextArea") and not length:
        raise _invalid("Length: a length is required for this field type")
    f = FieldDef(
        name,
        FIELD_TYPES[kind],
        str(metadata["label"]),
        int(length),
        nillable=not metadata.get("required", False) and kind != "Checkbox",
        external_id=bool(metadata.get("externalId", False)),
        unique=bool(metadata.get("unique", False)),
        case_sensitive=bool(metadata.get("caseSensitive", False)),
        custom=True,
        precision=int(metadata.get("precision") or 0),
        scale=int(metadata.get("scale") or 0),
    )
    _apply_kind(f, kind, metadata)
    return f


def _apply_kind(f: FieldDef, kind: str, metadata: dict[str, Any]) -> None:
    if kind == "Checkbox":
        f.default = str(metadata.get("defaultValue", "false")).lower() == "true"
    if kind in ("Picklist", "MultiselectPicklist"):
        f.picklist, f.restricted = _value_set(metadata.get("valueSet"))
    if kind in ("Lookup", "MasterDetail"):
        target, relationship = metadata.get("referenceTo"), metadata.get("relationshipName")
        if not target or not relationship:
            raise _invalid("referenceTo and relationshipName are required for a relationship")
        # Describe names the parent relationship after the field (Foo__c -> Foo__r); the
        # Metadata relationshipName names the child relationship seen from the parent.
        f.reference_to, f.relationship_name = [str(target)], f"{f.name[:-3]}__r"
        f.child_relationship = f"{relationship}__r"
        f.nillable = kind == "Lookup"


def _value_set(value_set: Any) -> tuple[list[str], bool]:
    if not isinstance(value_set, dict):
        raise _invalid("valueSet: a picklist needs a valueSet")
    definition = value_set.get("valueSetDefinition") or {}
    values = definition.get("value") or []
    names = [str(v.get("fullName") or v.get("label")) for v in values if isinstance(v, dict)]
    return names, bool(value_set.get("restricted", False))


FORECAST_CATEGORIES = frozenset({"Omitted", "Pipeline", "BestCase", "Forecast", "Closed"})


def standard_value(stage: Stage) -> dict[str, Any]:
    """An ``OpportunityStage`` ``standardValue`` entry for a stage."""
    return {
        "fullName": stage.name,
        "label": stage.name,
        "default": False,
        "description": None,
        "isActive": None,
        "closed": stage.closed,
        "won": stage.won,
        "probability": stage.probability,
        "forecastCategory": stage.forecast,
        "color": None,
    }


def stage_from_value(value: Any) -> Stage:
    """A stage from a ``standardValue`` entry; a won stage must be closed."""
    if not isinstance(value, dict) or not value.get("fullName"):
        raise SalesforceError(
            400, "REQUIRED_FIELD_MISSING", "Required fields are missing: [fullName]", ["fullName"]
        )
    closed, won = bool(value.get("closed")), bool(value.get("won"))
    if won and not closed:
        raise _invalid(f"{value['fullName']}: a won stage must also be closed")
    probability = value.get("probability")
    probability = (100 if won else 0 if closed else 10) if probability is None else probability
    if not isinstance(probability, int) or not 0 <= probability <= 100:
        raise _invalid(f"{value['fullName']}: probability must be a whole number from 0 to 100")
    forecast = str(value.get("forecastCategory") or "")
    if forecast and forecast not in FORECAST_CATEGORIES:
        raise _invalid(f"forecastCategory: bad value for restricted picklist field: {forecast}")
    return Stage(str(value["fullName"]), probability, closed, won, forecast)
