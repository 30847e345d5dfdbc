"""What a ``composite/graph`` request must look like before any node runs.

Request shape errors (a missing ``referenceId``, a bad or repeated ``graphId``) fail the whole
call with HTTP 400. The payload limits (75 graphs, 500 nodes per graph and per payload, 15 kinds
of node) answer 200 with one failed graph ``_default``. A graph whose node is not one of the
allowed sObject calls, references a node outside the graph, closes a cycle or is deeper than 15
fails on its own, before it runs.
"""

from __future__ import annotations

import re
from dataclasses import dataclass, field
from typing import Any

from cosell.emulators.salesforce.gateway import Reply
from cosell.emulators.salesforce.subrequest import referenced, references
from cosell.emulators.salesforce.wire import SalesforceError

MAX_GRAPHS = 75
MAX_NODES = 500
MAX_DEPTH = 15
MAX_NODE_KINDS = 15
MIN_VERSION = 50.0
_ID = re.compile(r"[A-Za-z0-9][A-Za-z0-9_]*")
_GRAPH_ID = re.compile(r"[A-Za-z0-9][^.]{0,38}")
_NODE_URL = re.compile(
    r"/services/data/v(?P<version>\d+\.\d)/sobjects/(?P<sobject>[^/?]+)"
    r"(?P<rest>(?:/[^/?]+){0,2})/?(?:\?.*)?"
)
# Allowed methods by the number of path segments after sobjects/{T}: create; one record by
# id; one record by external id.
_METHODS = {0: {"POST"}, 1: {"GET", "PATCH", "DELETE"}, 2: {"GET", "PATCH", "POST", "DELETE"}}


@dataclass
class Node:
    """One subrequest of a graph and the ``referenceId``s it depends on."""

    reference_id: str
    method: str
    url: str
    sub: dict[str, Any]
    depends: set[str] = field(default_factory=set)


@dataclass
class Graph:
    """One graph of the request: its id and nodes in request order."""

    graph_id: str
    nodes: list[Node]


def _bad(message: str) -> SalesforceError:
    return SalesforceError(400, "JSON_PARSER_ERROR", message, None)


def parse_graphs(body: Any) -> list[Graph]:
    """The request's graphs, or a 400 naming what is malformed."""
    graphs = body.get("graphs") if isinstance(body, dict) else None
    if not isinstance(graphs, list) or not graphs:
        raise _bad("graphs: expected a non-empty array")
    parsed = [_graph(g) for g in graphs]
    seen: set[str] = set()
    for graph in parsed:
        if graph.graph_id in seen:
            raise _bad(f"graphId '{graph.graph_id}' is used by more than one graph")
        seen.add(graph.graph_id)
    return parsed


def _graph(raw: Any) -> Graph:
    if not isinstance(raw, dict):
        raise _bad("graphs: each graph must be a JSON object")
    graph_id = raw.get("graphId")
    if not isinstance(graph_id, str) or not _GRAPH_ID.fullmatch(graph_id):
        raise _bad(
            f"graphId '{graph_id}': must start with a letter or digit, be shorter than 40 "
            "characters and contain no '.'"
        )
    subs = raw.get("compositeRequest")
    if not isinstance(subs, list) or not subs:
        raise _bad(f"graph '{graph_id}': compositeRequest must be a non-empty array")
    nodes = [_node(graph_id, sub) for sub in subs]
    if len({n.reference_id for n in nodes}) < len(nodes):
        raise _bad(f"graph '{graph_id}': each referenceId must be unique in its graph")
    return Graph(graph_id, nodes)


def _node(graph_id: str, sub: Any) -> Node:
    if not isinstance(sub, dict):
        raise _bad(f"graph '{graph_id}': each subrequest must be a JSON object")
    for key in ("referenceId", "method", "url"):
        if not isinstance(sub.get(key), str) or not sub[key]:
            raise _bad(f"'{key}' is a required field.")
    if not _ID.fullmatch(sub["referenceId"]):
        raise _bad(
            f"referenceId '{sub['referenceId']}': only letters, digits and '_', starting with a "
            "letter or digit"
        )
    depends = referenced(sub["url"]) | referenced(sub.get("body"))
    return Node(sub["referenceId"], sub["method"], sub["url"], sub, depends)


def payload_limit(graphs: list[Graph]) -> str | None:
    """The message of the first payload limit the request exceeds, or None."""
    if len(graphs) > MAX_GRAPHS:
        return f"Limit of {MAX_GRAPHS} reached for number of Graphs in the Payload"
    if any(len(g.nodes) > MAX_NODES for g in graphs):
        return f"Limit of {MAX_NODES} reached for number of Nodes in the Graph"
    if sum(len(g.nodes) for g in graphs) > MAX_NODES:
        return f"Limit of {MAX_NODES} reached for number of Nodes in the Payload"
    kinds = {_kind(n) for g in graphs for n in g.nodes}
    if len(kinds) > MAX_NODE_KINDS:
        return f"Limit of {MAX_NODE_KINDS} reached for number of different Nodes in the Payload"
    return None


def _kind(node: Node) -> tuple[str, str, str]:
    """Nodes differ by API version, HTTP method and sObject type."""
    match = _NODE_URL.fullmatch(node.url)
    if match is None:
        return "", node.method, node.url
    return match["version"], node.method, match["sobject"].lower()


def graph_fault(graph: Graph) -> tuple[int, Reply] | None:
    """The first node that keeps `graph` from running, with its error, or None."""
    for index, node in enumerate(graph.nodes):
        refused = _refused(node)
        if refused is not None:
            return index, refused
    ids = {n.reference_id for n in graph.nodes}
    for index, node in enumerate(graph.nodes):
        refs = references(node.url) + references(node.sub.get("body"))
        outside = next((ref for ref in refs if ref.name not in ids), None)
        if outside is not None:
            return index, outside.reply()
    return _depth_fault(graph)


def _refused(node: Node) -> Reply | None:
    match = _NODE_URL.fullmatch(node.url)
    segments = match["rest"].count("/") if match else -1
    if match and float(match["version"]) >= MIN_VERSION and node.method in _METHODS[segments]:
        return None
    message = (
        f"{node.method} {node.url} can't be a node of a composite graph: a node creates, reads, "
        "updates, upserts or deletes one sObject record (API version 50.0 or later)"
    )
    return Reply(400, [{"errorCode": "INVALID_API_INPUT", "message": message}])


def _depth_fault(graph: Graph) -> tuple[int, Reply] | None:
    order = run_order(graph)
    if len(order) < len(graph.nodes):
        index = min(set(range(len(graph.nodes))) - set(order))
        stuck = graph.nodes[index].reference_id
        message = f"The graph has a cycle of references through '{stuck}'"
        return index, Reply(400, [{"errorCode": "INVALID_API_INPUT", "message": message}])
    depths: dict[str, int] = {}
    for index in order:
        node = graph.nodes[index]
        depths[node.reference_id] = 1 + max((depths[d] for d in node.depends), default=0)
    for index, node in enumerate(graph.nodes):
        if depths[node.reference_id] > MAX_DEPTH:
            message = f"Limit of {MAX_DEPTH} reached for depth of the Graph"
            return index, Reply(400, [{"errorCode": "LIMIT_EXCEEDED", "message": message}])
    return None


def run_order(graph: Graph) -> list[int]:
    """Node indexes so that each node follows those it references (request order among nodes
    ready together); nodes on a cycle are left out."""
    done: set[str] = set()
    order: list[int] = []
    waiting = list(range(len(graph.nodes)))
    while waiting:
        ready = next((i for i in waiting if graph.nodes[i].depends <= done), None)
        if ready is None:
            break
        waiting.remove(ready)
        order.append(ready)
        done.add(graph.nodes[ready].reference_id)
    return order
