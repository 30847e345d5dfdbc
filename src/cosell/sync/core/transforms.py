"""Transforms: each converts one field's raw side value to its canonical form and back.

Canonical forms (one per transform, so comparisons are exact):

========== ============================================ ==========================================
transform  canonical value                              Partner Center ⇄ CRM wire value
========== ============================================ ==========================================
text       stripped string cut to ``max_length``;       the string; a value map turns codes
           ``""`` → ``None``; codes per ``values``      into CRM labels and back
decimal    string with two decimals, ``"12500.00"``     JSON number on both sides
date       ``"YYYY-MM-DD"`` (UTC calendar date)         PC ``"…T00:00:00Z"`` ⇄ ``"YYYY-MM-DD"``
currency   ISO 4217 upper case, ``"EUR"``               the code
iso2_cou…  ISO 3166 alpha-2 when resolvable, else the   the code
           stripped input (validation reports it)
bool       ``True`` / ``False``                         JSON boolean (CRM also "true"/"yes"/"1")
list       sorted unique strings, empty → ``None``      PC: list of items; CRM: ``"A;B"``
members    list of {first_name, last_name, email,       PC Member objects ⇄ CRM Contact rows
           phone} sorted by email, names
stage      ``"Status/Substatus"`` e.g. ``"New/Pending"`` PC status+substatus ⇄ CRM stage name
link       portal URL from ``link_url_template``        CRM URL field
========== ============================================ ==========================================

Values that cannot be parsed stay as the stripped input string; validation names them.
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Callable, Mapping
from decimal import ROUND_HALF_EVEN, Decimal, InvalidOperation
from typing import Any

from cosell.sync.core.countries import to_iso2
from cosell.sync.core.mapping import FieldSpec, SyncMapping
from cosell.sync.core.records import Side, Value
from cosell.sync.core.stages import stage_from_crm, stage_to_crm

_CENT = Decimal("0.01")
# Larger amounts are input errors, not money: 1e308 cannot even be rounded to cents (it raised
# and was retried as if temporary). Salesforce currency fields hold 18 digits.
MAX_MONEY = Decimal("1e18")
_TRUE = {"true", "yes", "y", "1", "on"}
_FALSE = {"false", "no", "n", "0", "off", ""}


def canonical(spec: FieldSpec, raw: Any, side: Side, mapping: SyncMapping) -> Value:
    """The canonical form of ``raw`` read from ``side``."""
    if spec.transform == "text":
        return _text_in(spec, raw, side)
    if spec.transform == "stage":
        return _stage_in(raw, side, mapping)
    if spec.transform == "members":
        return _members_in(raw, side)
    if spec.transform == "link":
        return _link_in(raw, side, mapping)
    if spec.transform == "list":
        return _list_in(raw)
    return _SCALAR_IN[spec.transform](raw)


def outbound(spec: FieldSpec, value: Value, side: Side, mapping: SyncMapping) -> Any:
    """The wire value to write a canonical ``value`` to ``side``."""
    if spec.transform == "text" and spec.values and side == "crm" and isinstance(value, str):
        return spec.values.get(value, value)
    if spec.transform == "stage" and side == "crm" and isinstance(value, str):
        return stage_to_crm(value, mapping.stages)
    if spec.transform == "members":
        return _members_out(value, side)
    if spec.transform == "list":
        return _list_out(value, side)
    if spec.transform in _SCALAR_OUT and value is not None:
        return _SCALAR_OUT[spec.transform](value, side)
    return value


def project(spec: FieldSpec, value: Value, side: Side, mapping: SyncMapping) -> Value:
    """What ``side`` reads back after we write ``value`` there (e.g. two stages share one name)."""
    if value is None or not spec.on_create_to(side):
        return value
    return canonical(spec, outbound(spec, value, side, mapping), side, mapping)


def _text(raw: Any) -> str | None:
    if raw is None:
        return None
    text = str(raw).strip()
    return text or None


def _text_in(spec: FieldSpec, raw: Any, side: Side) -> Value:
    text = _text(raw)
    if text is None:
        return None
    if spec.values and side == "crm":
        reverse = {label.casefold(): code for code, label in spec.values.items()}
        text = reverse.get(text.casefold(), text)
    return text[: spec.max_length] if spec.max_length else text


def _decimal_in(raw: Any) -> Value:
    text = _text(raw)
    if text is None or isinstance(raw, bool):
        return text
    try:
        number = Decimal(text)
    except InvalidOperation:
        return text
    if not number.is_finite() or abs(number) > MAX_MONEY:
        return text  # kept as written: validation refuses it, naming the value, never retried
    return str(number.quantize(_CENT, rounding=ROUND_HALF_EVEN))


def _decimal_out(value: Value, side: Side) -> Any:
    try:
        number = Decimal(str(value))
    except InvalidOperation:
        return value
    return float(number) if number.is_finite() else value


def _date_in(raw: Any) -> Value:
    text = _text(raw)
    if text is None:
        return None
    try:
        if len(text) == 10:
            return dt.date.fromisoformat(text).isoformat()
        moment = dt.datetime.fromisoformat(text)
    except ValueError:
        return text
    if moment.tzinfo is not None:
        moment = moment.astimezone(dt.UTC)
    return moment.date().isoformat()


def _date_out(value: Value, side: Side) -> Any:
    if side == "crm" or not _is_date(value):
        return value
    return f"{value}T00:00:00Z"


def _is_date(value: Value) -> bool:
    try:
        return isinstance(value, str) and dt.date.fromisoformat(value).isoformat() == value
    except ValueError:
        return False


def _currency_in(raw: Any) -> Value:
    text = _text(raw)
    return text.upper() if text else None


def _country_in(raw: Any) -> Value:
    text = _text(raw)
    return to_iso2(text) or text if text else None


def _bool_in(raw: Any) -> Value:
    if raw is None or isinstance(raw, bool):
        return raw
    word = str(raw).strip().casefold()
    if word in _TRUE:
        return True
    return False if word in _FALSE else str(raw).strip()


_SCALAR_IN: dict[str, Callable[[Any], Value]] = {
    "decimal": _decimal_in,
    "date": _date_in,
    "currency": _currency_in,
    "iso2_country": _country_in,
    "bool": _bool_in,
}
_SCALAR_OUT: dict[str, Callable[[Value, Side], Any]] = {"decimal": _decimal_out, "date": _date_out}


def _list_in(raw: Any) -> Value:
    if raw is None:
        return None
    items = raw.replace(",", ";").split(";") if isinstance(raw, str) else list(raw)
    cleaned = sorted({text for item in items if (text := _text(item))})
    return list[Value](cleaned) or None


def _list_out(value: Value, side: Side) -> Any:
    items = [str(v) for v in value] if isinstance(value, list) else []
    return items if side == "partner_center" else ";".join(items) or None


_MEMBER_KEYS: dict[Side, dict[str, str]] = {
    "partner_center": {
        "first_name": "firstName",
        "last_name": "lastName",
        "email": "email",
        "phone": "phoneNumber",
    },
    "crm": {"first_name": "FirstName", "last_name": "LastName", "email": "Email", "phone": "Phone"},
}


def _members_in(raw: Any, side: Side) -> Value:
    if not raw:
        return None
    members = [_member_in(row, side) for row in raw if isinstance(row, Mapping)]
    members = [m for m in members if m]
    members.sort(key=lambda m: (str(m.get("email", "")), str(m.get("last_name", ""))))
    return list[Value](members) or None


def _member_in(row: Mapping[str, Any], side: Side) -> dict[str, Value]:
    member: dict[str, Value] = {}
    for key, wire in _MEMBER_KEYS[side].items():
        text = _text(row.get(wire))
        if text:
            member[key] = text.lower() if key == "email" else text
    return member


def _members_out(value: Value, side: Side) -> Any:
    if not isinstance(value, list):
        return []
    keys = _MEMBER_KEYS[side]
    return [
        {keys[k]: v for k, v in member.items() if k in keys}
        for member in value
        if isinstance(member, dict)
    ]


def _stage_in(raw: Any, side: Side, mapping: SyncMapping) -> Value:
    text = _text(raw)
    if text is None:
        return None
    return text if side == "partner_center" else stage_from_crm(text, mapping.stages)


def _link_in(raw: Any, side: Side, mapping: SyncMapping) -> Value:
    text = _text(raw)
    if text is None or side == "crm":
        return text
    return mapping.partner_center.link_url_template.format(id=text)
