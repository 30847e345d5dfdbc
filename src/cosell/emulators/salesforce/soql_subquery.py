"""Running a query with its parent-to-child subqueries (``SELECT Id, (SELECT ... FROM
OpportunityContactRoles) FROM Opportunity``).

A subquery's FROM names a child relationship of the outer object (``Contacts``, ``X__r``); each
result row carries that relationship as a nested ``{totalSize, done, records}`` or ``null`` when
no child matches. The inner WHERE, ORDER BY, LIMIT and OFFSET apply to each parent's children.
Every relationship, field and filter is checked before any record is read, and the documented
limits hold: at most 20 subqueries, nesting up to 2 levels (root included) through API v57.0 and
5 from v58.0, and OFFSET in a subquery only under a parent query with ``LIMIT 1``.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any

from cosell.emulators.salesforce.soql_eval import (
    Catalog,
    QueryResult,
    Record,
    Selection,
    candidates,
    compile_selection,
    object_name,
    project,
    select,
)
from cosell.emulators.salesforce.soql_grammar import Query, SoqlError, Subquery

MAX_SUBQUERIES = 20
LEVELS_BEFORE_V58 = 2
LEVELS_FROM_V58 = 5


@dataclass
class _Child:
    """A subquery checked against the catalog, and its object's records by parent id."""

    name: str
    foreign_key: str
    position: int
    selection: Selection
    children: tuple[_Child, ...]
    by_parent: dict[str, list[Record]] = field(default_factory=dict)


def execute(
    query: Query,
    catalog: Catalog,
    records: Iterable[Mapping[str, Any]] | None,
    now: datetime,
    levels: int = LEVELS_FROM_V58,
) -> QueryResult:
    """Filter, sort and page `records` of the query's object (None: the catalog's, looked up
    by an index where the WHERE allows) and shape them as Salesforce does.

    `levels` is how deep parent-to-child subqueries may nest, the outer object counting as one.
    """
    sobject = object_name(catalog, query.sobject)
    _check_limits(query, levels)
    selection = compile_selection(query, catalog, sobject, now)
    children = _compile_children(query, catalog, sobject, now)
    if records is None:
        found = candidates(selection, catalog)
        records = catalog.rows(sobject) if found is None else found
    page = select(selection, records, catalog)
    if query.count:
        return QueryResult(rows=[], total_size=len(page))
    _load(children, catalog, [str(r["Id"])[:15] for r in page])
    rows = [_row(selection, record, children, catalog) for record in page]
    return QueryResult(rows=rows, total_size=len(rows))


def _check_limits(query: Query, levels: int) -> None:
    count = _count(query)
    if count > MAX_SUBQUERIES:
        raise SoqlError(
            "MALFORMED_QUERY",
            f"SOQL statements cannot query more than {MAX_SUBQUERIES} different child types: "
            f"this query has {count}",
        )
    if _depth(query) > levels:
        away = levels - 1
        raise SoqlError(
            "MALFORMED_QUERY",
            "SOQL statements cannot query aggregate relationships more than "
            f"{away} level{'s' if away > 1 else ''} away from the root entity object.",
        )
    _check_offsets(query)


def _count(query: Query) -> int:
    return sum(1 + _count(sub.query) for sub in query.subqueries)


def _depth(query: Query) -> int:
    return 1 + max((_depth(sub.query) for sub in query.subqueries), default=0)


def _check_offsets(query: Query) -> None:
    for sub in query.subqueries:
        if sub.query.offset is not None and query.limit != 1:
            raise SoqlError(
                "MALFORMED_QUERY",
                "OFFSET is allowed in a subquery only when its parent query has a LIMIT 1 "
                f"clause: ({sub.query.sobject})",
            )
        _check_offsets(sub.query)


def _compile_children(
    query: Query, catalog: Catalog, sobject: str, now: datetime
) -> tuple[_Child, ...]:
    return tuple(_compile_child(sub, catalog, sobject, now) for sub in query.subqueries)


def _compile_child(sub: Subquery, catalog: Catalog, parent: str, now: datetime) -> _Child:
    link = catalog.child_relationship(parent, sub.query.sobject)
    if link is None:
        raise SoqlError(
            "INVALID_TYPE",
            f"Didn't understand relationship '{sub.query.sobject}' in FROM part of query call. "
            "If you are attempting to use a custom relationship, be sure to append the '__r' "
            "after the custom relationship name. Please reference your WSDL or the describe "
            "call for the appropriate names.",
        )
    name, child, foreign_key = link
    selection = compile_selection(sub.query, catalog, child, now)
    grandchildren = _compile_children(sub.query, catalog, child, now)
    return _Child(name, foreign_key, sub.position, selection, grandchildren)


def _load(children: tuple[_Child, ...], catalog: Catalog, parents: list[str]) -> None:
    """Group each child object's records by the parent they point to (15-character id), for
    the ``parents`` on the page (looked up by the foreign key's index when there is one)."""
    for child in children:
        sobject = child.selection.sobject
        found = catalog.matching(sobject, child.foreign_key, "id", parents)
        for record in catalog.rows(sobject) if found is None else found:
            parent_id = record.get(child.foreign_key)
            if isinstance(parent_id, str) and parent_id:
                child.by_parent.setdefault(parent_id[:15], []).append(record)
        mine = [str(r["Id"])[:15] for rows in child.by_parent.values() for r in rows]
        _load(child.children, catalog, mine)


def _row(
    selection: Selection, record: Record, children: tuple[_Child, ...], catalog: Catalog
) -> dict[str, Any]:
    if not children:
        return project(selection, record, catalog)

    def insert(index: int, row: dict[str, Any]) -> None:
        for child in children:
            if child.position == index:
                row[child.name] = _nested(child, record, catalog)

    return project(selection, record, catalog, insert)


def _nested(child: _Child, parent: Record, catalog: Catalog) -> dict[str, Any] | None:
    """The parent's children as a nested query result; ``None`` when there are none."""
    mine = child.by_parent.get(str(parent["Id"])[:15], [])
    kept = select(child.selection, mine, catalog)
    if not kept:
        return None
    rows = [_row(child.selection, r, child.children, catalog) for r in kept]
    return {"totalSize": len(rows), "done": True, "records": rows}
