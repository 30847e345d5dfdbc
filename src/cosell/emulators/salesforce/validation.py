"""Turning request values into stored wire values, and the org's save-time checks.

Each check answers with the error Salesforce would give: ``JSON_PARSER_ERROR`` for a value of the
wrong shape, ``MALFORMED_ID`` for a bad reference, ``REQUIRED_FIELD_MISSING``, ``STRING_TOO_LONG``,
``INVALID_OR_NULL_FOR_RESTRICTED_PICKLIST``, ``DUPLICATE_VALUE`` and the injectable
``FIELD_CUSTOM_VALIDATION_EXCEPTION`` rules.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable, Mapping
from dataclasses import dataclass
from datetime import date
from typing import Any, Literal

from cosell.emulators.salesforce import ids
from cosell.emulators.salesforce.schema import FieldDef, ObjectDef
from cosell.emulators.salesforce.wire import (
    ErrorItem,
    SalesforceError,
    format_datetime,
    parse_datetime,
    truncate_seconds,
)

Operator = Literal["equals", "not_equals", "is_blank", "not_blank", "contains"]
OPERATORS: frozenset[str] = frozenset({"equals", "not_equals", "is_blank", "not_blank", "contains"})
_STRINGISH = frozenset({"string", "textarea", "picklist", "multipicklist", "url", "email", "phone"})
_NUMBERS = frozenset({"double", "currency", "percent"})


def _parser_error(f: FieldDef, value: Any, kind: str) -> SalesforceError:
    return SalesforceError(
        400,
        "JSON_PARSER_ERROR",
        f"Cannot deserialize instance of {kind} from {type(value).__name__} value {value!r} "
        f"for field {f.name}",
        [],
    )


def coerce(f: FieldDef, value: Any) -> Any:
    """The wire value to store for ``value`` written to field ``f``."""
    if value is None:
        return None
    if f.type in _STRINGISH:
        return _coerce_text(f, value)
    converter = _CONVERTERS.get(f.type)
    return value if converter is None else converter(f, value)


def _coerce_text(f: FieldDef, value: Any) -> str:
    if isinstance(value, dict | list):
        raise _parser_error(f, value, "string")
    if isinstance(value, bool):
        return "true" if value else "false"
    return str(value)


def _coerce_bool(f: FieldDef, value: Any) -> bool:
    if isinstance(value, bool):
        return value
    if isinstance(value, str) and value.lower() in ("true", "false"):
        return value.lower() == "true"
    raise _parser_error(f, value, "boolean")


def _coerce_number(f: FieldDef, value: Any) -> int | float:
    if isinstance(value, int | float) and not isinstance(value, bool):
        return value
    try:
        number = float(value)
    except (TypeError, ValueError):
        raise _parser_error(f, value, "double") from None
    return int(number) if number.is_integer() and f.type == "int" else number


def _coerce_date(f: FieldDef, value: Any) -> str:
    try:
        return date.fromisoformat(str(value)).isoformat()
    except ValueError:
        raise _parser_error(f, value, "date") from None


def _coerce_datetime(f: FieldDef, value: Any) -> str:
    try:
        return format_datetime(truncate_seconds(parse_datetime(str(value))))
    except ValueError:
        raise _parser_error(f, value, "datetime") from None


def _coerce_id(f: FieldDef, value: Any) -> str:
    canonical = ids.normalize(value) if isinstance(value, str) else None
    if canonical is None:
        raise SalesforceError(
            400, "MALFORMED_ID", f"{f.label}: id value of incorrect type: {value}", [f.name]
        )
    return canonical


_CONVERTERS: dict[str, Callable[[FieldDef, Any], Any]] = {
    "boolean": _coerce_bool,
    "int": _coerce_number,
    "date": _coerce_date,
    "datetime": _coerce_datetime,
    "reference": _coerce_id,
    "id": _coerce_id,
    **dict.fromkeys(_NUMBERS, _coerce_number),
}


def field_checks(obj: ObjectDef, record: Mapping[str, Any], changed: Iterable[str]) -> None:
    """Required, length and restricted-picklist checks over the record about to be saved."""
    missing = [
        f.name
        for f in obj.fields.values()
        if not f.nillable and f.createable and record.get(f.name) in (None, "")
    ]
    if missing:
        raise SalesforceError(
            400,
            "REQUIRED_FIELD_MISSING",
            f"Required fields are missing: [{', '.join(missing)}]",
            missing,
        )
    for name in changed:
        _check_value(obj.fields[name.lower()], record.get(name))


def _check_value(f: FieldDef, value: Any) -> None:
    if not isinstance(value, str):
        return
    if f.restricted and value not in f.picklist:
        raise SalesforceError(
            400,
            "INVALID_OR_NULL_FOR_RESTRICTED_PICKLIST",
            f"{f.label}: bad value for restricted picklist field: {value}",
            [f.name],
        )
    if f.length and f.type in _STRINGISH and len(value) > f.length:
        raise SalesforceError(
            400,
            "STRING_TOO_LONG",
            f"{f.label}: data value too large: {value[:64]} (max length={f.length})",
            [f.name],
        )


def unique_check(
    obj: ObjectDef, record: Mapping[str, Any], others: Iterable[Mapping[str, Any]]
) -> None:
    """``DUPLICATE_VALUE`` when a unique field's value is already used by another live record."""
    unique = [f for f in obj.fields.values() if f.unique and record.get(f.name) is not None]
    if not unique:
        return
    for other in others:
        if other["Id"] == record.get("Id"):
            continue
        for f in unique:
            if _same(f, other.get(f.name), record[f.name]):
                raise SalesforceError(
                    400,
                    "DUPLICATE_VALUE",
                    f"duplicate value found: {f.name} duplicates value on record with id: "
                    f"{other['Id']}",
                    [],
                )


def _same(f: FieldDef, a: Any, b: Any) -> bool:
    if isinstance(a, str) and isinstance(b, str) and not f.case_sensitive:
        return a.lower() == b.lower()
    return bool(a == b)


@dataclass(frozen=True)
class ValidationRule:
    """An org validation rule: when ``field`` meets the condition, the save fails."""

    sobject: str
    field: str
    operator: Operator
    message: str
    value: Any = None
    error_field: str | None = None

    def violated(self, record: Mapping[str, Any]) -> bool:
        actual = record.get(self.field)
        if self.operator == "is_blank":
            return actual in (None, "")
        if self.operator == "not_blank":
            return actual not in (None, "")
        if self.operator == "contains":
            return isinstance(actual, str) and str(self.value) in actual
        equal = actual == self.value
        return equal if self.operator == "equals" else not equal

    def error(self) -> ErrorItem:
        fields = [self.error_field] if self.error_field else []
        return ErrorItem("FIELD_CUSTOM_VALIDATION_EXCEPTION", self.message, fields)


@dataclass(frozen=True)
class FieldTrigger:
    """A before-update trigger an admin wrote: every update of ``sobject`` adds ``increment`` to
    the number in ``field`` (as ``o.Amount += 1`` would), whoever saves the record. What makes a
    connector's own write come back changed, every time."""

    sobject: str
    field: str
    increment: float = 1.0

    def fire(self, record: dict[str, Any]) -> None:
        record[self.field] = (record.get(self.field) or 0) + self.increment


def rule_checks(rules: Iterable[ValidationRule], record: Mapping[str, Any]) -> None:
    items = [rule.error() for rule in rules if rule.violated(record)]
    if items:
        raise SalesforceError.of(400, items)
