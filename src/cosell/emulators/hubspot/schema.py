"""Property definitions and groups per object type, and the checks a written value must pass.

Every value travels as a string. A write is normalised by the property's ``type``: numbers keep
their digits without trailing zeros, ``date`` must be midnight UTC and reads back as
``YYYY-MM-DD``, ``datetime`` reads back as an ISO stamp with milliseconds, ``bool`` as
``true``/``false``, and an ``enumeration`` must name one of its options (``;`` between several
for a checkbox). ``""`` (or ``null``) clears a value.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import UTC, datetime
from decimal import Decimal, InvalidOperation
from typing import Any

from cosell.emulators.hubspot.wire import PropertyProblem, format_time, parse_instant

TYPES = frozenset({"string", "number", "date", "datetime", "enumeration", "bool", "phone_number"})
FIELD_TYPES = frozenset(
    {
        "text",
        "textarea",
        "number",
        "date",
        "file",
        "select",
        "radio",
        "checkbox",
        "booleancheckbox",
        "calculation_equation",
        "html",
        "phonenumber",
    }
)


@dataclass
class PropertyDef:
    """One property of an object type, in the shape the properties API reads and writes."""

    name: str
    label: str
    type: str
    field_type: str
    group_name: str
    description: str = ""
    options: list[dict[str, Any]] = field(default_factory=list)
    has_unique_value: bool = False
    hubspot_defined: bool = False
    read_only: bool = False
    display_order: int = -1
    hidden: bool = False
    form_field: bool = False
    archived: bool = False
    created_at: str = ""
    updated_at: str = ""

    def as_dict(self) -> dict[str, Any]:
        body: dict[str, Any] = {
            "name": self.name,
            "label": self.label,
            "type": self.type,
            "fieldType": self.field_type,
            "description": self.description,
            "groupName": self.group_name,
            "options": self.options,
            "displayOrder": self.display_order,
            "calculated": False,
            "externalOptions": False,
            "hasUniqueValue": self.has_unique_value,
            "hidden": self.hidden,
            "hubspotDefined": self.hubspot_defined,
            "formField": self.form_field,
            "archived": self.archived,
            "modificationMetadata": {
                "archivable": not self.hubspot_defined,
                "readOnlyDefinition": self.hubspot_defined,
                "readOnlyValue": self.read_only,
            },
        }
        if self.created_at:
            body["createdAt"], body["updatedAt"] = self.created_at, self.updated_at
        return body

    def option_values(self) -> list[str]:
        return [str(o.get("value")) for o in self.options]


def normalise(prop: PropertyDef, raw: Any) -> str | None:
    """The stored form of ``raw`` for ``prop``; raises ``ValueProblem`` when it is not valid."""
    if raw is None or raw == "":
        return None
    text = _text(raw)
    kind = prop.type
    if kind == "number":
        return _number(prop, text)
    if kind == "date":
        return _date(prop, text)
    if kind == "datetime":
        return _datetime(prop, text)
    if kind == "bool":
        return _bool(prop, text)
    if kind == "enumeration" and prop.options:
        return _option(prop, text)
    return text


class ValueProblem(ValueError):
    """A value the property refuses; ``problem`` is the inner entry HubSpot lists."""

    def __init__(self, problem: PropertyProblem) -> None:
        super().__init__(problem.message)
        self.problem = problem


def _text(raw: Any) -> str:
    if isinstance(raw, bool):
        return "true" if raw else "false"
    return str(raw)


def _number(prop: PropertyDef, text: str) -> str:
    try:
        value = Decimal(text.strip())
    except InvalidOperation:
        value = Decimal("NaN")
    if not value.is_finite():
        message = f"{text} was not a valid number."
        raise ValueProblem(PropertyProblem(prop.name, "INVALID_INTEGER", message))
    return format(value.normalize(), "f")


def _instant(prop: PropertyDef, text: str) -> datetime:
    try:
        return parse_instant(text)
    except (ValueError, OverflowError):
        message = f"{text} is not a valid date or datetime for {prop.name}."
        raise ValueProblem(PropertyProblem(prop.name, "INVALID_DATE", message)) from None


def _date(prop: PropertyDef, text: str) -> str:
    moment = _instant(prop, text)
    if (moment.hour, moment.minute, moment.second, moment.microsecond) != (0, 0, 0, 0):
        clock = moment.strftime("%H:%M:%S.") + f"{moment.microsecond // 1000:03d}"
        message = f"{text} is at {clock} UTC, not midnight!"
        raise ValueProblem(PropertyProblem(prop.name, "INVALID_DATE", message))
    return moment.astimezone(UTC).date().isoformat()


def _datetime(prop: PropertyDef, text: str) -> str:
    return format_time(_instant(prop, text))


def _bool(prop: PropertyDef, text: str) -> str:
    lowered = text.strip().lower()
    if lowered not in ("true", "false"):
        message = f"{text} was not a valid boolean (true or false)."
        raise ValueProblem(PropertyProblem(prop.name, "INVALID_BOOLEAN", message))
    return lowered


def _option(prop: PropertyDef, text: str) -> str:
    allowed = prop.option_values()
    chosen = text.split(";") if prop.field_type == "checkbox" else [text]
    for value in chosen:
        if value not in allowed:
            message = f"{value} was not one of the allowed options: {allowed}"
            raise ValueProblem(PropertyProblem(prop.name, "INVALID_OPTION", message))
    return text
