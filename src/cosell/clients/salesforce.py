"""The Salesforce REST client: records, SOQL, collections, composite graph and sObject Tree,
describe, limits and Tooling.

It speaks over an injected ``httpx.Client`` whose base URL is the org's instance URL and whose
auth is a ``SalesforceAuth``. Every call goes through one pipeline: check the API budget
reserve, send (tagging it with ``Sforce-Call-Options``), record ``Sforce-Limit-Info``, turn a
failure into a ``cosell.errors`` class, and retry the retryable ones with jittered backoff.
"""

from __future__ import annotations

import copy
import re
import threading
from collections.abc import Collection, Iterator, Mapping, Sequence
from dataclasses import replace
from datetime import datetime
from email.utils import format_datetime as http_date
from email.utils import parsedate_to_datetime
from typing import Any
from urllib.parse import quote

import httpx

from cosell import handback, json_codec
from cosell.clients.coalesce import Coalescer, Room
from cosell.clients.fresh_rows import FreshRows
from cosell.clients.retry import RetryPolicy
from cosell.clients.salesforce_composite import (
    COMPOSITE_LIMIT,
    COMPOSITE_QUERY_LIMIT,
    REFERENCE,
    Graph,
    GraphNode,
    GraphResult,
    NodeResult,
    TreeResult,
    composite_body,
    composite_results,
    fill_a_request,
    graph_batches,
    graph_body,
    graph_results,
    is_query_or_collection,
    renamed,
    tree_result,
)
from cosell.clients.salesforce_errors import error_from_response
from cosell.clients.salesforce_limits import LIMIT_HEADER, ApiBudget, Priority, current_priority
from cosell.clients.salesforce_records import (
    DeletedResult,
    SaveResult,
    UpdatedResult,
    UpsertResult,
    batches,
    deleted_result,
    format_datetime,
    updated_result,
)
from cosell.errors import APIError, RetryableError, ServerError, TransportError

DEFAULT_API_VERSION = "62.0"
RETRIEVE_LIMIT = 2000
_UNSENT = (httpx.ConnectError, httpx.ConnectTimeout, httpx.PoolTimeout)
_IDEMPOTENT = frozenset({"GET", "PATCH", "PUT", "DELETE", "HEAD"})

Record = dict[str, Any]


class SalesforceClient:
    """Salesforce REST and Tooling calls over an injected, authenticated ``httpx.Client``."""

    def __init__(
        self,
        http: httpx.Client,
        *,
        api_version: str = DEFAULT_API_VERSION,
        retry: RetryPolicy | None = None,
        budget: ApiBudget | None = None,
        call_options: str = "client=cosell",
    ) -> None:
        self.http = http
        self._served = threading.local()
        self.api_version = api_version
        self.retry = retry or RetryPolicy()
        self.budget = budget or ApiBudget(clock=self.retry.clock)
        self.call_options = call_options
        self._graphs: Coalescer[Sequence[Graph], list[GraphResult]] | None = None
        self._nodes: Coalescer[Sequence[GraphNode], list[NodeResult | Exception]] | None = None
        self._works: Coalescer[Sequence[GraphNode], tuple[NodeResult, ...]] | None = None
        self.fresh = FreshRows()
        """Rows the opportunity poll read in full, for the reconcile that follows (see
        :mod:`cosell.clients.fresh_rows`)."""

    def coalescing(
        self, callers: int, linger: float = 0.05, room: Room | None = None
    ) -> SalesforceClient:
        """This client (same connection, token and budget) for ``callers`` concurrent workers
        whose composite graphs, single guarded writes and all-or-none works made at about the
        same time go in one request (see :mod:`cosell.clients.coalesce`): graphs stay one
        transaction each, single writes become independent subrequests of one ``composite``
        call, works share all-or-none ones (see ``send_work``), and each caller gets its own
        result or error. ``room``: shared with the caller's other coalescers."""
        room = room or Room(callers)
        other = copy.copy(self)
        # graphs go as soon as they fill a call (75 graphs or 500 nodes), not once every
        # worker has come: Salesforce creates the first call's records while the workers plan
        # the rest (a cap of 200 graphs made a batch of 225 creates four calls: 75, 75, 50, 25)
        other._graphs = Coalescer(
            self._graphs_now,
            callers=callers,
            linger=linger,
            most=callers,
            room=room,
            fills=fill_a_request,
        )
        other._nodes = Coalescer(
            self._gathered, callers=callers, linger=linger, most=callers, room=room
        )
        # every work gathered goes at once, packed into as few composites as their
        # subrequests fill (a cap of 25 works left a composite of one work per 25)
        other._works = Coalescer(
            self._works_now, callers=callers, linger=linger, most=callers, room=room
        )
        return other

    def user_id(self) -> str | None:
        """The signed-in user's id (from the token's identity URL); None before the first
        call, or when the auth does not say."""
        token = getattr(self.http.auth, "token", None)
        user = getattr(token, "user_id", None)
        return str(user) if user else None

    # --- pipeline ------------------------------------------------------------------------------

    def url(self, path: str) -> str:
        """An API path (``sobjects/Opportunity``) or an absolute one (``/services/…``)."""
        return path if path.startswith("/") else f"/services/data/v{self.api_version}/{path}"

    def request(
        self,
        method: str,
        path: str,
        *,
        params: Mapping[str, str] | None = None,
        json: Any = None,
        headers: Mapping[str, str] | None = None,
        priority: Priority | None = None,
        accept: Collection[int] = (),
    ) -> httpx.Response:
        """Send one call through the budget check, error mapping and retries; statuses in
        `accept` come back as responses instead of errors."""
        if method != "GET":
            handback.checkpoint(f"{method} {path}")
        self.budget.check(priority)
        all_headers = {"Sforce-Call-Options": self.call_options, **(headers or {})}
        content = None
        if json is not None:
            content = json_codec.dumps(json)
            all_headers.update(json_codec.CONTENT_TYPE)
        request = self.http.build_request(
            method, self.url(path), params=params, content=content, headers=all_headers
        )
        return self._with_retries(request, accept)

    def _with_retries(self, request: httpx.Request, accept: Collection[int]) -> httpx.Response:
        attempt = 1
        while True:
            try:
                return self._send(request, accept)
            except RetryableError as exc:
                if not self._should_retry(request, exc, attempt):
                    raise
                self.retry.clock.sleep(self.retry.delay(attempt, exc.retry_after))
                attempt += 1

    def _should_retry(self, request: httpx.Request, exc: RetryableError, attempt: int) -> bool:
        if attempt >= self.retry.attempts:
            return False
        if exc.retry_after is not None and exc.retry_after > self.retry.max_retry_after:
            return False  # e.g. the daily allowance: the caller reschedules, we do not spin
        unsent = isinstance(exc.__cause__, _UNSENT)
        return not isinstance(exc, TransportError) or unsent or request.method in _IDEMPOTENT

    def _send(self, request: httpx.Request, accept: Collection[int]) -> httpx.Response:
        try:
            response = self.http.send(request)
        except httpx.TransportError as exc:
            raise TransportError(
                f"request did not complete: {type(exc).__name__}",
                method=request.method,
                url=str(request.url),
            ) from exc
        self.budget.observe(response.headers.get(LIMIT_HEADER))
        self._served.at = _server_time(response.headers.get("date"))
        if response.status_code >= 300 and response.status_code not in accept:
            raise error_from_response(response)
        return response

    def served_at(self) -> datetime | None:
        """Salesforce's time (its ``Date`` header, whole seconds) on the last response this
        thread received; ``None`` before one, or when the header was missing."""
        at: datetime | None = getattr(self._served, "at", None)
        return at

    def _json(self, method: str, path: str, **kw: Any) -> Any:
        response = self.request(method, path, **kw)
        return json_codec.loads(response.content) if response.content else None

    # --- records ---------------------------------------------------------------------------------

    def get(
        self,
        sobject: str,
        record_id: str,
        fields: Sequence[str] | None = None,
        *,
        priority: Priority | None = None,
    ) -> Record:
        params = {"fields": ",".join(fields)} if fields else None
        path = f"sobjects/{sobject}/{quote(record_id, safe='')}"
        result: Record = self._json("GET", path, params=params, priority=priority)
        return result

    def create(self, sobject: str, fields: Mapping[str, Any]) -> str:
        """Insert one record; its new id."""
        return str(self._json("POST", f"sobjects/{sobject}", json=dict(fields))["id"])

    def update(
        self,
        sobject: str,
        record_id: str,
        fields: Mapping[str, Any],
        if_unmodified_since: datetime | None = None,
    ) -> None:
        """Update one record; with ``if_unmodified_since`` a later edit raises ``StaleWrite``."""
        headers = {}
        if if_unmodified_since is not None:
            headers["If-Unmodified-Since"] = http_date(if_unmodified_since, usegmt=True)
        path = f"sobjects/{sobject}/{quote(record_id, safe='')}"
        self.request("PATCH", path, json=dict(fields), headers=headers)

    def upsert(
        self, sobject: str, ext_field: str, value: str, fields: Mapping[str, Any]
    ) -> UpsertResult:
        """Insert or update by external id (300 → ``Ambiguous``, 404 → ``NotFound``)."""
        path = f"sobjects/{sobject}/{ext_field}/{quote(value, safe='')}"
        body = {k: v for k, v in fields.items() if k.lower() != ext_field.lower()}
        response = self.request("PATCH", path, json=body)
        if response.status_code == 204 or not response.content:
            return UpsertResult(id=None, created=False)
        data = json_codec.loads(response.content)
        created = bool(data.get("created", response.status_code == 201))
        return UpsertResult(id=data.get("id"), created=created)

    def delete(self, sobject: str, record_id: str) -> None:
        self.request("DELETE", f"sobjects/{sobject}/{quote(record_id, safe='')}")

    # --- collections -------------------------------------------------------------------------

    def create_many(
        self, sobject: str, records: Sequence[Mapping[str, Any]], *, all_or_none: bool = False
    ) -> list[SaveResult]:
        """Insert in calls of 200; ``all_or_none`` applies within each call."""
        return self._collections("POST", "composite/sobjects", sobject, records, all_or_none)

    def update_many(
        self, sobject: str, records: Sequence[Mapping[str, Any]], *, all_or_none: bool = False
    ) -> list[SaveResult]:
        """Update records that each carry ``Id``, in calls of 200."""
        return self._collections("PATCH", "composite/sobjects", sobject, records, all_or_none)

    def upsert_many(
        self,
        sobject: str,
        ext_field: str,
        records: Sequence[Mapping[str, Any]],
        *,
        all_or_none: bool = False,
    ) -> list[SaveResult]:
        """Upsert by external id (each record carries the field), in calls of 200."""
        path = f"composite/sobjects/{sobject}/{ext_field}"
        return self._collections("PATCH", path, sobject, records, all_or_none)

    def delete_many(self, ids: Sequence[str], *, all_or_none: bool = False) -> list[SaveResult]:
        results: list[SaveResult] = []
        for batch in batches(ids):
            params = {"ids": ",".join(batch), "allOrNone": str(all_or_none).lower()}
            body = self._json("DELETE", "composite/sobjects", params=params)
            results += [SaveResult.parse(item) for item in body]
        return results

    def retrieve_many(
        self, sobject: str, ids: Sequence[str], fields: Sequence[str]
    ) -> list[Record | None]:
        """Records by id in calls of 2,000, in order; None for an id that is gone or invalid."""
        results: list[Record | None] = []
        for batch in batches(ids, RETRIEVE_LIMIT):
            body = {"ids": list(batch), "fields": list(fields)}
            results += self._json("POST", f"composite/sobjects/{sobject}", json=body)
        return results

    # --- composite graph and tree ---------------------------------------------------------

    def composite_graph(self, graphs: Sequence[Graph]) -> list[GraphResult]:
        """Run graphs (each one transaction) in as few calls as the limits allow (75 graphs,
        500 nodes per call). A payload limit Salesforce still refuses (e.g. more than 15 kinds
        of node) raises its error; a failed graph is a result with ``error`` set."""
        if self._graphs is not None:
            return self._graphs.submit(graphs)
        return self._composite_graph(graphs)

    def composite_graph_now(self, graphs: Sequence[Graph]) -> list[GraphResult]:
        """:meth:`composite_graph` from this caller alone, never gathered with others' (one
        caller that has many graphs: no waiting for others that will not come)."""
        return self._composite_graph(graphs)

    def _graphs_now(self, asked: Sequence[Sequence[Graph]]) -> list[list[GraphResult]]:
        """Several callers' graphs in one request, each named apart and answered in turn."""
        named = [
            Graph(f"c{n}g{i}", graph.nodes)
            for n, graphs in enumerate(asked)
            for i, graph in enumerate(graphs)
        ]
        by_name = {r.graph_id: r for r in self._composite_graph(named)}
        answers: list[list[GraphResult]] = []
        for n, graphs in enumerate(asked):
            mine = []
            for i, graph in enumerate(graphs):
                found = by_name.get(f"c{n}g{i}")
                if found is None:
                    raise ServerError(f"composite graph answered no graph {graph.graph_id}")
                mine.append(replace(found, graph_id=graph.graph_id))
            answers.append(mine)
        return answers

    def _composite_graph(self, graphs: Sequence[Graph]) -> list[GraphResult]:
        """Graphs in as few requests as the limits allow; graphs Salesforce did not run because
        14 others of their request failed go again at once in the next request (each request
        runs at least its first graph, so this ends)."""
        results: dict[str, GraphResult] = {}
        waiting = list(graphs)
        while waiting:
            again: list[Graph] = []
            for batch in graph_batches(waiting):
                body = self._json("POST", "composite/graph", json=graph_body(batch, self.url))
                parsed = graph_results(body, batch, self.url)
                refused = next((r.error for r in parsed if r.graph_id == "_default"), None)
                if refused is not None:
                    raise refused
                sent = {g.graph_id: g for g in batch}
                for result in parsed:
                    results[result.graph_id] = result
                    if result.not_run and result.graph_id in sent:
                        again.append(sent[result.graph_id])
            if len(again) == len(waiting):
                break  # nothing ran: their results say so (a retryable error)
            waiting = again
        return [results[g.graph_id] for g in graphs if g.graph_id in results]

    def composite(
        self, nodes: Sequence[GraphNode], *, all_or_none: bool = True
    ) -> tuple[NodeResult, ...]:
        """Up to 25 subrequests in one call, in order, later ones citing earlier results with
        ``@{ref.id}``; subrequests may carry ``httpHeaders`` (a guarded update's
        ``If-Unmodified-Since``). With ``all_or_none`` a failure rolls every one back."""
        body = self._json("POST", "composite", json=composite_body(nodes, self.url, all_or_none))
        return composite_results(body, nodes, self.url)

    def send_node(self, node: GraphNode) -> NodeResult:
        """One write (no ``@{ref.id}`` in it) as itself: the same call as a one-node composite,
        without the envelope. An error answer raises as the write would."""
        answer = self.send_nodes([node])[0]
        if isinstance(answer, Exception):
            raise answer
        return answer

    def send_nodes(self, nodes: Sequence[GraphNode]) -> list[NodeResult | Exception]:
        """Independent writes (none citing another), each answered on its own: its result, or
        the error it raised. Coalescing, they go with other workers' (see ``_nodes_now``)."""
        if self._nodes is not None:
            return self._nodes.submit(tuple(nodes))
        return self._nodes_now(nodes)

    @property
    def coalesces(self) -> bool:
        """Whether concurrent workers' writes are gathered into shared requests."""
        return self._nodes is not None

    def _send_node(self, node: GraphNode) -> NodeResult:
        body = dict(node.body) if node.body is not None else None
        response = self.request(node.method, node.path, json=body, headers=node.headers)
        answer = json_codec.loads(response.content) if response.content else None
        return NodeResult(node.reference_id, response.status_code, answer, None)

    def _gathered(self, asked: Sequence[Sequence[GraphNode]]) -> list[list[NodeResult | Exception]]:
        """Several workers' independent writes sent together (see ``_nodes_now``), each
        worker's answers in its order."""
        flat = [node for nodes in asked for node in nodes]
        answers = self._nodes_now(flat)
        grouped: list[list[NodeResult | Exception]] = []
        start = 0
        for nodes in asked:
            grouped.append(answers[start : start + len(nodes)])
            start += len(nodes)
        return grouped

    def _nodes_now(self, nodes: Sequence[GraphNode]) -> list[NodeResult | Exception]:
        """Independent writes, each on its own: unguarded updates by id and creates of one kind
        of record go 200 a call through sObject Collections (``allOrNone`` false), the rest as
        subrequests of ``composite`` calls of 25 (``allOrNone`` false; one alone as itself)."""
        if len(nodes) == 1:
            return [self._answered(nodes[0])]
        answers: dict[int, NodeResult | Exception] = {}
        for (method, sobject), listed in _collection_writes(nodes).items():
            records = [
                {"Id": record_id, **(nodes[n].body or {})}
                if record_id
                else dict(nodes[n].body or {})
                for n, record_id in listed
            ]
            many = self.update_many if method == "PATCH" else self.create_many
            for (n, _), result in zip(listed, many(sobject, records), strict=True):
                made: dict[str, Any] | None = None
                if method == "POST":
                    made = {"id": result.id, "success": True, "errors": []}
                status = 204 if made is None else 201
                answers[n] = result.error() or NodeResult(nodes[n].reference_id, status, made, None)
        rest = [n for n in range(len(nodes)) if n not in answers]
        for start in range(0, len(rest), COMPOSITE_LIMIT):
            chunk = rest[start : start + COMPOSITE_LIMIT]
            answers.update(self._composed([(n, nodes[n]) for n in chunk]))
        return [answers[n] for n in range(len(nodes))]

    def _answered(self, node: GraphNode) -> NodeResult | Exception:
        try:
            return self._send_node(node)
        except APIError as exc:
            return exc

    def _composed(
        self, numbered: Sequence[tuple[int, GraphNode]]
    ) -> dict[int, NodeResult | Exception]:
        """Independent writes as the subrequests of one ``composite`` (one alone as itself)."""
        if len(numbered) == 1:
            n, node = numbered[0]
            return {n: self._answered(node)}
        named = [replace(node, reference_id=f"w{n}") for n, node in numbered]
        results = {str(r.reference_id): r for r in self.composite(named, all_or_none=False)}
        answers: dict[int, NodeResult | Exception] = {}
        for n, node in numbered:
            found = results.get(f"w{n}")
            if found is None:
                answers[n] = ServerError(f"composite answered no result for {node.path}")
            elif found.error is not None:
                answers[n] = found.error
            else:
                answers[n] = replace(found, reference_id=node.reference_id)
        return answers

    def send_work(self, nodes: Sequence[GraphNode]) -> tuple[NodeResult, ...]:
        """One record's writes (at most 25 subrequests, later ones citing earlier ones) as one
        all-or-none ``composite``. Coalescing, several callers' works share requests: when one
        of them fails, Salesforce rolls the whole request back, so the failing work gets its
        answer and the others are sent again without it. Errors come back in the results."""
        if self._works is not None and len(nodes) <= COMPOSITE_LIMIT:
            return self._works.submit(nodes)
        return self.composite(nodes)

    def _works_now(
        self, asked: Sequence[Sequence[GraphNode]]
    ) -> list[tuple[NodeResult, ...] | Exception]:
        answers: dict[int, tuple[NodeResult, ...] | Exception] = {}
        pending = list(range(len(asked)))
        while pending:
            batch = _pack(pending, asked)
            if len(batch) == 1:
                answers[batch[0]] = self.composite(asked[batch[0]])
            else:
                answers.update(self._shared_works(batch, asked))
            pending = [n for n in pending if n not in answers]
        return [answers[n] for n in range(len(asked))]

    def _shared_works(
        self, batch: Sequence[int], asked: Sequence[Sequence[GraphNode]]
    ) -> dict[int, tuple[NodeResult, ...] | Exception]:
        """The works of ``batch`` in one all-or-none composite: all their answers, or only the
        failing one's (the rest were rolled back and go again)."""
        named: list[GraphNode] = []
        for n in batch:
            own = {node.reference_id for node in asked[n]}
            named.extend(renamed(node, f"w{n}_", own) for node in asked[n])
        results = {r.reference_id: r for r in self.composite(named)}

        def answer(n: int) -> tuple[NodeResult, ...] | Exception:
            mine = []
            for node in asked[n]:
                found = results.get(f"w{n}_{node.reference_id}")
                if found is None:
                    return ServerError(f"composite answered no result for {node.path}")
                mine.append(replace(found, reference_id=node.reference_id))
            return tuple(mine)

        failed = [
            n
            for n in batch
            if any(
                (r := results.get(f"w{n}_{node.reference_id}")) is not None
                and r.error is not None
                and not r.halted
                for node in asked[n]
            )
        ]
        if failed:
            return {failed[0]: answer(failed[0])}
        if any(r.error is not None for r in results.values()):
            # rolled back with no failure of its own to blame: each work goes alone
            return {n: self.composite(asked[n]) for n in batch}
        return {n: answer(n) for n in batch}

    def sobject_tree(self, sobject: str, records: Sequence[Mapping[str, Any]]) -> TreeResult:
        """Insert trees rooted at ``sobject`` (records carry ``attributes.referenceId`` and
        children under relationship names); all or nothing. A malformed request raises."""
        path = f"composite/tree/{sobject}"
        response = self.request("POST", path, json={"records": list(records)}, accept={400})
        body = json_codec.loads(response.content) if response.content else None
        if not isinstance(body, dict) or "hasErrors" not in body:
            raise error_from_response(response)
        return tree_result(body, self.url(path))

    def _collections(
        self,
        method: str,
        path: str,
        sobject: str,
        records: Sequence[Mapping[str, Any]],
        all_or_none: bool,
    ) -> list[SaveResult]:
        results: list[SaveResult] = []
        for batch in batches(records):
            typed = [{"attributes": {"type": sobject}, **record} for record in batch]
            body = self._json(method, path, json={"allOrNone": all_or_none, "records": typed})
            results += [SaveResult.parse(item) for item in body]
        return results

    # --- queries and replication ---------------------------------------------------------------

    def query(self, soql: str, *, priority: Priority | None = None) -> Iterator[Record]:
        """Every row of a SOQL query, following ``nextRecordsUrl`` page by page."""
        return self._pages("query", soql, priority or current_priority())

    def query_all(self, soql: str, *, priority: Priority | None = None) -> Iterator[Record]:
        """Like ``query`` but includes deleted and archived rows (``IsDeleted``)."""
        return self._pages("queryAll", soql, priority or current_priority())

    def tooling_query(self, soql: str, *, priority: Priority | None = None) -> Iterator[Record]:
        return self._pages("tooling/query", soql, priority or current_priority())

    def query_together(
        self, reads: Sequence[tuple[str, str]], *, priority: Priority | None = None
    ) -> list[Iterator[Record]]:
        """Several SOQL reads, each ``(resource, soql)`` with resource ``query`` or ``queryAll``,
        whose first pages come back in one ``composite`` call (five query operations a call, one
        API call each): a poll of several objects costs one call when nothing changed. Later
        pages and subquery children are read as ``query`` reads them. A read Salesforce refused
        raises its error when its rows are iterated, so the others are still used."""
        level = priority or current_priority()
        firsts: list[Any] = []
        for start in range(0, len(reads), COMPOSITE_QUERY_LIMIT):
            chunk = reads[start : start + COMPOSITE_QUERY_LIMIT]
            nodes = [
                GraphNode(f"read{start + i}", "GET", f"{resource}?q={quote(soql, safe='')}")
                for i, (resource, soql) in enumerate(chunk)
            ]
            body = composite_body(nodes, self.url, all_or_none=False)
            answered = self._json("POST", "composite", json=body, priority=level)
            firsts += composite_results(answered, nodes, self.url)
        if len(firsts) != len(reads):
            raise ServerError(f"composite answered {len(firsts)} of {len(reads)} queries")
        return [self._continue(node, level) for node in firsts]

    def _continue(self, first: NodeResult, level: Priority) -> Iterator[Record]:
        if first.error is not None:
            raise first.error
        yield from self._from_page(first.body or {}, level)

    def _pages(self, resource: str, soql: str, level: Priority) -> Iterator[Record]:
        page = self._json("GET", resource, params={"q": soql}, priority=level)
        yield from self._from_page(page, level)

    def _from_page(self, page: Record, level: Priority) -> Iterator[Record]:
        while True:
            records = page.get("records") or ()
            for record in records:
                self._complete_children(record, level)
            yield from records
            next_url = page.get("nextRecordsUrl")
            if page.get("done", True) or not next_url:
                return
            page = self._json("GET", next_url, priority=level)

    def _complete_children(self, record: Record, level: Priority) -> None:
        """Fetch the rest of each subquery's child records into ``record``, depth first and
        before the parent's next page, which would close their locators."""
        for key, value in list(record.items()):
            if isinstance(value, dict) and "records" in value and "done" in value:
                record[key] = self._drain(value, level)

    def _drain(self, nested: Record, level: Priority) -> Record:
        rows: list[Record] = []
        page = nested
        while True:
            batch = list(page.get("records") or ())
            for row in batch:
                self._complete_children(row, level)
            rows += batch
            next_url = page.get("nextRecordsUrl")
            if page.get("done", True) or not next_url:
                return {
                    "totalSize": nested.get("totalSize", len(rows)),
                    "done": True,
                    "records": rows,
                }
            page = self._json("GET", next_url, priority=level)

    def updated(self, sobject: str, start: datetime, end: datetime) -> UpdatedResult:
        """Ids changed between ``start`` and ``end`` (Salesforce drops the seconds)."""
        params = {"start": format_datetime(start), "end": format_datetime(end)}
        return updated_result(self._json("GET", f"sobjects/{sobject}/updated/", params=params))

    def deleted(self, sobject: str, start: datetime, end: datetime) -> DeletedResult:
        """Records deleted between ``start`` and ``end`` (at most 15 days back)."""
        params = {"start": format_datetime(start), "end": format_datetime(end)}
        return deleted_result(self._json("GET", f"sobjects/{sobject}/deleted/", params=params))

    # --- metadata ----------------------------------------------------------------------------

    def describe(self, sobject: str) -> Record:
        result: Record = self._json("GET", f"sobjects/{sobject}/describe")
        return result

    def describe_global(self) -> Record:
        result: Record = self._json("GET", "sobjects")
        return result

    def limits(self) -> Record:
        result: Record = self._json("GET", "limits")
        return result

    def create_custom_field(self, full_name: str, metadata: Mapping[str, Any]) -> str:
        """Create ``Object.Field__c`` through the Tooling API; the new CustomField id."""
        body = {"FullName": full_name, "Metadata": dict(metadata)}
        return str(self._json("POST", "tooling/sobjects/CustomField", json=body)["id"])

    def create_custom_object(self, full_name: str, metadata: Mapping[str, Any]) -> str:
        """Create ``Object__c`` through the Tooling API; the new CustomObject id."""
        body = {"FullName": full_name, "Metadata": dict(metadata)}
        return str(self._json("POST", "tooling/sobjects/CustomObject", json=body)["id"])


def _pack(pending: Sequence[int], asked: Sequence[Sequence[GraphNode]]) -> list[int]:
    """The first pending works, in order, that fit one composite (25 subrequests, five of them
    queries or collections); always at least one."""
    batch: list[int] = []
    nodes = queries = 0
    for n in pending:
        size = len(asked[n])
        reads = sum(is_query_or_collection(node) for node in asked[n])
        if batch and (nodes + size > COMPOSITE_LIMIT or queries + reads > COMPOSITE_QUERY_LIMIT):
            break
        batch.append(n)
        nodes, queries = nodes + size, queries + reads
    return batch


_RECORD_PATH = re.compile(
    r"^(?:/services/data/v[0-9.]+/)?sobjects/(\w+)(?:/([a-zA-Z0-9]{15,18}))?$"
)


def _collection_writes(
    nodes: Sequence[GraphNode],
) -> dict[tuple[str, str], list[tuple[int, str | None]]]:
    """The unguarded writes among ``nodes`` (no header, no ``@{ref.id}``) that sObject
    Collections can carry: updates of one record by id (each record once; a second write of it
    keeps its own subrequest) and creates, by method and sObject type, when at least two of a
    kind can share a call."""
    found: dict[tuple[str, str], list[tuple[int, str | None]]] = {}
    seen: set[str] = set()
    for n, node in enumerate(nodes):
        match = _RECORD_PATH.match(node.path)
        if match is None or node.headers or REFERENCE.search(str(node.body)):
            continue
        sobject, record_id = match[1], match[2]
        if node.method == "PATCH" and record_id and record_id not in seen:
            seen.add(record_id)
            found.setdefault(("PATCH", sobject), []).append((n, record_id))
        elif node.method == "POST" and record_id is None:
            found.setdefault(("POST", sobject), []).append((n, None))
    return {kind: listed for kind, listed in found.items() if len(listed) > 1}


def _server_time(header: str | None) -> datetime | None:
    if not header:
        return None
    try:
        return parsedate_to_datetime(header)
    except (TypeError, ValueError):
        return None
