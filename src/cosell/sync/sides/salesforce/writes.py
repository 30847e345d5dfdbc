"""An opportunity's writes gathered into one request instead of one call each.

A create (account, contacts, the opportunity, contact roles, solution rows, team members and the
notes Note) is one composite **graph**: a single transaction of up to 500 nodes, later nodes
citing earlier ones' new ids with ``@{ref.id}``. An update is one **composite** request with
``allOrNone``: it can carry the opportunity's ``If-Unmodified-Since`` guard as a subrequest
header (graph nodes cannot, as far as Salesforce documents), and holds 25 subrequests.

Either way a failure rolls every write of the request back, and the failing node's own error
(not the ``PROCESSING_HALTED`` notices of its siblings) is raised as the ``cosell.errors`` class
the same write would raise alone: a restricted picklist value is a ``RecordRejected`` naming the
field, a lost race a ``StaleWrite``, a locked row a retryable ``ServerError``.

More nodes than one request holds are sent in consecutive requests of the largest size allowed,
each atomic on its own, the ids of earlier requests written into the later ones' references.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any

from cosell.clients.salesforce import SalesforceClient
from cosell.clients.salesforce_composite import (
    COMPOSITE_LIMIT,
    GRAPH_NODE_LIMIT,
    REFERENCE,
    Graph,
    GraphNode,
    NodeResult,
    recited,
    root_error,
)


@dataclass
class Work:
    """The nodes of one opportunity's writes, in the order they must run."""

    nodes: list[GraphNode] = field(default_factory=list)
    _counts: dict[str, int] = field(default_factory=dict)

    def add(
        self,
        kind: str,
        method: str,
        path: str,
        body: Mapping[str, Any] | None = None,
        headers: Mapping[str, str] | None = None,
    ) -> str:
        """Append a node; its ``@{ref.id}`` reference (for a create or an upsert)."""
        n = self._counts.get(kind, 0)
        self._counts[kind] = n + 1
        reference_id = f"{kind}{n}"
        self.nodes.append(GraphNode(reference_id, method, path, body, headers))
        return f"@{{{reference_id}.id}}"

    def __bool__(self) -> bool:
        return bool(self.nodes)

    def create(self, sobject: str, body: Mapping[str, Any], kind: str = "") -> str:
        kind = kind or sobject.lower().replace("_", "")
        return self.add(kind, "POST", f"sobjects/{sobject}", body)

    def update(
        self,
        sobject: str,
        record_id: str,
        body: Mapping[str, Any],
        headers: Mapping[str, str] | None = None,
    ) -> None:
        self.add("upd", "PATCH", f"sobjects/{sobject}/{record_id}", body, headers)

    def delete(self, sobject: str, record_id: str) -> None:
        self.add("del", "DELETE", f"sobjects/{sobject}/{record_id}")


def send_graph(client: SalesforceClient, work: Work, graph_id: str) -> dict[str, NodeResult]:
    """Run the work as a composite graph (one call up to 500 nodes); results by reference."""

    def one(nodes: Sequence[GraphNode]) -> Sequence[NodeResult]:
        (result,) = client.composite_graph([Graph(graph_id, nodes)])
        return result.nodes

    return _send(work.nodes, GRAPH_NODE_LIMIT, one)


def send_composite(client: SalesforceClient, work: Work) -> dict[str, NodeResult]:
    """Run the work as ``composite`` requests with ``allOrNone`` (one call up to 25 nodes, shared
    with other workers' works when the client coalesces); a single write goes as itself (the
    same one call, without the envelope)."""
    if len(work.nodes) == 1 and not REFERENCE.search(str(work.nodes[0])):
        node = work.nodes[0]
        return {node.reference_id: client.send_node(node)}
    if len(work.nodes) <= COMPOSITE_LIMIT:
        return _send(work.nodes, COMPOSITE_LIMIT, client.send_work)
    return _send(work.nodes, COMPOSITE_LIMIT, lambda nodes: client.composite(nodes))


def _send(
    nodes: Sequence[GraphNode],
    size: int,
    one: Callable[[Sequence[GraphNode]], Sequence[NodeResult]],
) -> dict[str, NodeResult]:
    done: dict[str, NodeResult] = {}
    for start in range(0, len(nodes), size):
        batch = [_resolved(node, done) for node in nodes[start : start + size]]
        results = one(batch)
        error = root_error(results)
        if error is not None:
            raise error
        done.update({str(r.reference_id): r for r in results})
    return done


def _resolved(node: GraphNode, done: Mapping[str, NodeResult]) -> GraphNode:
    """The node with references to earlier requests' results replaced by their ids."""
    if not done:
        return node

    def result_id(name: str) -> str | None:
        found = done.get(name)
        return found.id if found is not None else None

    return recited(node, result_id)
