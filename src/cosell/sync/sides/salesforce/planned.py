"""SOQL reads planned before they are made, so that several can share one request.

A read that needs a few queries (an ``IN`` list longer than one ``WHERE`` holds, the account
candidates of a page's customers) is a :class:`Planned`: its queries, and what their rows come
to. :func:`run_together` makes the queries of several in ``composite`` calls of five query
subrequests (one API call each) instead of a call per query; :meth:`Planned.run` makes them
one by one.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import dataclass
from typing import Any, Generic, TypeVar

from cosell.clients.salesforce import SalesforceClient

T = TypeVar("T")
Row = dict[str, Any]


@dataclass(frozen=True)
class Planned(Generic[T]):
    """SOQL queries to make, and what their rows (in the same order) come to."""

    soql: list[str]
    finish: Callable[[list[list[Row]]], T]

    def run(self, client: SalesforceClient) -> T:
        """Each query as a call of its own."""
        return self.finish([[dict(r) for r in client.query(soql)] for soql in self.soql])


def rows_together(client: SalesforceClient, soql: Sequence[str]) -> list[list[Row]]:
    """Every row of each query, the first pages of five queries to a ``composite`` call (a
    single query as itself: the same one call)."""
    if len(soql) == 1:
        return [[dict(r) for r in client.query(soql[0])]]
    pages = client.query_together([("query", text) for text in soql])
    return [[dict(r) for r in rows] for rows in pages]


def run_together(client: SalesforceClient, *planned: Planned[Any]) -> list[Any]:
    """Each plan's result, its queries made with the others' (see :func:`rows_together`)."""
    every = [soql for plan in planned for soql in plan.soql]
    rows = rows_together(client, every) if every else []
    results: list[Any] = []
    start = 0
    for plan in planned:
        results.append(plan.finish(rows[start : start + len(plan.soql)]))
        start += len(plan.soql)
    return results
