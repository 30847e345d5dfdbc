"""The search API's request rules and evaluation: filter groups (OR) of filters (AND), thirteen
operators typed by the property, one sort, ``after`` paging and the 10,000-result cap.

Search reads the index, not the records: a write shows up after the configured lag, and
archived records never appear.
"""

from __future__ import annotations

import re
from collections.abc import Callable
from dataclasses import dataclass
from decimal import Decimal, InvalidOperation
from fnmatch import fnmatchcase
from typing import Any

from cosell.emulators.hubspot.schema import PropertyDef
from cosell.emulators.hubspot.wire import HubSpotError, parse_instant, validation

OPERATORS = frozenset(
    {
        "EQ",
        "NEQ",
        "LT",
        "LTE",
        "GT",
        "GTE",
        "BETWEEN",
        "IN",
        "NOT_IN",
        "HAS_PROPERTY",
        "NOT_HAS_PROPERTY",
        "CONTAINS_TOKEN",
        "NOT_CONTAINS_TOKEN",
    }
)
MAX_QUERY = 3000


@dataclass(frozen=True)
class SearchLimits:
    groups: int = 5
    filters_per_group: int = 6
    filters_total: int = 18
    page_max: int = 200
    result_cap: int = 10_000


@dataclass(frozen=True)
class Filter:
    name: str
    operator: str
    value: Any = None
    high: Any = None
    values: tuple[Any, ...] = ()


@dataclass(frozen=True)
class Query:
    groups: tuple[tuple[Filter, ...], ...]
    sort: tuple[str, bool] | None  # property, descending
    properties: list[str] | None
    text: str | None
    limit: int
    after: int


def parse(body: Any, limits: SearchLimits) -> Query:
    """A validated search request, or HubSpot's 400 naming what is wrong."""
    if not isinstance(body, dict):
        raise validation("The search request must be a JSON object.")
    groups = tuple(_group(g) for g in body.get("filterGroups") or [])
    _check_caps(groups, limits)
    limit = _integer(body.get("limit", 10), "limit")
    if not 0 < limit <= limits.page_max:
        raise validation(f"limit must be between 1 and {limits.page_max}, got {limit}.")
    after = _integer(body.get("after", 0) or 0, "after")
    if after + limit > limits.result_cap:
        raise validation(
            f"Paging past {limits.result_cap} results is not supported: "
            f"after={after} with limit={limit}.",
            context={"after": [str(after)]},
        )
    text = body.get("query")
    if text is not None and (not isinstance(text, str) or len(text) > MAX_QUERY):
        raise validation(f"query must be a string of at most {MAX_QUERY} characters.")
    properties = body.get("properties")
    names = [str(p) for p in properties] if isinstance(properties, list) and properties else None
    return Query(groups, _sort(body.get("sorts")), names, text, limit, after)


def _group(raw: Any) -> tuple[Filter, ...]:
    if not isinstance(raw, dict) or not isinstance(raw.get("filters", []), list):
        raise validation("Each filter group needs a list of filters.")
    return tuple(_filter(f) for f in raw.get("filters", []))


def _filter(raw: Any) -> Filter:
    if not isinstance(raw, dict) or not isinstance(raw.get("propertyName"), str):
        raise validation("Each filter needs a propertyName.")
    operator = raw.get("operator", "EQ")
    if operator not in OPERATORS:
        raise validation(f"Invalid operator {operator!r}; expected one of {sorted(OPERATORS)}.")
    values = raw.get("values") or []
    if operator in ("IN", "NOT_IN") and (not isinstance(values, list) or not values):
        raise validation(f"Operator {operator} needs a non-empty values list.")
    if operator == "BETWEEN" and (raw.get("value") is None or raw.get("highValue") is None):
        raise validation("Operator BETWEEN needs value and highValue.")
    needs_value = operator not in ("IN", "NOT_IN", "HAS_PROPERTY", "NOT_HAS_PROPERTY")
    if needs_value and raw.get("value") is None:
        raise validation(f"Operator {operator} needs a value.")
    return Filter(
        raw["propertyName"], operator, raw.get("value"), raw.get("highValue"), tuple(values)
    )


def _check_caps(groups: tuple[tuple[Filter, ...], ...], limits: SearchLimits) -> None:
    total = sum(len(g) for g in groups)
    if (
        len(groups) > limits.groups
        or any(len(g) > limits.filters_per_group for g in groups)
        or total > limits.filters_total
    ):
        raise validation(
            f"Too many filters: at most {limits.groups} filterGroups of at most "
            f"{limits.filters_per_group} filters each, {limits.filters_total} in all "
            f"(got {len(groups)} groups, {total} filters)."
        )


def _sort(raw: Any) -> tuple[str, bool] | None:
    if not raw:
        return None
    first = raw[0] if isinstance(raw, list) else raw
    if isinstance(first, str):
        return first.lstrip("-"), first.startswith("-")
    if not isinstance(first, dict) or not isinstance(first.get("propertyName"), str):
        raise validation("Each sort needs a propertyName and a direction.")
    direction = first.get("direction", "ASCENDING")
    if direction not in ("ASCENDING", "DESCENDING"):
        raise validation("direction must be ASCENDING or DESCENDING.")
    return first["propertyName"], direction == "DESCENDING"


def _integer(raw: Any, name: str) -> int:
    try:
        return int(str(raw))
    except ValueError:
        raise validation(f"{name} must be an integer, got {raw!r}.") from None


# --- evaluation -----------------------------------------------------------------------------
Linked = Callable[[str], set[str]]  # object type → ids associated with the record


def matches(
    query: Query,
    values: dict[str, str],
    props: dict[str, PropertyDef],
    linked: Linked,
    searchable: tuple[str, ...],
) -> bool:
    if query.text and not _text_match(query.text, values, searchable):
        return False
    if not query.groups:
        return True
    return any(all(_test(f, values, props, linked) for f in group) for group in query.groups)


def _test(f: Filter, values: dict[str, str], props: dict[str, PropertyDef], linked: Linked) -> bool:
    if f.name.startswith("associations."):
        ids = linked(f.name.split(".", 1)[1])
        wanted = {str(v) for v in (f.values or (f.value,))}
        hit = bool(ids & wanted)
        return not hit if f.operator in ("NEQ", "NOT_IN") else hit
    prop = props.get(f.name)
    if prop is None:
        raise validation(f"There was a problem with the request: unknown property {f.name}.")
    value = values.get(f.name)
    if f.operator == "HAS_PROPERTY":
        return value is not None
    if f.operator == "NOT_HAS_PROPERTY":
        return value is None
    if f.operator in ("CONTAINS_TOKEN", "NOT_CONTAINS_TOKEN"):
        found = value is not None and _token(str(f.value), value)
        return found if f.operator == "CONTAINS_TOKEN" else not found
    return _compare(f, prop, value)


def _compare(f: Filter, prop: PropertyDef, value: str | None) -> bool:
    negative = f.operator in ("NEQ", "NOT_IN")
    if value is None:
        return negative
    key = _key(prop)
    if f.operator in ("IN", "NOT_IN"):
        raw_values = [str(v) for v in f.values]
        if prop.type == "string":  # string IN compares lowercased values to the list as given
            hit = value.lower() in raw_values
        else:
            hit = any(key(value) == key(v) for v in raw_values)
        return hit != negative
    left = key(value)
    right = key(str(f.value))
    if f.operator == "BETWEEN":
        return bool(right <= left <= key(str(f.high)))
    outcomes = {
        "EQ": left == right,
        "NEQ": left != right,
        "LT": left < right,
        "LTE": left <= right,
        "GT": left > right,
        "GTE": left >= right,
    }
    return bool(outcomes[f.operator])


def _key(prop: PropertyDef) -> Callable[[str], Any]:
    if prop.type == "number":
        return _number
    if prop.type in ("date", "datetime"):
        return _instant
    if prop.type == "enumeration":
        return str
    return str.lower


def _number(text: str) -> Decimal:
    try:
        return Decimal(text)
    except InvalidOperation:
        raise validation(f"{text} is not a number.") from None


def _instant(text: str) -> float:
    try:
        return parse_instant(text).timestamp()
    except ValueError:
        raise validation(f"{text} is not a date, datetime or epoch milliseconds.") from None


def _tokens(text: str) -> list[str]:
    return [t for t in re.split(r"[\s,;.@/_\-]+", text.lower()) if t]


def _token(pattern: str, value: str) -> bool:
    wanted = pattern.lower()
    return any(fnmatchcase(token, wanted) for token in [value.lower(), *_tokens(value)])


def _text_match(text: str, values: dict[str, str], searchable: tuple[str, ...]) -> bool:
    words = _tokens(text)
    haystack = [t for n in searchable for t in _tokens(values.get(n) or "")]
    return all(any(h.startswith(w) for h in haystack) for w in words)


def order(
    rows: list[tuple[str, dict[str, str]]],
    sort: tuple[str, bool] | None,
    props: dict[str, PropertyDef],
) -> list[tuple[str, dict[str, str]]]:
    """Rows (id, values) in the asked order; creation order (oldest first) by default."""
    by_creation = sorted(rows, key=lambda r: int(r[0]))
    if sort is None:
        return by_creation
    name, descending = sort
    prop = props.get(name)
    if prop is None:
        raise HubSpotError(400, "VALIDATION_ERROR", f"Cannot sort by unknown property {name}.")
    key = _key(prop)
    present = [r for r in by_creation if r[1].get(name) is not None]
    absent = [r for r in by_creation if r[1].get(name) is None]
    present.sort(key=lambda r: key(r[1][name]), reverse=descending)
    return present + absent
