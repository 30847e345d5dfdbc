"""``/api/v1``: the console's data and actions as JSON, described at ``/api/v1/openapi.json``.

The same users, roles and guards as the pages: scripts send ``Authorization: Bearer <token>``
(``cosell users token``); a browser session works too, with its CSRF token in ``X-CSRF-Token``
on POSTs. Bodies and answers are Pydantic models; the OpenAPI document is built from them.
"""

from __future__ import annotations

from typing import Any, TypeVar

from pydantic import BaseModel, ValidationError
from starlette.concurrency import run_in_threadpool
from starlette.requests import Request
from starlette.responses import JSONResponse, Response
from starlette.routing import Route

from cosell import __version__
from cosell.operations.conflicts import (
    ConflictView,
    Resolution,
    account_candidates,
    open_conflicts,
    resolve,
)
from cosell.operations.reasons import PlainReason, plain_reason
from cosell.operations.records_view import (
    SORTS,
    STATES,
    RecordQuery,
    RecordRow,
    all_records,
    find_record,
    list_records,
)
from cosell.operations.retry import retry_all, retry_one
from cosell.sync.engine.resolutions import ACCOUNT_FIELD
from cosell.web.api_health import alert_out, connections_out, hours_out
from cosell.web.api_models import (
    AuditOut,
    ConflictOut,
    DeadLetterOut,
    Decided,
    DecideIn,
    FieldOut,
    Overview,
    Queued,
    ReasonOut,
    RecordDetail,
    RecordList,
    RecordOut,
    Resolved,
    ResolveIn,
    RetryIn,
    SidesOut,
)
from cosell.web.openapi import PREFIX, openapi_document
from cosell.web.records_pages import detail_context
from cosell.web.site import Site

RECENT_ALERTS = 50


class ConsoleAPI:
    """The JSON routes of a console."""

    def __init__(self, console: Site) -> None:
        self.console = console

    def routes(self) -> list[Route]:
        guard = self.console.auth.guard
        viewer = {"api": True}
        return [
            Route(f"{PREFIX}/openapi.json", self.openapi, methods=["GET"]),
            Route(f"{PREFIX}/overview", guard("viewer", self.overview, **viewer), methods=["GET"]),
            Route(f"{PREFIX}/records", guard("viewer", self.records, **viewer), methods=["GET"]),
            Route(
                f"{PREFIX}/records/{{record_id}}",
                guard("viewer", self.record, **viewer),
                methods=["GET"],
            ),
            Route(
                f"{PREFIX}/records/{{record_id}}/sync",
                guard("operator", self.sync, **viewer),
                methods=["POST"],
            ),
            Route(
                f"{PREFIX}/records/{{record_id}}/decide",
                guard("operator", self.decide, **viewer),
                methods=["POST"],
            ),
            Route(
                f"{PREFIX}/conflicts", guard("viewer", self.conflicts, **viewer), methods=["GET"]
            ),
            Route(
                f"{PREFIX}/conflicts/{{conflict_id:int}}/resolve",
                guard("operator", self.resolve, **viewer),
                methods=["POST"],
            ),
            Route(
                f"{PREFIX}/dead-letters",
                guard("viewer", self.dead_letters, **viewer),
                methods=["GET"],
            ),
            Route(f"{PREFIX}/alerts", guard("viewer", self.alerts, **viewer), methods=["GET"]),
            Route(
                f"{PREFIX}/dead-letters/retry",
                guard("operator", self.retry, **viewer),
                methods=["POST"],
            ),
        ]

    # --- reads -----------------------------------------------------------------------------------

    async def openapi(self, request: Request) -> Response:
        return JSONResponse(openapi_document(self.console.pages.root))

    async def overview(self, request: Request) -> Response:
        def read() -> Overview:
            store, tenant = self.console.store, self.console.tenant_id
            stats = store.stats(tenant)
            states: dict[str, int] = dict.fromkeys(STATES, 0)
            for row in all_records(store, tenant):
                states[row.state] += 1
            return Overview(
                tenant=self.console.tenant,
                version=__version__,
                states=states,
                queue_depth=stats.queue_depth,
                leased=stats.leased,
                dead_letters=stats.dead_letters,
                open_conflicts=stats.open_conflicts,
                connections=connections_out(store, tenant),
                hours=hours_out(store, tenant, store.clock.now()),
            )

        return _json(await run_in_threadpool(read))

    async def alerts(self, request: Request) -> Response:
        store, tenant = self.console.store, self.console.tenant_id
        kept = await run_in_threadpool(store.recent_alerts, tenant, RECENT_ALERTS)
        return JSONResponse([alert_out(a).model_dump(mode="json") for a in kept])

    async def records(self, request: Request) -> Response:
        params = request.query_params
        problem = _query_problem(params)
        if problem:
            return _error(problem, 400)
        query = RecordQuery.parse(params)
        store, tenant = self.console.store, self.console.tenant_id
        found = await run_in_threadpool(list_records, store, tenant, query)
        out = RecordList(
            total=found.total,
            page=found.page,
            pages=found.pages,
            records=[record_out(r) for r in found.rows],
        )
        return _json(out)

    async def record(self, request: Request) -> Response:
        record_id = request.path_params["record_id"]
        detail = await run_in_threadpool(self._detail, record_id)
        if detail is None:
            return _error(f"no record {record_id} is known", 404)
        return _json(detail)

    async def conflicts(self, request: Request) -> Response:
        views = await run_in_threadpool(open_conflicts, self.console.store, self.console.tenant_id)
        return JSONResponse([conflict_out(v).model_dump(mode="json") for v in views])

    async def dead_letters(self, request: Request) -> Response:
        letters = await run_in_threadpool(self.console.store.dead_letters, self.console.tenant_id)
        return JSONResponse(
            [
                DeadLetterOut(
                    key=d.key,
                    reason=reason_out(plain_reason(d.reason)),
                    attempts=d.attempts,
                    failed_at=d.failed_at,
                ).model_dump(mode="json")
                for d in letters
            ]
        )

    # --- actions ---------------------------------------------------------------------------------

    async def sync(self, request: Request) -> Response:
        record_id = request.path_params["record_id"]
        store, tenant = self.console.store, self.console.tenant_id
        row = await run_in_threadpool(find_record, store, tenant, record_id)
        if row is None:
            return _error(f"no record {record_id} is known", 404)
        keys = [
            k
            for k in (_key("referral", row.referral_id), _key("opportunity", row.opportunity_id))
            if k
        ]
        await run_in_threadpool(store.enqueue_many, tenant, keys)
        return _json(Queued(keys=keys))

    async def decide(self, request: Request) -> Response:
        body = await _body(request, DecideIn)
        if isinstance(body, Response):
            return body
        decide = self.console.decide
        if decide is None:
            return _error("accepting and declining needs a connection to the CRM", 400)
        try:
            stage = await run_in_threadpool(decide, request.path_params["record_id"], body.decision)
        except LookupError as exc:
            return _error(str(exc.args[0]), 404)
        except ValueError as exc:
            return _error(str(exc), 400)
        return _json(Decided(stage=stage))

    async def resolve(self, request: Request) -> Response:
        body = await _body(request, ResolveIn)
        if isinstance(body, Response):
            return body
        if body.take == "value" and body.value is None:
            return _error("take 'value' needs a value", 400)
        resolution = Resolution(body.take, body.value)
        conflict_id = int(request.path_params["conflict_id"])
        store, tenant = self.console.store, self.console.tenant_id
        try:
            await run_in_threadpool(resolve, store, tenant, conflict_id, resolution)
        except ValueError as exc:
            return _error(str(exc), 400)
        except LookupError as exc:
            return _error(str(exc.args[0]), 404)
        return _json(Resolved(conflict_id=conflict_id, took=resolution.describe()))

    async def retry(self, request: Request) -> Response:
        body = await _body(request, RetryIn)
        if isinstance(body, Response):
            return body
        store, tenant = self.console.store, self.console.tenant_id
        if body.all:
            keys = await run_in_threadpool(retry_all, store, tenant)
        else:
            keys = []
            for key in body.keys:
                keys += await run_in_threadpool(retry_one, store, tenant, key)
        return _json(Queued(keys=keys))

    # --- data ------------------------------------------------------------------------------------

    def _detail(self, record_id: str) -> RecordDetail | None:
        context = detail_context(self.console, record_id)
        if context is None:
            return None
        sides = context["sides"]
        return RecordDetail(
            record=record_out(context["row"]),
            sides=None
            if sides is None
            else SidesOut(
                fields=[
                    FieldOut(
                        name=f.name,
                        partner_center=f.partner_center,
                        crm=f.crm,
                        base=f.base,
                        differs=f.sides_differ,
                        held_reason=f.held_reason,
                    )
                    for f in sides.fields
                ],
                partner_center_found=sides.pc_found,
                crm_found=sides.crm_found,
                error=sides.error,
            ),
            conflicts=[conflict_out(ConflictView(c, None, None)) for c in context["conflicts"]],
            timeline=[
                AuditOut(
                    at=a.at,
                    direction=a.direction,
                    field=a.field,
                    old=a.old,
                    new=a.new,
                    outcome=a.outcome,
                    message=a.message,
                )
                for a in context["timeline"]
            ],
        )


def reason_out(reason: PlainReason) -> ReasonOut:
    return ReasonOut(text=reason.text, fix=reason.fix, raw=reason.raw)


def record_out(row: RecordRow) -> RecordOut:
    return RecordOut(
        key=row.key,
        link_id=row.link_id,
        referral_id=row.referral_id,
        opportunity_id=row.opportunity_id,
        name=row.name,
        customer=row.customer,
        value=row.value,
        currency=row.currency,
        stage=row.stage,
        owner=row.owner,
        direction=row.direction,
        state=row.state,
        state_words=row.state_words,
        reason=None if row.reason is None else reason_out(row.reason),
        last_sync=row.last_sync,
    )


def conflict_out(view: ConflictView) -> ConflictOut:
    c = view.conflict
    accounts = account_candidates(c) if c.field == ACCOUNT_FIELD else None
    return ConflictOut(
        id=c.id,
        field=c.field,
        base=c.base,
        partner_center=c.pc,
        crm=c.crm,
        opened_at=c.opened_at,
        referral_id=view.referral_id,
        opportunity_id=view.opportunity_id,
        account_candidates=accounts,
    )


def _key(kind: str, record_id: str | None) -> str | None:
    return f"{kind}:{record_id}" if record_id else None


def _json(model: BaseModel) -> Response:
    return JSONResponse(model.model_dump(mode="json"))


def _error(message: str, status: int) -> Response:
    return JSONResponse({"error": message}, status)


M = TypeVar("M", bound=BaseModel)


async def _body(request: Request, model: type[M]) -> M | Response:
    raw = await request.body()
    try:
        return model.model_validate_json(raw or b"{}")
    except ValidationError as exc:
        first = exc.errors()[0]
        where = ".".join(str(p) for p in first["loc"]) or "body"
        return _error(f"{where}: {first['msg']}", 422)


def _query_problem(params: Any) -> str | None:
    choices = {"state": STATES, "direction": ("incoming", "outgoing", "unknown"), "sort": SORTS}
    choices |= {"order": ("asc", "desc")}
    for name, allowed in choices.items():
        value = params.get(name)
        if value and value not in allowed:
            return f"{name} must be one of {', '.join(allowed)}, not {value!r}"
    page = params.get("page")
    if page is not None and (not page.isdigit() or int(page) < 1):
        return f"page must be a whole number from 1, not {page!r}"
    return None
