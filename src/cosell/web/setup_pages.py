"""``/mapping`` (the configured field mapping, previewed against a chosen record) and
``/settings`` (what this deployment is configured with, its users, the doctor's checks on
demand, and the recent alerts with their delivery). Both read only; the mapping and the checks
are handed in by the service."""

from __future__ import annotations

from typing import Any

from starlette.concurrency import run_in_threadpool
from starlette.requests import Request
from starlette.responses import Response
from starlette.routing import Route

from cosell.operations.records_view import find_record
from cosell.web.records_pages import detail_context
from cosell.web.site import Site

RECENT_ALERTS = 20


class SetupPages:
    """The mapping and settings pages of a console."""

    def __init__(self, console: Site) -> None:
        self.console = console

    def routes(self) -> list[Route]:
        guard = self.console.auth.guard
        return [
            Route("/mapping", guard("viewer", self.mapping), methods=["GET"]),
            Route("/settings", guard("admin", self.settings), methods=["GET"]),
        ]

    async def mapping(self, request: Request) -> Response:
        record_id = request.query_params.get("record", "").strip()
        preview = await run_in_threadpool(self._preview, record_id) if record_id else None
        mapping = self.console.setup.mapping
        return self.console.pages.render(
            request,
            "mapping.html",
            title="Mapping",
            fields=sorted(mapping.fields.items()) if mapping else [],
            record_id=record_id,
            preview=preview,
        )

    async def settings(self, request: Request) -> Response:
        setup = self.console.setup
        run = request.query_params.get("check") == "1" and setup.doctor is not None
        checks = await run_in_threadpool(setup.doctor) if run and setup.doctor else None
        users = []
        if self.console.auth.directory is not None:
            users = await run_in_threadpool(self.console.auth.directory.listed)
        store, tenant = self.console.store, self.console.tenant_id
        alerts = await run_in_threadpool(store.recent_alerts, tenant, RECENT_ALERTS)
        return self.console.pages.render(
            request,
            "settings.html",
            title="Settings",
            facts=setup.facts,
            checks=checks,
            can_check=setup.doctor is not None,
            users=users,
            alerts=alerts,
        )

    def _preview(self, record_id: str) -> dict[str, Any]:
        console = self.console
        row = find_record(console.store, console.tenant_id, record_id)
        if row is None:
            return {"error": f"no record {record_id} is known", "by_field": {}}
        context = detail_context(console, record_id) or {}
        sides = context.get("sides")
        by_name = {f.name: f for f in sides.fields} if sides is not None and not sides.error else {}
        return {"row": row, "by_field": by_name, "error": sides.error if sides else None}
