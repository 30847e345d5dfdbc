"""The HubSpot CRM client: objects, batch calls in chunks of 100, search with paging,
associations v4, properties, property groups and deal pipelines.

It speaks over an injected ``httpx.Client`` whose base URL is the API host and whose auth is a
``PrivateAppAuth`` or ``HubSpotOAuth``. Every call goes through one pipeline: send, turn a
failure into a ``cosell.errors`` class, and retry the retryable ones (429 per its window or a
``Retry-After``, 423, 477, 5xx and HTML error pages, transport errors on calls that are safe to
resend), waiting at least what HubSpot asked for.
"""

from __future__ import annotations

from collections.abc import Callable, Iterator, Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any
from urllib.parse import quote

import httpx

from cosell import handback, json_codec
from cosell.clients.hubspot_errors import error_from_response
from cosell.clients.hubspot_pace import BURST, MARGIN, SEARCHES, WINDOW, Pace
from cosell.clients.retry import RetryPolicy
from cosell.errors import RetryableError, TransportError

BATCH_SIZE = 100
SEARCH_PAGE = 200
SEARCH_CAP = 10_000
_UNSENT = (httpx.ConnectError, httpx.ConnectTimeout, httpx.PoolTimeout)
_IDEMPOTENT = frozenset({"GET", "PATCH", "PUT", "DELETE"})
# POST calls that read (search, batch read) or that HubSpot makes idempotent (upsert)
_SAFE_POSTS = ("/search", "/batch/read", "/batch/upsert", "/batch/archive")

Record = dict[str, Any]


@dataclass(frozen=True)
class SearchPage:
    """One page of search results; ``after`` is None on the last page."""

    total: int
    results: list[Record]
    after: str | None


@dataclass
class BatchResult:
    """The records a batch call wrote or read, and the per-input errors of a 207."""

    results: list[Record] = field(default_factory=list)
    errors: list[dict[str, Any]] = field(default_factory=list)


class HubSpotClient:
    """HubSpot CRM calls over an injected, authenticated ``httpx.Client``."""

    def __init__(
        self,
        http: httpx.Client,
        *,
        retry: RetryPolicy | None = None,
        pace: Pace | None = None,
        search_pace: Pace | None = None,
    ) -> None:
        self.http = http
        self.retry = retry or RetryPolicy()
        clock = self.retry.clock
        self.pace = pace or Pace(clock, BURST, WINDOW, MARGIN)
        """The app's ten-second burst, shared by every thread using this client."""
        self.search_pace = search_pace or Pace(clock, SEARCHES, 1.0)
        """The account's searches a second (searches are outside the burst)."""

    # --- pipeline ------------------------------------------------------------------------------
    def request(
        self,
        method: str,
        path: str,
        *,
        params: Mapping[str, str] | None = None,
        json: Any = None,
        before_each: Callable[[], object] | None = None,
    ) -> httpx.Response:
        """Send one call, retrying the retryable failures; ``before_each`` runs before every
        attempt (a check that must hold when the request goes, not only when it first went)."""
        if method != "GET":
            handback.checkpoint(f"{method} {path}")
        content = None if json is None else json_codec.dumps(json)
        headers = None if json is None else json_codec.CONTENT_TYPE
        request = self.http.build_request(
            method, path, params=params, content=content, headers=headers
        )
        attempt = 1
        while True:
            try:
                if before_each is not None:
                    before_each()
                return self._send(request)
            except RetryableError as exc:
                if not self._should_retry(request, exc, attempt):
                    raise
                self.retry.clock.sleep(self.retry.delay(attempt, exc.retry_after))
                attempt += 1

    def _should_retry(self, request: httpx.Request, exc: RetryableError, attempt: int) -> bool:
        if attempt >= self.retry.attempts:
            return False
        if exc.retry_after is not None and exc.retry_after > self.retry.max_retry_after:
            return False  # the daily allowance: the caller reschedules, we do not spin
        if not isinstance(exc, TransportError) or isinstance(exc.__cause__, _UNSENT):
            return True
        path = request.url.path
        return request.method in _IDEMPOTENT or path.endswith(_SAFE_POSTS)

    def _send(self, request: httpx.Request) -> httpx.Response:
        searching = request.url.path.endswith("/search")
        (self.search_pace if searching else self.pace).turn()
        try:
            response = self.http.send(request)
        except httpx.TransportError as exc:
            raise TransportError(
                f"request did not complete: {type(exc).__name__}",
                method=request.method,
                url=str(request.url),
            ) from exc
        if not searching:
            self.pace.learn(response.headers)
        if response.status_code >= 300:
            raise error_from_response(response, self.retry.clock)
        return response

    def _json(self, method: str, path: str, **kw: Any) -> Any:
        return _body(self.request(method, path, **kw))

    # --- objects -------------------------------------------------------------------------------
    def get(
        self,
        object_type: str,
        object_id: str,
        properties: Sequence[str] = (),
        *,
        associations: Sequence[str] = (),
        id_property: str | None = None,
        archived: bool = False,
    ) -> Record:
        params: dict[str, str] = {"archived": str(archived).lower()}
        if properties:
            params["properties"] = ",".join(properties)
        if associations:
            params["associations"] = ",".join(associations)
        if id_property:
            params["idProperty"] = id_property
        path = f"/crm/v3/objects/{object_type}/{quote(object_id, safe='')}"
        record: Record = self._json("GET", path, params=params)
        return record

    def create(
        self,
        object_type: str,
        properties: Mapping[str, Any],
        associations: Sequence[Mapping[str, Any]] = (),
    ) -> Record:
        body: dict[str, Any] = {"properties": dict(properties)}
        if associations:
            body["associations"] = list(associations)
        record: Record = self._json("POST", f"/crm/v3/objects/{object_type}", json=body)
        return record

    def update(
        self,
        object_type: str,
        object_id: str,
        properties: Mapping[str, Any],
        *,
        id_property: str | None = None,
        unchanged: Callable[[], object] | None = None,
    ) -> Record:
        """Set ``properties`` on the object. HubSpot has no conditional update: ``unchanged``
        (a check that raises when the object moved since the caller read it) runs before each
        attempt, so a write retried after a failed attempt is checked again; the wait before a
        retry is when a person's edit can land."""
        params = {"idProperty": id_property} if id_property else None
        path = f"/crm/v3/objects/{object_type}/{quote(object_id, safe='')}"
        body = {"properties": dict(properties)}
        answer = self.request("PATCH", path, params=params, json=body, before_each=unchanged)
        record: Record = _body(answer)
        return record

    def archive(self, object_type: str, object_id: str) -> None:
        self.request("DELETE", f"/crm/v3/objects/{object_type}/{quote(object_id, safe='')}")

    # --- batch ---------------------------------------------------------------------------------
    def batch_read(
        self,
        object_type: str,
        ids: Sequence[str],
        properties: Sequence[str] = (),
        *,
        id_property: str | None = None,
    ) -> BatchResult:
        """Read records by id (or a unique property), 100 per call; unknown ids are errors."""
        inputs = [{"id": i} for i in dict.fromkeys(ids)]
        extra: dict[str, Any] = {"properties": list(properties), "propertiesWithHistory": []}
        if id_property:
            extra["idProperty"] = id_property
        return self._batch(object_type, "read", inputs, extra)

    def batch_create(self, object_type: str, inputs: Sequence[Mapping[str, Any]]) -> BatchResult:
        """Create records, 100 per call; each input is ``{"properties", "associations"?}``."""
        return self._batch(object_type, "create", [dict(i) for i in inputs], {})

    def batch_update(
        self, object_type: str, changes: Mapping[str, Mapping[str, Any]]
    ) -> BatchResult:
        """Update records by id, 100 per call."""
        inputs = [{"id": i, "properties": dict(p)} for i, p in changes.items()]
        return self._batch(object_type, "update", inputs, {})

    def batch_upsert(
        self, object_type: str, id_property: str, rows: Mapping[str, Mapping[str, Any]]
    ) -> BatchResult:
        """Create or update by a unique property, 100 per call; results carry ``new``."""
        inputs = [
            {"id": key, "idProperty": id_property, "properties": dict(p)} for key, p in rows.items()
        ]
        return self._batch(object_type, "upsert", inputs, {})

    def batch_archive(self, object_type: str, ids: Sequence[str]) -> None:
        for chunk in _chunks([{"id": i} for i in ids], BATCH_SIZE):
            self.request(
                "POST", f"/crm/v3/objects/{object_type}/batch/archive", json={"inputs": chunk}
            )

    def _batch(
        self, object_type: str, verb: str, inputs: list[dict[str, Any]], extra: dict[str, Any]
    ) -> BatchResult:
        result = BatchResult()
        for chunk in _chunks(inputs, BATCH_SIZE):
            body = self._json(
                "POST",
                f"/crm/v3/objects/{object_type}/batch/{verb}",
                json={**extra, "inputs": chunk},
            )
            result.results += body.get("results", [])
            result.errors += body.get("errors", [])
        return result

    # --- search --------------------------------------------------------------------------------
    def search(
        self,
        object_type: str,
        filter_groups: Sequence[Mapping[str, Any]] = (),
        *,
        properties: Sequence[str] = (),
        sorts: Sequence[Mapping[str, str]] = (),
        limit: int = SEARCH_PAGE,
        after: str | None = None,
        query: str | None = None,
    ) -> SearchPage:
        body: dict[str, Any] = {"filterGroups": list(filter_groups), "limit": limit}
        if properties:
            body["properties"] = list(properties)
        if sorts:
            body["sorts"] = list(sorts)
        if after:
            body["after"] = after
        if query:
            body["query"] = query
        answer = self._json("POST", f"/crm/v3/objects/{object_type}/search", json=body)
        following = ((answer.get("paging") or {}).get("next") or {}).get("after")
        return SearchPage(int(answer.get("total", 0)), answer.get("results", []), following)

    def search_all(
        self,
        object_type: str,
        filter_groups: Sequence[Mapping[str, Any]] = (),
        **kw: Any,
    ) -> Iterator[Record]:
        """Every result page by page, up to HubSpot's 10,000-result cap (the caller narrows
        the filter, e.g. by a moving cursor, to go further)."""
        after: str | None = None
        seen = 0
        while True:
            limit = min(SEARCH_PAGE, SEARCH_CAP - seen)
            page = self.search(object_type, filter_groups, after=after, limit=limit, **kw)
            yield from page.results
            seen += len(page.results)
            if page.after is None or seen >= SEARCH_CAP:
                return
            after = page.after

    # --- associations v4 -------------------------------------------------------------------------
    def associate(
        self,
        from_type: str,
        from_id: str,
        to_type: str,
        to_id: str,
        type_ids: Sequence[int] = (),
        *,
        category: str = "HUBSPOT_DEFINED",
    ) -> None:
        """Link two records: the default (unlabeled) type, or exactly ``type_ids``."""
        base = f"/crm/v4/objects/{from_type}/{from_id}/associations"
        if not type_ids:
            self.request("PUT", f"{base}/default/{to_type}/{to_id}")
            return
        specs = [{"associationCategory": category, "associationTypeId": t} for t in type_ids]
        self.request("PUT", f"{base}/{to_type}/{to_id}", json=specs)

    def dissociate(self, from_type: str, from_id: str, to_type: str, to_id: str) -> None:
        self.request(
            "DELETE", f"/crm/v4/objects/{from_type}/{from_id}/associations/{to_type}/{to_id}"
        )

    def associations(self, from_type: str, from_id: str, to_type: str) -> list[dict[str, Any]]:
        """Every record of ``to_type`` linked to one record: ``{toObjectId, associationTypes}``."""
        path = f"/crm/v4/objects/{from_type}/{from_id}/associations/{to_type}"
        rows: list[dict[str, Any]] = []
        after: str | None = None
        while True:
            params = {"limit": "500", **({"after": after} if after else {})}
            page = self._json("GET", path, params=params)
            rows += page.get("results", [])
            after = ((page.get("paging") or {}).get("next") or {}).get("after")
            if not after:
                return rows

    def batch_associations(
        self, from_type: str, to_type: str, ids: Sequence[str]
    ) -> dict[str, list[str]]:
        """For many records at once: id → the ids of linked ``to_type`` records."""
        linked: dict[str, list[str]] = {i: [] for i in ids}
        for chunk in _chunks([{"id": i} for i in dict.fromkeys(ids)], 1000):
            body = self._json(
                "POST",
                f"/crm/v4/associations/{from_type}/{to_type}/batch/read",
                json={"inputs": chunk},
            )
            for row in body.get("results", []):
                source = str(row["from"]["id"])
                linked[source] = [str(t["toObjectId"]) for t in row.get("to", [])]
        return linked

    # --- schema ----------------------------------------------------------------------------------
    def properties(self, object_type: str) -> list[dict[str, Any]]:
        rows: list[dict[str, Any]] = self._json("GET", f"/crm/v3/properties/{object_type}")[
            "results"
        ]
        return rows

    def create_property(self, object_type: str, definition: Mapping[str, Any]) -> dict[str, Any]:
        made: dict[str, Any] = self._json(
            "POST", f"/crm/v3/properties/{object_type}", json=dict(definition)
        )
        return made

    def update_property(
        self, object_type: str, name: str, changes: Mapping[str, Any]
    ) -> dict[str, Any]:
        made: dict[str, Any] = self._json(
            "PATCH", f"/crm/v3/properties/{object_type}/{name}", json=dict(changes)
        )
        return made

    def property_groups(self, object_type: str) -> list[dict[str, Any]]:
        rows: list[dict[str, Any]] = self._json("GET", f"/crm/v3/properties/{object_type}/groups")[
            "results"
        ]
        return rows

    def create_property_group(self, object_type: str, name: str, label: str) -> dict[str, Any]:
        made: dict[str, Any] = self._json(
            "POST",
            f"/crm/v3/properties/{object_type}/groups",
            json={"name": name, "label": label},
        )
        return made

    def pipelines(self, object_type: str = "deals") -> list[dict[str, Any]]:
        rows: list[dict[str, Any]] = self._json("GET", f"/crm/v3/pipelines/{object_type}")[
            "results"
        ]
        return rows

    def create_stage(
        self,
        pipeline_id: str,
        label: str,
        probability: float,
        *,
        closed: bool = False,
        display_order: int = 0,
        object_type: str = "deals",
    ) -> dict[str, Any]:
        body = {
            "label": label,
            "displayOrder": display_order,
            "metadata": {"probability": str(probability), "isClosed": str(closed).lower()},
        }
        made: dict[str, Any] = self._json(
            "POST", f"/crm/v3/pipelines/{object_type}/{pipeline_id}/stages", json=body
        )
        return made


def _chunks(rows: list[dict[str, Any]], size: int) -> Iterator[list[dict[str, Any]]]:
    for start in range(0, len(rows), size):
        yield rows[start : start + size]


def _body(response: httpx.Response) -> Any:
    """An answer's JSON (None when it has no body)."""
    return json_codec.loads(response.content) if response.content else None
