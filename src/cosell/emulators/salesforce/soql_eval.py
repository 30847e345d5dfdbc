"""Running a parsed `Query` over an emulated org's records, with Salesforce's typed comparisons.

Every field path is checked against a `Catalog` before any record is read, so a bad query fails
the same way whether or not the object holds rows. Comparisons follow the field's describe type:
strings compare case-insensitively, ids on their case-sensitive 15-character form, dates and
datetimes as instants (a datetime literal may carry any offset), relative date literals as the
whole range of days they name. A null field matches only ``= null``, ``!=`` and ``NOT IN``.
"""

from __future__ import annotations

import operator
import re
from collections.abc import Callable, Iterable, Mapping, Sequence
from dataclasses import dataclass
from datetime import UTC, date, datetime, time
from typing import Any, Protocol

from cosell.emulators.salesforce.soql_dates import RelativeDate, bounds
from cosell.emulators.salesforce.soql_grammar import (
    Comparison,
    Condition,
    FieldPath,
    Junction,
    Like,
    Membership,
    Negation,
    Operator,
    OrderItem,
    Query,
    SemiJoin,
    SoqlError,
    Value,
)

Record = Mapping[str, Any]
MAX_OFFSET = 2000
Predicate = Callable[[Record], bool]

_KINDS = {
    "id": "id",
    "reference": "id",
    "boolean": "boolean",
    "int": "number",
    "double": "number",
    "currency": "number",
    "percent": "number",
    "date": "date",
    "datetime": "datetime",
}
_OPERATORS: dict[str, Callable[[Any, Any], bool]] = {
    "=": operator.eq,
    "!=": operator.ne,
    "<": operator.lt,
    "<=": operator.le,
    ">": operator.gt,
    ">=": operator.ge,
}


class Catalog(Protocol):
    """What the query engine needs to know about the emulated org's schema and records."""

    def canonical_object(self, name: str) -> str | None: ...

    def canonical_field(self, sobject: str, name: str) -> str | None: ...

    def field_type(self, sobject: str, field: str) -> str: ...

    def relationship(self, sobject: str, name: str) -> tuple[str, str] | None: ...

    def targets(self, sobject: str, field: str) -> tuple[str, ...]:
        """The objects a lookup field may point at (several for a polymorphic one, such as a
        note's ``ParentId``; its id's prefix says which)."""
        ...

    def get(self, sobject: str, record_id: str) -> Mapping[str, Any] | None: ...

    def attributes(self, sobject: str, record_id: str) -> dict[str, str]: ...

    def child_relationship(self, sobject: str, name: str) -> tuple[str, str, str] | None:
        """``(relationship name, child object, foreign key)`` of a parent-to-child relationship."""
        ...

    def rows(self, sobject: str) -> Iterable[Mapping[str, Any]]:
        """Every record of `sobject` a query may read (with deleted ones for queryAll)."""
        ...

    def matching(
        self, sobject: str, field: str, kind: str, keys: Sequence[Any], *, every: bool = False
    ) -> Sequence[Mapping[str, Any]] | None:
        """The records of `sobject` (as `rows` gives them, in the same order) whose `field`,
        in comparable form (`normal_value`), is one of `keys` (for kind `GRAMS`: holds every
        trigram of one of the sets `keys`, see there; for an ordered kind, `ORDERED`, a key
        may be a `Span`: every value inside it); None when not indexed. With `every`, deleted
        records too, whatever the query reads (a parent a field path follows may be in the
        recycle bin)."""
        ...


@dataclass
class QueryResult:
    """The rows a query returns (after OFFSET and LIMIT) and their number."""

    rows: list[dict[str, Any]]
    total_size: int


@dataclass(frozen=True)
class _Hop:
    relationship: str
    foreign_key: str
    target: str


@dataclass(frozen=True)
class _Path:
    """A field path checked against the catalog, in canonical case."""

    written: str
    hops: tuple[_Hop, ...]
    sobject: str
    field: str
    kind: str

    def value(self, record: Record, catalog: Catalog) -> Any:
        current = record
        for hop in self.hops:
            parent = _parent(current, hop, catalog)
            if parent is None:
                return None
            current = parent
        return current.get(self.field)

    def normal(self, record: Record, catalog: Catalog) -> Any:
        raw = self.value(record, catalog)
        return None if raw is None else _normal(self.kind, raw)


@dataclass(frozen=True)
class Selection:
    """A query checked against `sobject` (canonical): what it keeps, in what order, showing what."""

    query: Query
    sobject: str
    fields: tuple[_Path, ...]
    keep: Predicate | None
    order: tuple[tuple[_Path, OrderItem], ...]


def compile_selection(query: Query, catalog: Catalog, sobject: str, now: datetime) -> Selection:
    """Check every path of `query` (fields, WHERE, ORDER BY) against `sobject` before any read."""
    if (query.offset or 0) > MAX_OFFSET:
        message = f"Maximum SOQL offset allowed is {MAX_OFFSET}"
        raise SoqlError("NUMBER_OUTSIDE_VALID_RANGE", message)
    fields = tuple(_resolve(catalog, sobject, path) for path in query.fields)
    keep = _compile(query.where, catalog, sobject, now) if query.where else None
    order = tuple((_resolve(catalog, sobject, item.field), item) for item in query.order_by)
    return Selection(query, sobject, fields, keep, order)


def select(selection: Selection, records: Iterable[Record], catalog: Catalog) -> list[Record]:
    """The records the selection keeps, sorted, after OFFSET and LIMIT."""
    matched = [r for r in records if selection.keep is None or selection.keep(r)]
    matched = _sort(matched, selection.order, catalog)
    query = selection.query
    start = query.offset or 0
    return matched[start:] if query.limit is None else matched[start : start + query.limit]


Insert = Callable[[int, dict[str, Any]], None]


def project(
    selection: Selection, record: Record, catalog: Catalog, insert: Insert | None = None
) -> dict[str, Any]:
    """One row: ``attributes``, then the fields in SELECT order; `insert` is called before each
    field is placed and once at the end, so subqueries keep their place among the fields."""
    row: dict[str, Any] = {"attributes": catalog.attributes(selection.sobject, record["Id"])}
    for index, path in enumerate(selection.fields):
        if insert is not None:
            insert(index, row)
        _place(row, record, path, catalog)
    if insert is not None:
        insert(len(selection.fields), row)
    return row


def object_name(catalog: Catalog, name: str) -> str:
    """The canonical name of the object a query's FROM names, or ``INVALID_TYPE``."""
    canonical = catalog.canonical_object(name)
    if canonical is None:
        raise SoqlError(
            "INVALID_TYPE",
            f"sObject type '{name}' is not supported. If you are attempting to use a custom "
            "object, be sure to append the '__c' after the entity name. Please reference your "
            "WSDL or the describe call for the appropriate names.",
        )
    return canonical


def _resolve(catalog: Catalog, sobject: str, path: FieldPath) -> _Path:
    hops: list[_Hop] = []
    owner = sobject
    for name in path.parts[:-1]:
        hop = _hop(catalog, owner, name)
        hops.append(hop)
        owner = hop.target
    field = catalog.canonical_field(owner, path.parts[-1])
    if field is None:
        raise SoqlError(
            "INVALID_FIELD",
            f"No such column '{path.parts[-1]}' on entity '{owner}'. If you are attempting to "
            "use a custom field, be sure to append the '__c' after the custom field name. "
            "Please reference your WSDL or the describe call for the appropriate names.",
        )
    kind = _KINDS.get(catalog.field_type(owner, field), "string")
    return _Path(str(path), tuple(hops), owner, field, kind)


def _hop(catalog: Catalog, owner: str, name: str) -> _Hop:
    link = catalog.relationship(owner, name)
    if link is None:
        raise SoqlError(
            "INVALID_FIELD",
            f"Didn't understand relationship '{name}' in field path. If you are attempting to "
            "use a custom relationship, be sure to append the '__r' after the custom "
            "relationship name. Please reference your WSDL or the describe call for the "
            "appropriate names.",
        )
    target, foreign_key = link
    foreign_key = catalog.canonical_field(owner, foreign_key) or foreign_key
    return _Hop(_relationship_name(foreign_key, name), foreign_key, target)


def _relationship_name(foreign_key: str, written: str) -> str:
    """The canonical relationship name, derived from its foreign key as Salesforce names them."""
    if foreign_key.endswith("__c"):
        return foreign_key[:-3] + "__r"
    if foreign_key.endswith("Id") and len(foreign_key) > 2:
        return foreign_key[:-2]
    return written


def _parent(record: Record | None, hop: _Hop, catalog: Catalog) -> Record | None:
    parent_id = record.get(hop.foreign_key) if record is not None else None
    return catalog.get(hop.target, parent_id) if parent_id else None


def candidates(selection: Selection, catalog: Catalog) -> Sequence[Record] | None:
    """The only records the selection's WHERE can keep, from the org's indexes; None when the
    WHERE has no condition an index serves. The WHERE still runs on them: this only spares
    reading every record of the object.

    Served: an equality or ``IN`` on a text or id field of the object itself, a ``LIKE`` on
    a text field with a literal run of at least :data:`GRAM` characters (by the trigrams of
    its runs), a comparison of a date or dateTime field with a literal (``SystemModstamp >=
    …``, as Salesforce indexes its audit stamps), of the object itself or of its parent
    (``Account.SystemModstamp >= …``: the parents in range, then their children by the
    lookup), an ``AND`` with one served operand, an ``OR`` whose operands are all served."""
    where = selection.query.where
    return None if where is None else _narrowed(where, selection.sobject, catalog)


def _narrowed(node: Condition, sobject: str, catalog: Catalog) -> Sequence[Record] | None:
    if isinstance(node, Junction) and node.kind == "AND":
        for operand in node.operands:
            found = _narrowed(operand, sobject, catalog)
            if found is not None:
                return found
        return None
    if isinstance(node, Junction):
        parts: dict[str, Record] = {}
        for operand in node.operands:
            found = _narrowed(operand, sobject, catalog)
            if found is None:
                return None
            parts.update((str(r["Id"]), r) for r in found)
        return [parts[i] for i in sorted(parts)]
    if isinstance(node, Like):
        return _like_candidates(node, sobject, catalog)
    if isinstance(node, Comparison) and node.operator in _SPANS:
        found = _span_candidates(node, sobject, catalog)
        if found is not None or node.operator != "=":
            return found
    if isinstance(node, Comparison) and node.operator == "=":
        values: tuple[Value, ...] = (node.value,)
    elif isinstance(node, Membership) and not node.negated:
        values = node.values
    else:
        return None
    if not values or not all(isinstance(v, str) for v in values):
        return None
    path = _resolve(catalog, sobject, node.field)
    if path.hops or path.kind not in ("string", "id"):
        return None
    keys = [_literal(path, v) for v in values]
    return catalog.matching(sobject, path.field, path.kind, keys)


def _span_candidates(node: Comparison, sobject: str, catalog: Catalog) -> Sequence[Record] | None:
    path = _resolve(catalog, sobject, node.field)
    value = node.value
    if path.kind not in ORDERED or len(path.hops) > 1:
        return None
    if path.kind == "datetime" and isinstance(value, datetime):
        bound: Any = _instant(value)
    elif path.kind == "date" and isinstance(value, date) and not isinstance(value, datetime):
        bound = value
    else:
        return None  # a relative date (LAST_N_DAYS:…) or a mismatch the compile refused
    low = bound if node.operator in ("=", ">", ">=") else None
    high = bound if node.operator in ("=", "<", "<=") else None
    span = Span(low, high)
    if not path.hops:
        return catalog.matching(sobject, path.field, path.kind, [span])
    (hop,) = path.hops
    if catalog.targets(sobject, hop.foreign_key) != (hop.target,):
        return None  # polymorphic: the parent may be of another object than the one named
    parents = catalog.matching(hop.target, path.field, path.kind, [span], every=True)
    if parents is None:
        return None
    ids = [_normal("id", parent["Id"]) for parent in parents]
    return catalog.matching(sobject, hop.foreign_key, "id", ids)


def _like_candidates(node: Like, sobject: str, catalog: Catalog) -> Sequence[Record] | None:
    grams = frozenset(g for run in node.fragments for g in grams_of(run))
    if not grams:
        return None
    path = _resolve(catalog, sobject, node.field)
    if path.hops or path.kind != "string":
        return None
    return catalog.matching(sobject, path.field, GRAMS, [grams])


@dataclass(frozen=True)
class Span:
    """The comparable values from ``low`` to ``high``, both included (None: no bound), as a
    key of an ordered index's lookup: a superset of what a strict comparison keeps, which the
    WHERE then narrows."""

    low: Any = None
    high: Any = None


ORDERED = frozenset({"date", "datetime"})
"""Index kinds whose keys are also kept in order, so a `Span` is looked up without a scan."""
_SPANS = frozenset({"=", "<", "<=", ">", ">="})


GRAM = 3
GRAMS = "grams"
"""The index kind of a text field's trigrams: key ``UNGRAMMED`` holds the records whose value
is not plain ASCII (always candidates, since Unicode case-insensitive matching can equate
characters a case fold alone does not), each other key a trigram of the lower-cased values
holding it. A ``matching`` lookup of this kind takes sets of trigrams: the records holding all
of one set (or not plain ASCII)."""
UNGRAMMED = ""


def grams_of(text: str) -> frozenset[str]:
    """The trigrams of a plain-ASCII text, lower-cased; none for other text (it is not
    looked up by them)."""
    if not text.isascii():
        return frozenset()
    lowered = text.lower()
    return frozenset(lowered[i : i + GRAM] for i in range(len(lowered) - GRAM + 1))


def index_keys(kind: str, raw: Any) -> Iterable[Any]:
    """The keys a stored wire value is indexed under for an index of `kind`."""
    if raw is None:
        return ()
    if kind != GRAMS:
        return (_normal(kind, raw),)
    text = str(raw)
    return grams_of(text) if text.isascii() else (UNGRAMMED,)


def normal_value(kind: str, raw: Any) -> Any:
    """A stored wire value in the form comparisons use (what an index is keyed by)."""
    return _normal(kind, raw)


def _normal(kind: str, raw: Any) -> Any:
    """A stored wire value in the form comparisons and sorting use."""
    if kind == "string":
        return str(raw).casefold()
    if kind == "id":
        return str(raw)[:15]
    if kind == "date":
        return date.fromisoformat(raw) if isinstance(raw, str) else raw
    if kind == "datetime":
        return _instant(datetime.fromisoformat(raw) if isinstance(raw, str) else raw)
    return raw


def _instant(moment: datetime) -> datetime:
    aware = moment if moment.tzinfo else moment.replace(tzinfo=UTC)
    return aware.astimezone(UTC).replace(microsecond=0)


def _compile(condition: Condition, catalog: Catalog, sobject: str, now: datetime) -> Predicate:
    today = now.astimezone(UTC).date()

    def compile_(node: Condition) -> Predicate:
        if isinstance(node, Junction):
            operands = _merged_likes(node.operands) if node.kind == "OR" else node.operands
            parts = [compile_(operand) for operand in operands]
            combine = all if node.kind == "AND" else any
            return lambda record: combine(part(record) for part in parts)
        if isinstance(node, Negation):
            inner = compile_(node.operand)
            return lambda record: not inner(record)
        if isinstance(node, Membership):
            return _compile_membership(node, catalog, sobject) or compile_(_as_junction(node))
        if isinstance(node, SemiJoin):
            return _compile_semi_join(node, catalog, sobject, now)
        path = _resolve(catalog, sobject, node.field)
        if isinstance(node, Like):
            return _compile_like(path, node.pattern, catalog)
        return _compile_comparison(path, node, catalog, today)

    return compile_(condition)


def _compile_semi_join(node: SemiJoin, catalog: Catalog, sobject: str, now: datetime) -> Predicate:
    """``field [NOT] IN (SELECT idField FROM Object WHERE ...)``: the inner query runs once, as
    the outer one is compiled; its one field must hold ids, as the outer field must."""
    path = _resolve(catalog, sobject, node.field)
    if path.kind != "id":
        raise SoqlError(
            "INVALID_FIELD",
            f"semi join sub selects can only be used with id fields, cannot use: '{path.written}'",
        )
    inner = node.query
    if len(inner.fields) != 1 or inner.subqueries or inner.count:
        raise SoqlError("MALFORMED_QUERY", "a semi join sub select names exactly one id field")
    if inner.where is not None and _has_semi_join(inner.where):
        raise SoqlError("MALFORMED_QUERY", "semi join sub selects cannot be nested")
    inner_object = object_name(catalog, inner.sobject)
    selection = compile_selection(inner, catalog, inner_object, now)
    (field,) = selection.fields
    if field.kind != "id":
        raise SoqlError(
            "MALFORMED_QUERY",
            f"semi join sub selects can only query id fields, cannot use: '{field.written}'",
        )
    found = candidates(selection, catalog)
    rows = select(selection, catalog.rows(inner_object) if found is None else found, catalog)
    ids = {value for row in rows if (value := field.normal(row, catalog)) is not None}
    if node.negated:
        return lambda record: path.normal(record, catalog) not in ids
    return lambda record: path.normal(record, catalog) in ids


def _has_semi_join(node: Condition) -> bool:
    if isinstance(node, SemiJoin):
        return True
    if isinstance(node, Junction):
        return any(_has_semi_join(operand) for operand in node.operands)
    return isinstance(node, Negation) and _has_semi_join(node.operand)


def _merged_likes(operands: tuple[Condition, ...]) -> list[Condition]:
    """ORed ``LIKE``s of one field as one pattern (its alternatives): a row is matched against
    all of them in one regular expression instead of once each (an account match ORs one
    ``Name LIKE`` per customer of a page, and reads every account)."""
    merged: list[Condition] = []
    likes: dict[FieldPath, list[str]] = {}
    for operand in operands:
        if isinstance(operand, Like):
            if operand.field not in likes:
                likes[operand.field] = []
                merged.append(operand)
            likes[operand.field].append(operand.pattern)
        else:
            merged.append(operand)
    return [
        Like(o.field, "|".join(f"(?:{p})" for p in likes[o.field]))
        if isinstance(o, Like) and len(likes[o.field]) > 1
        else o
        for o in merged
    ]


def _compile_membership(node: Membership, catalog: Catalog, sobject: str) -> Predicate | None:
    """``IN`` (``NOT IN``) of plain literals as one set lookup a record, the same test as its
    run of ``=`` (``!=``): a batch's lookup of 450 ids compared every candidate with each of
    them. None when a value has no plain form (null, a relative date): those take the run."""
    if any(value is None or isinstance(value, RelativeDate) for value in node.values):
        return None
    path = _resolve(catalog, sobject, node.field)
    wanted = frozenset(_literal(path, value) for value in node.values)
    if node.negated:
        return lambda record: (value := path.normal(record, catalog)) is None or value not in wanted
    return lambda record: (value := path.normal(record, catalog)) is not None and value in wanted


def _as_junction(node: Membership) -> Junction:
    """``IN`` is a run of ``=`` joined by OR; ``NOT IN`` a run of ``!=`` joined by AND."""
    symbol: Operator = "!=" if node.negated else "="
    operands = tuple(Comparison(node.field, symbol, value) for value in node.values)
    return Junction("AND" if node.negated else "OR", operands)


def _compile_like(path: _Path, pattern: str, catalog: Catalog) -> Predicate:
    if path.kind != "string":
        raise SoqlError("INVALID_FIELD", f"invalid operator on field '{path.written}': LIKE")
    regex = re.compile(pattern, re.IGNORECASE | re.DOTALL)

    def like(record: Record) -> bool:
        value = path.value(record, catalog)
        return value is not None and regex.fullmatch(str(value)) is not None

    return like


def _compile_comparison(path: _Path, node: Comparison, catalog: Catalog, today: date) -> Predicate:
    if node.value is None:
        return _null_test(path, node.operator, catalog)
    test = _value_test(path, node, today)
    absent = node.operator == "!="

    def comparison(record: Record) -> bool:
        value = path.normal(record, catalog)
        return absent if value is None else test(value)

    return comparison


def _null_test(path: _Path, symbol: Operator, catalog: Catalog) -> Predicate:
    if symbol not in ("=", "!="):
        return lambda _record: False
    wanted = symbol == "="
    return lambda record: (path.value(record, catalog) is None) == wanted


def _value_test(path: _Path, node: Comparison, today: date) -> Callable[[Any], bool]:
    if isinstance(node.value, RelativeDate):
        return _range_test(path, node.value, node.operator, today)
    literal = _literal(path, node.value)
    compare = _OPERATORS[node.operator]
    return lambda value: compare(value, literal)


def _range_test(
    path: _Path, literal: RelativeDate, symbol: str, today: date
) -> Callable[[Any], bool]:
    if path.kind not in ("date", "datetime"):
        raise _type_mismatch(path)
    first, after = bounds(literal, today)
    low: date | datetime = first
    high: date | datetime = after
    if path.kind == "datetime":
        low, high = datetime.combine(first, time(), UTC), datetime.combine(after, time(), UTC)
    tests: dict[str, Callable[[Any], bool]] = {
        "=": lambda value: low <= value < high,
        "!=": lambda value: not low <= value < high,
        "<": lambda value: value < low,
        "<=": lambda value: value < high,
        ">": lambda value: value >= high,
        ">=": lambda value: value >= low,
    }
    return tests[symbol]


def _literal(path: _Path, value: Value) -> Any:
    """The literal in comparable form, or INVALID_QUERY_FILTER_OPERATOR if its type is wrong."""
    kind = path.kind
    if kind == "datetime" and isinstance(value, datetime):
        return _instant(value)
    if isinstance(value, datetime | RelativeDate):
        raise _type_mismatch(path)
    if kind == "date" and isinstance(value, date):
        return value
    if kind == "number" and isinstance(value, int | float) and not isinstance(value, bool):
        return value
    if kind == "boolean" and isinstance(value, bool):
        return value
    if kind in ("string", "id") and isinstance(value, str):
        return _id_literal(path, value) if kind == "id" else value.casefold()
    raise _type_mismatch(path)


def _id_literal(path: _Path, value: str) -> str:
    if len(value) not in (15, 18):
        raise SoqlError("INVALID_QUERY_FILTER_OPERATOR", f"invalid ID field: {value}")
    return value[:15]


def _type_mismatch(path: _Path) -> SoqlError:
    names = {"number": "double", "datetime": "dateTime", "id": "id"}
    negation = "" if path.kind in ("string", "id") else "not "
    return SoqlError(
        "INVALID_QUERY_FILTER_OPERATOR",
        f"value of filter criterion for field '{path.written}' must be of type "
        f"{names.get(path.kind, path.kind)} and should {negation}be enclosed in quotes",
    )


def _sort(
    records: list[Record], order: tuple[tuple[_Path, OrderItem], ...], catalog: Catalog
) -> list[Record]:
    # Stable sorts applied from the last key to the first give a multi-key order.
    for path, item in reversed(order):
        keyed = [(path.normal(record, catalog), record) for record in records]
        present = [pair for pair in keyed if pair[0] is not None]
        present.sort(key=lambda pair: pair[0], reverse=item.descending)
        nulls = [pair for pair in keyed if pair[0] is None]
        ordered = nulls + present if item.nulls_first else present + nulls
        records = [record for _key, record in ordered]
    return records


def _place(row: dict[str, Any], record: Record, path: _Path, catalog: Catalog) -> None:
    """Write one selected value into `row`, nesting parent fields under their relationship."""
    target, current = row, record
    for hop in path.hops:
        parent = _parent(current, hop, catalog)
        if parent is None or target.get(hop.relationship, {}) is None:
            target[hop.relationship] = None
            return
        if hop.relationship not in target:
            parent_id = parent.get("Id") or current[hop.foreign_key]
            target[hop.relationship] = {"attributes": catalog.attributes(hop.target, parent_id)}
        target, current = target[hop.relationship], parent
    target[path.field] = current.get(path.field)
