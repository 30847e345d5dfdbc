"""SOQL text to a `Query` value: the grammar (lark, LALR) and the syntax tree it produces.

Only the subset cosell and its users send is accepted; anything else is a ``MALFORMED_QUERY``
with Salesforce's "unexpected token" wording and a row/column pointer.
"""

from __future__ import annotations

import re
from collections.abc import Callable, Iterator
from dataclasses import dataclass, replace
from datetime import date, datetime
from functools import lru_cache
from typing import Any, Literal

import lark

from cosell.emulators.salesforce.soql_dates import RelativeDate, relative_date

PARSED = 256
"""Query texts whose parse is kept (the most recently used)."""

_GRAMMAR = r"""
start: _SELECT select_list _FROM NAME _clauses
subquery: "(" _SELECT item_list _FROM NAME _clauses ")"
_clauses: where_clause? order_clause? limit_clause? offset_clause?

select_list: count_call | item_list
item_list: _item ("," _item)*
_item: path | subquery
count_call: _COUNT "(" ")"
path: NAME ("." NAME)*

where_clause: _WHERE condition
?condition: unary | and_chain | or_chain
and_chain: unary (_AND unary)+
or_chain: unary (_OR unary)+
?unary: negation | atom
negation: _NOT atom
?atom: comparison | membership | semi_join | "(" condition ")"
comparison: path OPERATOR value
membership: path IN_OP "(" value ("," value)* ")"
semi_join: path IN_OP subquery
value: STRING | NUMBER | DATETIME | DATE | NULL | TRUE | FALSE | DATE_LITERAL

order_clause: _ORDER _BY order_item ("," order_item)*
order_item: path DIRECTION? NULLS_POSITION?
limit_clause: _LIMIT INT
offset_clause: _OFFSET INT

_SELECT.2: /select\b/i
_FROM.2: /from\b/i
_COUNT.2: /count\b/i
_WHERE.2: /where\b/i
_AND.2: /and\b/i
_OR.2: /or\b/i
_NOT.2: /not\b/i
_ORDER.2: /order\b/i
_BY.2: /by\b/i
_LIMIT.2: /limit\b/i
_OFFSET.2: /offset\b/i
IN_OP.2: /(not\s+)?in\b/i
OPERATOR.2: /!=|<>|<=|>=|=|<|>|like\b/i
DIRECTION.2: /(asc|desc)\b/i
NULLS_POSITION.2: /nulls\s+(first|last)\b/i
NULL.2: /null\b/i
TRUE.2: /true\b/i
FALSE.2: /false\b/i
DATETIME.4: /\d{4}-\d{2}-\d{2}T\d{2}:\d{2}:\d{2}(\.\d{1,3})?(Z|[+-]\d{2}:\d{2})/
DATE.3: /\d{4}-\d{2}-\d{2}/
NUMBER: /[+-]?(\d+(\.\d*)?|\.\d+)/
INT: /\d+/
STRING: /'(?:[^'\\]|\\.)*'/s
DATE_LITERAL: /[a-z][a-z0-9_]*(:\d+)?/i
NAME: /(?!(RESERVED)\b)[a-z][a-z0-9_]*/i

%ignore /\s+/
"""
# Salesforce's reserved words can never name a field or an object (ORDER and OFFSET can: Order).
_RESERVED = "and asc desc excludes first from group having in includes last like limit not null"
_RESERVED += " nulls or select where with"
_GRAMMAR = _GRAMMAR.replace("RESERVED", "|".join(_RESERVED.split()))

_PARSER = lark.Lark(_GRAMMAR, parser="lalr", lexer="contextual", maybe_placeholders=False)

_ESCAPES = {"'": "'", '"': '"', "\\": "\\", "n": "\n", "r": "\r", "t": "\t", "b": "\b", "f": "\f"}


class SoqlError(Exception):
    """A query Salesforce would refuse; `error_code` is its errorCode (``MALFORMED_QUERY``...)."""

    def __init__(self, error_code: str, message: str) -> None:
        super().__init__(f"{error_code}: {message}")
        self.error_code = error_code
        self.message = message


@dataclass(frozen=True)
class FieldPath:
    """A field as written: ``("Name",)`` or a parent path ``("Account", "Owner", "Email")``."""

    parts: tuple[str, ...]

    def __str__(self) -> str:
        return ".".join(self.parts)


Value = str | int | float | bool | date | datetime | RelativeDate | None
Operator = Literal["=", "!=", "<", "<=", ">", ">="]
_SYMBOLS: dict[str, Operator] = {
    "=": "=",
    "!=": "!=",
    "<>": "!=",
    "<": "<",
    "<=": "<=",
    ">": ">",
    ">=": ">=",
}


@dataclass(frozen=True)
class Comparison:
    """``field <operator> value``; a `RelativeDate` value compares against its whole range."""

    field: FieldPath
    operator: Operator
    value: Value


@dataclass(frozen=True)
class Membership:
    """``field IN (...)`` or, when `negated`, ``field NOT IN (...)``."""

    field: FieldPath
    values: tuple[Value, ...]
    negated: bool


@dataclass(frozen=True)
class SemiJoin:
    """``field IN (SELECT idField FROM Object WHERE ...)``; ``NOT IN`` when `negated`."""

    field: FieldPath
    query: Query
    negated: bool


@dataclass(frozen=True)
class Like:
    """``field LIKE '...'``; `pattern` is the equivalent anchored Python regular expression,
    `fragments` the literal runs between its wildcards (each is in every value it matches)."""

    field: FieldPath
    pattern: str
    fragments: tuple[str, ...] = ()


@dataclass(frozen=True)
class Junction:
    """Two or more conditions joined by one kind of connective (SOQL forbids mixing them)."""

    kind: Literal["AND", "OR"]
    operands: tuple[Condition, ...]


@dataclass(frozen=True)
class Negation:
    """``NOT condition``."""

    operand: Condition


Condition = Comparison | Membership | SemiJoin | Like | Junction | Negation


@dataclass(frozen=True)
class OrderItem:
    """One ORDER BY key."""

    field: FieldPath
    descending: bool
    nulls_first: bool


@dataclass(frozen=True)
class Query:
    """A parsed SOQL query, not yet checked against any schema.

    In a `Subquery`, `sobject` is the child relationship name the inner FROM names.
    """

    sobject: str
    fields: tuple[FieldPath, ...]
    count: bool
    where: Condition | None
    order_by: tuple[OrderItem, ...]
    limit: int | None
    offset: int | None
    subqueries: tuple[Subquery, ...] = ()


@dataclass(frozen=True)
class Subquery:
    """A parent-to-child subquery; `position` is how many fields precede it in the SELECT."""

    query: Query
    position: int


class _BadToken(Exception):
    """A token the grammar accepts but whose text is not a valid literal."""

    def __init__(self, token: lark.Token) -> None:
        super().__init__(str(token))
        self.token = token


_COUNT_ONLY = object()
_Selection = tuple[tuple[FieldPath, ...], bool, tuple[Subquery, ...]]


class _ToQuery(lark.Transformer[lark.Token, Query]):
    """Turns the lark parse tree into `Query` values, decoding literals on the way."""

    def start(self, items: list[Any]) -> Query:
        (fields, count, subqueries), sobject, *clauses = items
        parts: dict[str, Any] = dict(clauses)
        return Query(
            sobject=str(sobject),
            fields=fields,
            count=count,
            where=parts.get("where"),
            order_by=parts.get("order", ()),
            limit=parts.get("limit"),
            offset=parts.get("offset"),
            subqueries=subqueries,
        )

    def subquery(self, items: list[Any]) -> Query:
        (fields, subqueries), *rest = items
        return self.start([(fields, False, subqueries), *rest])

    def select_list(self, items: list[Any]) -> _Selection:
        if items[0] is _COUNT_ONLY:
            return (), True, ()
        fields, subqueries = items[0]
        return fields, False, subqueries

    def item_list(self, items: list[Any]) -> tuple[tuple[FieldPath, ...], tuple[Subquery, ...]]:
        fields = [item for item in items if isinstance(item, FieldPath)]
        subqueries, seen = [], 0
        for item in items:
            if isinstance(item, Query):
                subqueries.append(Subquery(item, seen))
            else:
                seen += 1
        return tuple(fields), tuple(subqueries)

    def count_call(self, _items: list[Any]) -> object:
        return _COUNT_ONLY

    def path(self, items: list[lark.Token]) -> FieldPath:
        return FieldPath(tuple(str(item) for item in items))

    def where_clause(self, items: list[Any]) -> tuple[str, Condition]:
        return "where", items[0]

    def and_chain(self, items: list[Condition]) -> Junction:
        return Junction("AND", tuple(items))

    def or_chain(self, items: list[Condition]) -> Junction:
        return Junction("OR", tuple(items))

    def negation(self, items: list[Condition]) -> Negation:
        return Negation(items[0])

    def comparison(self, items: list[Any]) -> Comparison | Like:
        field, operator, token = items
        symbol = str(operator).upper()
        if symbol == "LIKE":
            if token.type != "STRING":
                raise _BadToken(token)
            return Like(field, _like_pattern(token), _like_fragments(token))
        return Comparison(field, _SYMBOLS[symbol], _decode(token))

    def membership(self, items: list[Any]) -> Membership:
        field, operator, *tokens = items
        negated = str(operator).upper().startswith("NOT")
        return Membership(field, tuple(_decode(token) for token in tokens), negated)

    def semi_join(self, items: list[Any]) -> SemiJoin:
        field, operator, query = items
        return SemiJoin(field, query, str(operator).upper().startswith("NOT"))

    def value(self, items: list[lark.Token]) -> lark.Token:
        return items[0]

    def order_clause(self, items: list[OrderItem]) -> tuple[str, tuple[OrderItem, ...]]:
        return "order", tuple(items)

    def order_item(self, items: list[Any]) -> OrderItem:
        field, *modifiers = items
        words = {token.type: str(token).upper() for token in modifiers}
        descending = words.get("DIRECTION") == "DESC"
        nulls = words.get("NULLS_POSITION", "NULLS LAST" if descending else "NULLS FIRST")
        return OrderItem(field, descending, nulls.endswith("FIRST"))

    def limit_clause(self, items: list[lark.Token]) -> tuple[str, int]:
        return "limit", int(items[0])

    def offset_clause(self, items: list[lark.Token]) -> tuple[str, int]:
        return "offset", int(items[0])


def _decode(token: lark.Token) -> Value:
    try:
        return _DECODERS[token.type](str(token))
    except (ValueError, KeyError):
        raise _BadToken(token) from None


def _decode_datetime(text: str) -> datetime:
    # Salesforce keeps datetimes to the second, so a literal's milliseconds never matter.
    return datetime.fromisoformat(text).replace(microsecond=0)


def _decode_number(text: str) -> int | float:
    return float(text) if "." in text else int(text)


def _decode_string(text: str) -> str:
    if "\\" not in text:  # nothing escaped: the quotes are all there is to take off
        return text[1:-1]
    return "".join("\\" + char if wildcard else char for char, wildcard in _pieces(text))


_DECODERS: dict[str, Callable[[str], Value]] = {
    "STRING": _decode_string,
    "NUMBER": _decode_number,
    "DATETIME": _decode_datetime,
    "DATE": date.fromisoformat,
    "NULL": lambda _text: None,
    "TRUE": lambda _text: True,
    "FALSE": lambda _text: False,
    "DATE_LITERAL": relative_date,
}


def _pieces(quoted: str) -> Iterator[tuple[str, bool]]:
    """The characters of a quoted literal, each flagged when it is an escaped ``%`` or ``_``."""
    chars = iter(quoted[1:-1])
    for char in chars:
        if char != "\\":
            yield char, False
            continue
        escaped = next(chars)
        if escaped in "%_":
            yield escaped, True
        elif escaped.lower() in _ESCAPES:
            yield _ESCAPES[escaped.lower()], False
        else:
            raise ValueError(f"illegal escape \\{escaped}")


def _like_pattern(token: lark.Token) -> str:
    try:
        return _pattern_of(str(token))
    except ValueError:
        raise _BadToken(token) from None


def _pattern_of(quoted: str) -> str:
    """A quoted LIKE literal as a Python regular expression; ValueError for a bad escape."""
    wildcards = {"%": ".*", "_": "."}
    return "".join(
        re.escape(char) if escaped else wildcards.get(char, re.escape(char))
        for char, escaped in _pieces(quoted)
    )


def _like_fragments(token: lark.Token) -> tuple[str, ...]:
    return _fragments_of(str(token))  # valid: _like_pattern read it first


def _fragments_of(quoted: str) -> tuple[str, ...]:
    runs = [""]
    for char, escaped in _pieces(quoted):
        if char in "%_" and not escaped:
            runs.append("")
        else:
            runs[-1] += char
    return tuple(run for run in runs if run)


def parse(text: str) -> Query:
    """Parse SOQL text; raises `SoqlError` ``MALFORMED_QUERY`` for anything outside the subset.

    A query is parsed once per shape: its quoted strings and dateTime literals are swapped for
    placeholders, the text so masked is parsed once and kept (a `Query` is immutable; relative
    dates such as ``TODAY`` stay symbolic until a query runs), and the literals are put back
    into a copy. A client sends a few shapes again and again with other values: a poll with
    the watermark it has reached (``SystemModstamp >= …``), a read with the id it reads, an
    account match with the customer's name. Parsing each text anew cost 1-5 ms of the
    emulator's time a query (lark, in Python), the largest single cost of the sandbox while
    records flow. Anything the masked text cannot be parsed as is parsed as written, so an
    error names the place in the text the client sent."""
    literals = _Literals()
    try:
        shape = _LITERALS.sub(literals.mask, text)
    except ValueError:  # a literal that does not decode: parsed as written, which says where
        return _parsed(text)
    if not literals.strings and not literals.moments:
        return _parsed(text)
    try:
        return literals.filled(_parsed(shape))
    except SoqlError:
        return _parsed(text)


_LITERALS = re.compile(
    r"(?P<string>'(?:[^'\\]|\\.)*')"
    r"|(?<![\w.:+-])(?P<moment>\d{4}-\d{2}-\d{2}T\d{2}:\d{2}:\d{2}(?:\.\d{1,3})?"
    r"(?:Z|[+-]\d{2}:\d{2}))(?![\w.:])",
    re.DOTALL,
)
"""A quoted string or a dateTime literal, as the lexer reads them."""
_MOMENTS = 24 * 3600
"""DateTime placeholders: the seconds of 1 January of year 1."""


class _Literals:
    """The literals of one text, each swapped for the placeholder of its place."""

    def __init__(self) -> None:
        self.strings: list[str] = []
        self.moments: list[datetime] = []

    def mask(self, found: re.Match[str]) -> str:
        quoted = found.group("string")
        if quoted is not None:
            if "\\" in quoted:  # an illegal escape: ValueError, the text is parsed as written
                _pattern_of(quoted)
            self.strings.append(quoted)
            return f"'{len(self.strings) - 1}'"
        if len(self.moments) >= _MOMENTS:
            return found.group(0)
        self.moments.append(_decode_datetime(found.group("moment")))
        index = len(self.moments) - 1
        return f"0001-01-01T{index // 3600:02d}:{index // 60 % 60:02d}:{index % 60:02d}Z"

    def filled(self, query: Query) -> Query:
        """`query` (the masked text's) with each literal put back where its placeholder is:
        every string and dateTime in it is a placeholder."""
        where = None if query.where is None else self._condition(query.where)
        subqueries = tuple(replace(s, query=self.filled(s.query)) for s in query.subqueries)
        return replace(query, where=where, subqueries=subqueries)

    def _value(self, item: Value) -> Value:
        if isinstance(item, datetime):
            return self.moments[item.hour * 3600 + item.minute * 60 + item.second]
        if isinstance(item, str):
            return _decode_string(self.strings[int(item)])
        return item

    def _condition(self, node: Condition) -> Condition:
        if isinstance(node, Comparison):
            return replace(node, value=self._value(node.value))
        if isinstance(node, Membership):
            return replace(node, values=tuple(self._value(v) for v in node.values))
        if isinstance(node, Like):
            quoted = self.strings[int(node.fragments[0])]
            return replace(node, pattern=_pattern_of(quoted), fragments=_fragments_of(quoted))
        if isinstance(node, SemiJoin):
            return replace(node, query=self.filled(node.query))
        if isinstance(node, Junction):
            return replace(node, operands=tuple(self._condition(o) for o in node.operands))
        return replace(node, operand=self._condition(node.operand))


@lru_cache(maxsize=PARSED)
def _parsed(text: str) -> Query:
    """``text`` parsed as written, the most recently used kept."""
    try:
        return _ToQuery().transform(_PARSER.parse(text))
    except lark.UnexpectedToken as exc:
        token = exc.token
        if token.type == "$END":
            raise _malformed_at_end(text) from None
        raise _malformed(text, exc.line, exc.column, str(token)) from None
    except lark.UnexpectedCharacters as exc:
        raise _malformed(text, exc.line, exc.column, exc.char) from None
    except lark.exceptions.VisitError as exc:
        if not isinstance(exc.orig_exc, _BadToken):
            raise
        token = exc.orig_exc.token
        raise _malformed(text, token.line or 1, token.column or 1, str(token)) from None
    except RecursionError:
        raise SoqlError("MALFORMED_QUERY", "query is nested too deeply") from None


def _malformed_at_end(text: str) -> SoqlError:
    lines = text.split("\n")
    return _malformed(text, len(lines), len(lines[-1]) + 1, "<EOF>")


def _malformed(text: str, line: int, column: int, token: str) -> SoqlError:
    lines = text.split("\n")
    source = lines[line - 1] if 0 < line <= len(lines) else ""
    pointer = " " * max(column - 1, 0) + "^"
    return SoqlError(
        "MALFORMED_QUERY",
        f"\n{source}\n{pointer}\nERROR at Row:{line}:Column:{column}\nunexpected token: '{token}'",
    )
