"""The emulator's SOQL engine: `parse` text into a `Query`, then `execute` it over records.

The grammar and syntax tree live in `soql_grammar`, evaluation in `soql_eval`; callers import
from here.
"""

from cosell.emulators.salesforce.soql_eval import Catalog, QueryResult, execute
from cosell.emulators.salesforce.soql_grammar import (
    Comparison,
    Condition,
    FieldPath,
    Junction,
    Like,
    Membership,
    Negation,
    OrderItem,
    Query,
    RelativeDate,
    SoqlError,
    Value,
    parse,
)

__all__ = [
    "Catalog",
    "Comparison",
    "Condition",
    "FieldPath",
    "Junction",
    "Like",
    "Membership",
    "Negation",
    "OrderItem",
    "Query",
    "QueryResult",
    "RelativeDate",
    "SoqlError",
    "Value",
    "execute",
    "parse",
]
