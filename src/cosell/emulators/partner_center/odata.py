"""The OData ``$filter`` subset Partner Center's referral list understands, parsed with a grammar.

Supported: ``eq ne gt ge lt le``, ``and``/``or``/``not``, parentheses, nested paths
(``customerProfile/address/country``), string/number/bool/null/GUID/datetime literals, and the
``any``/``all`` lambdas over collections (``team/any(t:t/email eq 'x')``). ``parse_filter`` turns
the text into a predicate over a referral, or raises :class:`FilterError` naming the problem.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping, Sequence
from datetime import datetime
from functools import lru_cache
from typing import Any

from lark import Lark, Token, Transformer, v_args
from lark.exceptions import LarkError, UnexpectedInput, VisitError

from cosell.emulators.partner_center.responses import parse_time

GRAMMAR = r"""
?start: or_expr
?or_expr: and_expr | or_expr _OR and_expr -> or_
?and_expr: not_expr | and_expr _AND not_expr -> and_
?not_expr: atom | _NOT not_expr -> not_
?atom: comparison | lambda_ | "(" or_expr ")"
comparison: operand COMPARE operand
lambda_: path "/" QUANTIFIER "(" [NAME ":" or_expr] ")"
?operand: literal | path
path: NAME ("/" NAME)*
?literal: STRING -> string
        | DATETIME -> datetime_
        | GUID -> guid
        | NUMBER -> number
        | TRUE -> true
        | FALSE -> false
        | NULL -> null

_OR.2: /or\b/i
_AND.2: /and\b/i
_NOT.2: /not\b/i
COMPARE.2: /(eq|ne|gt|ge|lt|le)\b/i
QUANTIFIER.2: /(any|all)\b/i
TRUE.2: /true\b/i
FALSE.2: /false\b/i
NULL.2: /null\b/i
DATETIME.4: /\d{4}-\d{2}-\d{2}T\d{2}:\d{2}(:\d{2}(\.\d+)?)?(Z|[+-]\d{2}:\d{2})?/i
GUID.4: /[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}/i
NUMBER.3: /-?\d+(\.\d+)?/
STRING: /'([^']|'')*'/
NAME: /[A-Za-z_@][A-Za-z0-9_.@]*/
%ignore /\s+/
"""

Env = Mapping[str, Any]
Predicate = Callable[[Mapping[str, Any], Env], bool]
Operand = Callable[[Mapping[str, Any], Env], Any]


class FilterError(ValueError):
    """A ``$filter`` that cannot be parsed; the message names the problem and its position."""


_PARSER = Lark(GRAMMAR, parser="earley", maybe_placeholders=True)

_COMPARISONS: dict[str, Callable[[Any, Any], bool]] = {
    "eq": lambda a, b: a == b,
    "ne": lambda a, b: a != b,
    "gt": lambda a, b: a > b,
    "ge": lambda a, b: a >= b,
    "lt": lambda a, b: a < b,
    "le": lambda a, b: a <= b,
}


def parse_filter(text: str) -> Callable[[Mapping[str, Any]], bool]:
    """Compile ``text`` into a predicate over one referral (a JSON object)."""
    try:
        tree = _PARSER.parse(text)
        predicate: Predicate = _Compiler().transform(tree)
    except UnexpectedInput as exc:
        if exc.column < 1:
            raise FilterError(f"$filter ends unexpectedly: {text!r}") from exc
        snippet = text[exc.column - 1 : exc.column + 19]
        raise FilterError(f"$filter syntax error at position {exc.column}: {snippet!r}") from exc
    except VisitError as exc:
        raise FilterError(f"$filter is invalid: {exc.orig_exc}") from exc
    except LarkError as exc:
        raise FilterError(f"$filter is invalid: {exc}") from exc
    return lambda item: bool(predicate(item, {}))


@lru_cache(maxsize=64)
def filter_fields(text: str) -> frozenset[str]:
    """The top-level fields a valid ``$filter`` reads (the first segment of each path; a lambda
    variable's paths name the variable, which is no field: callers that keep only known fields
    treat such a filter as reading an unknown one)."""
    tree = _PARSER.parse(text)
    return frozenset(str(node.children[0]) for node in tree.iter_subtrees() if node.data == "path")


def resolve(item: Mapping[str, Any], env: Env, segments: Sequence[str]) -> Any:
    """The value at ``a/b/c``; a first segment naming a lambda variable starts from it."""
    value: Any = env[segments[0]] if segments[0] in env else item.get(segments[0])
    for segment in segments[1:]:
        value = value.get(segment) if isinstance(value, Mapping) else None
    return value


@v_args(inline=True)
class _Compiler(Transformer[Token, Predicate]):
    def or_(self, left: Predicate, right: Predicate) -> Predicate:
        return lambda item, env: left(item, env) or right(item, env)

    def and_(self, left: Predicate, right: Predicate) -> Predicate:
        return lambda item, env: left(item, env) and right(item, env)

    def not_(self, inner: Predicate) -> Predicate:
        return lambda item, env: not inner(item, env)

    def comparison(self, left: Operand, op: Token, right: Operand) -> Predicate:
        compare = _COMPARISONS[op.lower()]
        return lambda item, env: _compare(compare, left(item, env), right(item, env))

    def lambda_(self, path: Operand, quantifier: Token, var: Token | None, body: Any) -> Predicate:
        quantify = any if quantifier.lower() == "any" else all

        def test(item: Mapping[str, Any], env: Env) -> bool:
            members = path(item, env)
            if not isinstance(members, list):
                return quantify is all
            if var is None:
                return bool(members) if quantify is any else True
            return quantify(body(item, {**env, str(var): m}) for m in members)

        return test

    def path(self, *names: Token) -> Operand:
        segments = [str(n) for n in names]
        return lambda item, env: resolve(item, env, segments)

    def string(self, token: Token) -> Operand:
        value = token[1:-1].replace("''", "'")
        return lambda item, env: value

    def datetime_(self, token: Token) -> Operand:
        value = parse_time(str(token))
        return lambda item, env: value

    def guid(self, token: Token) -> Operand:
        value = str(token)
        return lambda item, env: value

    def number(self, token: Token) -> Operand:
        value = float(token) if "." in token else int(token)
        return lambda item, env: value

    def true(self, _token: Token) -> Operand:
        return lambda item, env: True

    def false(self, _token: Token) -> Operand:
        return lambda item, env: False

    def null(self, _token: Token) -> Operand:
        return lambda item, env: None


def _compare(compare: Callable[[Any, Any], bool], left: Any, right: Any) -> bool:
    left, right = _coerce(left, right), _coerce(right, left)
    if left is None or right is None:
        return compare is _COMPARISONS["ne"] if left is not right else compare(0, 0)
    try:
        return compare(left, right)
    except TypeError:
        return compare is _COMPARISONS["ne"]


def _coerce(value: Any, other: Any) -> Any:
    """Compare timestamps as instants and GUIDs case-insensitively, like the service does."""
    if isinstance(other, datetime) and isinstance(value, str):
        try:
            return parse_time(value)
        except ValueError:
            return value
    if isinstance(value, str) and _looks_like_guid(value) and isinstance(other, str):
        return value.lower()
    return value


def _looks_like_guid(text: str) -> bool:
    return len(text) == 36 and text.count("-") == 4
