"""The emulator's SOQL engine: `parse` text into a `Query`, then `execute` it over records.

The grammar and syntax tree live in `soql_grammar`, evaluation in `soql_eval` and
`soql_subquery` (parent-to-child subqueries); callers import from here.
"""

from cosell.emulators.salesforce.soql_dates import RelativeDate
from cosell.emulators.salesforce.soql_eval import Catalog, QueryResult
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
    SemiJoin,
    SoqlError,
    Subquery,
    Value,
    parse,
)
from cosell.emulators.salesforce.soql_subquery import execute

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
    "SemiJoin",
    "SoqlError",
    "Subquery",
    "Value",
    "execute",
    "parse",
]
