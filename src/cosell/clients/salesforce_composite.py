"""Composite graph and sObject Tree as values: what the client sends and what it gets back.

A graph is a transaction of single-record calls linked by ``@{ref.id}`` references; a failing
node rolls its graph back. Each node's outcome keeps its own error as a ``cosell.errors`` class
(``RecordRejected``, ``ServerError`` for ``UNABLE_TO_LOCK_ROW`` …), and ``GraphResult.error`` is
the root cause: the first error that is not a ``PROCESSING_HALTED`` rollback notice.
"""

from __future__ import annotations

import re
from collections.abc import Callable, Collection, Iterator, Mapping, Sequence
from dataclasses import dataclass, replace
from typing import Any

from cosell.clients.salesforce_errors import error_from_body
from cosell.errors import APIError

GRAPH_LIMIT = 75
GRAPH_NODE_LIMIT = 500
COMPOSITE_LIMIT = 25
COMPOSITE_QUERY_LIMIT = 5
"""Of a ``composite`` request's 25 subrequests, at most 5 are collections or queries."""
HALTED = "PROCESSING_HALTED"
REFERENCE = re.compile(r"@\{([A-Za-z0-9_]+)\.id\}")
"""A subrequest's citation of an earlier one's new id, ``@{ref.id}``."""


@dataclass(frozen=True)
class GraphNode:
    """One subrequest: ``path`` is an API path (``sobjects/Contact``) or an absolute URL path."""

    reference_id: str
    method: str
    path: str
    body: Mapping[str, Any] | None = None
    headers: Mapping[str, str] | None = None
    """``httpHeaders`` of the subrequest (``If-Unmodified-Since``): ``composite`` only, never
    sent in a graph, where their support is not documented."""


def recited(node: GraphNode, cite: Callable[[str], str | None]) -> GraphNode:
    """``node`` with each ``@{name.id}`` in its path and string body values replaced by
    ``cite(name)`` (kept as it is where that is None)."""

    def text(value: str) -> str:
        def one(match: re.Match[str]) -> str:
            found = cite(match.group(1))
            return match.group(0) if found is None else found

        return REFERENCE.sub(one, value)

    body = None
    if node.body is not None:
        body = {k: text(v) if isinstance(v, str) else v for k, v in node.body.items()}
    return replace(node, path=text(node.path), body=body)


def renamed(node: GraphNode, prefix: str, own: Collection[str]) -> GraphNode:
    """``node`` with its reference id, and its citations of the nodes named in ``own``, prefixed:
    several works keep their own names in one request."""
    cited = recited(node, lambda name: f"@{{{prefix}{name}.id}}" if name in own else None)
    return replace(cited, reference_id=prefix + node.reference_id)


def is_query_or_collection(node: GraphNode) -> bool:
    """Counts against a composite's five query or collections subrequests."""
    path = node.path.split("/", 4)[-1] if node.path.startswith("/services/data/") else node.path
    return path.startswith(("query", "queryAll", "composite/sobjects"))


@dataclass(frozen=True)
class Graph:
    """One transaction of nodes; ``graph_id`` must be unique in its request."""

    graph_id: str
    nodes: Sequence[GraphNode]


@dataclass(frozen=True)
class NodeResult:
    """One node's answer: status, body, and the error it carries (None on success)."""

    reference_id: str | None
    status: int
    body: Any
    error: APIError | None

    @property
    def id(self) -> str | None:
        """The record id a create or upsert answered with."""
        return str(self.body["id"]) if isinstance(self.body, dict) and "id" in self.body else None

    @property
    def halted(self) -> bool:
        """Rolled back or skipped because another node of the graph failed."""
        return self.error is not None and self.error.code == HALTED


@dataclass(frozen=True)
class GraphResult:
    """One graph's outcome, nodes in request order."""

    graph_id: str
    successful: bool
    nodes: tuple[NodeResult, ...]

    def node(self, reference_id: str) -> NodeResult:
        return next(n for n in self.nodes if n.reference_id == reference_id)

    @property
    def error(self) -> APIError | None:
        """The root cause of a failed graph (the first error that isn't a rollback notice)."""
        return root_error(self.nodes)

    @property
    def not_run(self) -> bool:
        """Every node ``PROCESSING_HALTED``: Salesforce did not run the graph (14 others of its
        request had failed), so nothing of it was written and it may be sent again."""
        return not self.successful and bool(self.nodes) and all(n.halted for n in self.nodes)


@dataclass(frozen=True)
class TreeResult:
    """An sObject Tree's outcome: new ids by ``referenceId``, or the failing records' errors
    (then nothing was inserted)."""

    ids: Mapping[str, str]
    errors: Mapping[str, APIError]

    @property
    def ok(self) -> bool:
        return not self.errors


def graph_batches(graphs: Sequence[Graph]) -> Iterator[list[Graph]]:
    """Graphs in request-sized runs: at most 75 graphs and 500 nodes each."""
    batch: list[Graph] = []
    nodes = 0
    for graph in graphs:
        if len(graph.nodes) > GRAPH_NODE_LIMIT:
            raise ValueError(f"graph {graph.graph_id}: more than {GRAPH_NODE_LIMIT} nodes")
        if batch and (len(batch) == GRAPH_LIMIT or nodes + len(graph.nodes) > GRAPH_NODE_LIMIT):
            yield batch
            batch, nodes = [], 0
        batch.append(graph)
        nodes += len(graph.nodes)
    if batch:
        yield batch


def fill_a_request(asked: Sequence[Sequence[Graph]]) -> bool:
    """Whether callers' graphs fill one request: 75 graphs, or no more room beside them for a
    graph as large as their largest. Gathered creates go then, a request at a time, so
    Salesforce runs the first while the later ones are still being planned."""
    graphs = nodes = largest = 0
    for batch in asked:
        for graph in batch:
            graphs += 1
            nodes += len(graph.nodes)
            largest = max(largest, len(graph.nodes))
    return graphs >= GRAPH_LIMIT or nodes + largest > GRAPH_NODE_LIMIT


def graph_body(graphs: Sequence[Graph], url: Callable[[str], str]) -> dict[str, Any]:
    """The request body; `url` turns a node's path into its URL path."""
    return {
        "graphs": [
            {"graphId": g.graph_id, "compositeRequest": [_subrequest(n, url) for n in g.nodes]}
            for g in graphs
        ]
    }


def _subrequest(
    node: GraphNode, url: Callable[[str], str], *, headers: bool = False
) -> dict[str, Any]:
    sub: dict[str, Any] = {
        "method": node.method,
        "url": url(node.path),
        "referenceId": node.reference_id,
    }
    if node.body is not None:
        sub["body"] = dict(node.body)
    if headers and node.headers:
        sub["httpHeaders"] = dict(node.headers)
    return sub


def composite_body(
    nodes: Sequence[GraphNode], url: Callable[[str], str], all_or_none: bool
) -> dict[str, Any]:
    """A ``composite`` request: subrequests in order, ``httpHeaders`` kept, no collation (so
    they run in the order given)."""
    if len(nodes) > COMPOSITE_LIMIT:
        raise ValueError(f"a composite request holds at most {COMPOSITE_LIMIT} subrequests")
    return {
        "allOrNone": all_or_none,
        "collateSubrequests": False,
        "compositeRequest": [_subrequest(n, url, headers=True) for n in nodes],
    }


def composite_results(
    body: Any, nodes: Sequence[GraphNode], url: Callable[[str], str]
) -> tuple[NodeResult, ...]:
    """Parse a ``composite`` response; node errors name the node's method and URL."""
    calls = {n.reference_id: (n.method, url(n.path)) for n in nodes}
    parts = (body or {}).get("compositeResponse") or []
    return tuple(_node(p, calls.get(str(p.get("referenceId")))) for p in parts)


def root_error(nodes: Sequence[NodeResult]) -> APIError | None:
    """The first error that is not a rollback notice (else the first error)."""
    errors = [n.error for n in nodes if n.error is not None]
    return next((e for e in errors if e.code != HALTED), errors[0] if errors else None)


def graph_results(
    body: Any, graphs: Sequence[Graph], url: Callable[[str], str]
) -> list[GraphResult]:
    """Parse a graph response; node errors name the node's method and URL."""
    calls = {(g.graph_id, n.reference_id): (n.method, url(n.path)) for g in graphs for n in g.nodes}
    results = []
    for graph in body.get("graphs") or []:
        graph_id = str(graph.get("graphId"))
        parts = (graph.get("graphResponse") or {}).get("compositeResponse") or []
        nodes = tuple(_node(p, calls.get((graph_id, p.get("referenceId")))) for p in parts)
        results.append(GraphResult(graph_id, bool(graph.get("isSuccessful")), nodes))
    return results


def _node(part: Mapping[str, Any], call: tuple[str, str] | None) -> NodeResult:
    status = int(part.get("httpStatusCode") or 0)
    body = part.get("body")
    error = None
    if status >= 300:
        method, url = call or (None, None)
        error = error_from_body(status, body, method=method, url=url)
    return NodeResult(part.get("referenceId"), status, body, error)


def tree_result(body: Mapping[str, Any], url: str) -> TreeResult:
    """Parse a tree response, successful (201) or not (400 with ``hasErrors``)."""
    ids: dict[str, str] = {}
    errors: dict[str, APIError] = {}
    for item in body.get("results") or []:
        reference_id = str(item.get("referenceId"))
        if item.get("errors"):
            errors[reference_id] = error_from_body(400, item["errors"], method="POST", url=url)
        elif item.get("id"):
            ids[reference_id] = str(item["id"])
    return TreeResult(ids, errors)
