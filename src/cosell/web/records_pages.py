"""``/records``: search, filter, sort and page every record; CSV export; one record's detail
(both sides and the base field by field, its timeline, its state in plain words, and the
actions that apply); ``Sync now``."""

from __future__ import annotations

from typing import Any
from urllib.parse import urlencode

from starlette.concurrency import run_in_threadpool
from starlette.requests import Request
from starlette.responses import PlainTextResponse, Response
from starlette.routing import Route

from cosell.operations.conflicts import account_candidates
from cosell.operations.records_view import (
    STATE_WORDS,
    STATES,
    RecordQuery,
    RecordRow,
    all_records,
    find_record,
    list_records,
    to_csv,
)
from cosell.queue.protocol import parse_key
from cosell.store.records import AuditRecord
from cosell.sync.core.stages import is_on_hold
from cosell.sync.engine.resolutions import ACCOUNT_FIELD
from cosell.web.site import Site

TIMELINE = 100


class RecordPages:
    """The records list and the record detail of a console."""

    def __init__(self, console: Site) -> None:
        self.console = console

    def routes(self) -> list[Route]:
        guard = self.console.auth.guard
        return [
            Route("/records", guard("viewer", self.listing), methods=["GET"]),
            Route("/records.csv", guard("viewer", self.csv), methods=["GET"]),
            Route("/records/{record_id}", guard("viewer", self.detail), methods=["GET"]),
            Route("/records/{record_id}/sync", guard("operator", self.sync), methods=["POST"]),
            Route("/records/{record_id}/decide", guard("operator", self.decide), methods=["POST"]),
        ]

    async def listing(self, request: Request) -> Response:
        query = RecordQuery.parse(request.query_params)
        only = await run_in_threadpool(self._expiring_ids) if query.expiring else None
        found = await run_in_threadpool(
            list_records, self.console.store, self.console.tenant_id, query, only
        )
        template = "records_table.html" if "hx-request" in request.headers else "records.html"
        return self.console.pages.render(
            request,
            template,
            title="Records",
            query=query,
            found=found,
            states=STATES,
            state_words=STATE_WORDS,
            link=lambda **change: self.console.pages.root + _with(request, change),
            csv_href=f"{self.console.pages.root}/records.csv?{urlencode(_filters(request))}",
            can_expire=self.console.setup.expiring is not None,
        )

    def _expiring_ids(self) -> set[str]:
        read = self.console.setup.expiring
        return set() if read is None else {r.referral_id for r in read().referrals}

    async def csv(self, request: Request) -> Response:
        query = RecordQuery.parse(request.query_params)
        rows = await run_in_threadpool(all_records, self.console.store, self.console.tenant_id)
        kept = [r for r in rows if query.keeps(r)]
        headers = {"Content-Disposition": 'attachment; filename="cosell-records.csv"'}
        return Response(to_csv(kept), media_type="text/csv; charset=utf-8", headers=headers)

    async def detail(self, request: Request) -> Response:
        record_id = request.path_params["record_id"]
        context = await run_in_threadpool(detail_context, self.console, record_id)
        if context is None:
            return PlainTextResponse(f"no record {record_id} is known", 404)
        return self.console.pages.render(request, "record.html", **context)

    async def sync(self, request: Request) -> Response:
        record_id = request.path_params["record_id"]
        row = await run_in_threadpool(
            find_record, self.console.store, self.console.tenant_id, record_id
        )
        if row is None:
            return PlainTextResponse(f"no record {record_id} is known", 404)
        keys = _keys(row)
        await run_in_threadpool(self.console.store.enqueue_many, self.console.tenant_id, keys)
        return self.console.back(f"Queued {', '.join(keys)} to sync now", f"/records/{record_id}")

    async def decide(self, request: Request) -> Response:
        record_id = request.path_params["record_id"]
        form = await request.form()
        decision = str(form.get("decision") or "")
        back = f"/records/{record_id}"
        decide = self.console.decide
        if decide is None or decision not in ("accept", "decline"):
            return PlainTextResponse("decision must be accept or decline", 400)
        try:
            stage = await run_in_threadpool(decide, record_id, decision)  # type: ignore[arg-type]
        except (LookupError, ValueError) as exc:
            return self.console.back(str(exc.args[0]), back)
        verb = "Accepted" if decision == "accept" else "Declined"
        return self.console.back(f"{verb}: the opportunity is now {stage}; syncing", back)


def detail_context(console: Site, record_id: str) -> dict[str, Any] | None:
    """What one record's page (and its JSON) shows; ``None`` when no record has that id."""
    store, tenant = console.store, console.tenant_id
    row = find_record(store, tenant, record_id)
    if row is None:
        return None
    link = None
    if row.referral_id:
        link = store.link_by_referral(tenant, row.referral_id)
    if link is None and row.opportunity_id:
        link = store.link_by_opportunity(tenant, row.opportunity_id)
    sides = None
    if console.sides is not None:
        kind, key_id = parse_key(row.key) if ":" in row.key else ("referral", record_id)
        sides = console.sides.read(kind, key_id, link)
    conflicts = store.conflicts(tenant, "open", link.id) if link else []
    return {
        "title": row.name or _live_name(sides) or row.key,
        "row": row,
        "sides": sides,
        "conflicts": conflicts,
        "account_field": ACCOUNT_FIELD,
        "candidates": account_candidates,
        "timeline": _timeline(store.audit_for, tenant, row),
        "referral_url": console.urls.of(console.urls.referral, row.referral_id),
        "opportunity_url": console.urls.of(console.urls.opportunity, row.opportunity_id),
        # retry by id: it finds the dead letter under either of the pair's keys, and resumes a
        # pair parked as a loop
        "dead_key": (row.referral_id or row.opportunity_id)
        if row.state in ("refused", "parked")
        else None,
        "can_decide": console.decide is not None
        and row.direction == "incoming"
        and bool(row.referral_id)
        and is_on_hold(row.stage),
    }


def _live_name(sides: Any) -> str:
    """The deal name as a side holds it now (for a record with no agreed base yet)."""
    for found in getattr(sides, "fields", None) or []:
        if found.name == "name":
            return str(found.crm or found.partner_center or "")
    return ""


def _keys(row: RecordRow) -> list[str]:
    keys = []
    if row.referral_id:
        keys.append(f"referral:{row.referral_id}")
    if row.opportunity_id:
        keys.append(f"opportunity:{row.opportunity_id}")
    return keys


def _timeline(read: Any, tenant: Any, row: RecordRow) -> list[AuditRecord]:
    """The record's audit, newest first, without rounds that changed nothing."""
    seen: dict[int, AuditRecord] = {}
    for record_id in (row.referral_id, row.opportunity_id):
        if record_id:
            for entry in read(tenant, record_id, TIMELINE):
                seen[entry.id] = entry
    entries = sorted(seen.values(), key=lambda e: (e.at, e.id), reverse=True)
    return [e for e in entries if not _noise(e)][:TIMELINE]


def _noise(entry: AuditRecord) -> bool:
    return entry.outcome == "skipped" and entry.old is None and entry.new is None


def _filters(request: Request) -> dict[str, str]:
    keep = ("q", "state", "direction", "stage", "sort", "order", "expiring")
    return {k: v for k, v in request.query_params.items() if k in keep and v}


def _with(request: Request, change: dict[str, Any]) -> str:
    params = _filters(request) | {"page": request.query_params.get("page", "")}
    params |= {k: str(v) for k, v in change.items()}
    return "/records?" + urlencode({k: v for k, v in params.items() if v})
