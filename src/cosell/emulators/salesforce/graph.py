"""``composite/graph`` (API v50.0+): many independent graphs of sObject calls in one API call.

Each graph is its own transaction: its nodes run in ``@{ref}`` dependency order through the
same handlers as single-record calls, and the first failing node rolls the graph back. That
node reports its own error; every other node of the graph reports ``PROCESSING_HALTED`` "The
transaction was rolled back since another operation in the same transaction failed." (or, with
``graph_sibling_errors="repeat"``, the root error again, as v50.0 did). Graphs don't see each
other: one failing leaves the others committed. After 14 failed graphs the rest are not run.
The top level answers 200 either way; rules on the request's shape are in ``graph_rules``.
"""

from __future__ import annotations

from typing import Any

from cosell import json_codec
from cosell.emulators.salesforce.gateway import ApiRoute, Call, Reply
from cosell.emulators.salesforce.graph_rules import (
    MIN_VERSION,
    Graph,
    graph_fault,
    parse_graphs,
    payload_limit,
    run_order,
)
from cosell.emulators.salesforce.subrequest import ROLLED_BACK, entry, halted, run
from cosell.emulators.salesforce.wire import not_found

V = "/services/data/v{version}"
MAX_FAILED_GRAPHS = 14
DEFAULT_GRAPH = "_default"
NOT_PROCESSED = (
    f"The graph was not processed because {MAX_FAILED_GRAPHS} graphs of this request failed."
)


def composite_graph(call: Call) -> Reply:
    if float(call.version) < MIN_VERSION:
        raise not_found()
    graphs = parse_graphs(call.body)
    limit = payload_limit(graphs)
    if limit is not None:
        error = Reply(400, [{"errorCode": "LIMIT_EXCEEDED", "message": limit}])
        return Reply(200, {"graphs": [_outcome(DEFAULT_GRAPH, [entry(None, error)], False)]})
    outcomes: list[dict[str, Any]] = []
    failed = 0
    for graph in graphs:
        if failed >= MAX_FAILED_GRAPHS:
            outcomes.append(_not_processed(graph))
            continue
        outcome = _run_graph(call, graph)
        failed += not outcome["isSuccessful"]
        outcomes.append(outcome)
    return Reply(200, {"graphs": outcomes})


def _outcome(graph_id: str, responses: list[dict[str, Any]], ok: bool) -> dict[str, Any]:
    return {
        "graphId": graph_id,
        "graphResponse": {"compositeResponse": responses},
        "isSuccessful": ok,
    }


def _not_processed(graph: Graph) -> dict[str, Any]:
    responses = [entry(n.reference_id, halted(NOT_PROCESSED)) for n in graph.nodes]
    return _outcome(graph.graph_id, responses, False)


def _run_graph(call: Call, graph: Graph) -> dict[str, Any]:
    fault = graph_fault(graph)
    if fault is not None:
        return _failed(call, graph, *fault)
    org = call.emulator.org
    results: dict[str, Any] = {}
    replies: dict[int, Reply] = {}
    with org.transaction() as rollback:
        for index in run_order(graph):
            node = graph.nodes[index]
            reply = run(call, node.sub, results, _not_a_node)
            if reply.status >= 400:
                rollback()
                return _failed(call, graph, index, reply)
            replies[index] = reply
            results[node.reference_id] = json_codec.loads(json_codec.dumps(reply.body))
    responses = [entry(n.reference_id, replies[i]) for i, n in enumerate(graph.nodes)]
    return _outcome(graph.graph_id, responses, True)


def _failed(call: Call, graph: Graph, failed: int, root: Reply) -> dict[str, Any]:
    repeat = call.emulator.config.graph_sibling_errors == "repeat"
    sibling = Reply(root.status, root.body) if repeat else halted(ROLLED_BACK)
    responses = [
        entry(n.reference_id, root if i == failed else sibling) for i, n in enumerate(graph.nodes)
    ]
    return _outcome(graph.graph_id, responses, False)


def _not_a_node(route: ApiRoute) -> bool:
    return "/composite" in route.path


def routes() -> list[ApiRoute]:
    return [
        ApiRoute(f"{V}/composite/graph", ("POST",), composite_graph),
        ApiRoute(f"{V}/composite/graph/", ("POST",), composite_graph),
    ]
