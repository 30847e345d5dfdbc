"""``/conflicts`` and ``/dead-letters``: what waits for a person, with bulk actions.

Each row names its record (deal name, customer) and links to the record's page; a dead letter's
reason is shown in plain words with the fix (the engine's text is one click away). Bulk actions
post the ticked rows: retry them, or take one side for every ticked field conflict (an account
conflict is settled one by one on its record page, by picking an account).
"""

from __future__ import annotations

from typing import Any

from starlette.concurrency import run_in_threadpool
from starlette.requests import Request
from starlette.responses import Response
from starlette.routing import Route

from cosell.operations.conflicts import Resolution, open_conflicts, resolve
from cosell.operations.reasons import plain_reason
from cosell.operations.records_view import RecordRow, all_records
from cosell.sync.engine.resolutions import ACCOUNT_FIELD
from cosell.web.site import Site


class QueuePages:
    """The conflicts and dead-letters lists of a console."""

    def __init__(self, console: Site) -> None:
        self.console = console

    def routes(self) -> list[Route]:
        guard = self.console.auth.guard
        return [
            Route("/conflicts", guard("viewer", self.conflicts), methods=["GET"]),
            Route("/conflicts/bulk", guard("operator", self.bulk_resolve), methods=["POST"]),
            Route("/dead-letters", guard("viewer", self.dead_letters), methods=["GET"]),
        ]

    async def conflicts(self, request: Request) -> Response:
        context = await run_in_threadpool(self._conflicts)
        return self.console.pages.render(request, "conflicts.html", title="Conflicts", **context)

    async def dead_letters(self, request: Request) -> Response:
        context = await run_in_threadpool(self._dead_letters)
        return self.console.pages.render(
            request, "dead_letters.html", title="Dead letters", **context
        )

    async def bulk_resolve(self, request: Request) -> Response:
        form = await request.form()
        take = str(form.get("take") or "")
        ids = [int(str(i)) for i in form.getlist("conflict") if str(i).isdigit()]
        if take not in ("partner_center", "crm") or not ids:
            return self.console.back("Pick conflicts and a side to take", "/conflicts")
        done, skipped = await run_in_threadpool(self._resolve_all, ids, Resolution.parse(take))
        notice = f"Resolved {done} conflict(s) taking {Resolution.parse(take).describe()}"
        if skipped:
            notice += f"; {skipped} account choice(s) left to pick on their record page"
        return self.console.back(notice, "/conflicts")

    # --- data ------------------------------------------------------------------------------------

    def _resolve_all(self, ids: list[int], resolution: Resolution) -> tuple[int, int]:
        console = self.console
        accounts = {
            v.conflict.id
            for v in open_conflicts(console.store, console.tenant_id)
            if v.conflict.field == ACCOUNT_FIELD
        }
        done = skipped = 0
        for conflict_id in ids:
            if conflict_id in accounts:
                skipped += 1
                continue
            try:
                resolve(console.store, console.tenant_id, conflict_id, resolution)
                done += 1
            except (LookupError, ValueError):
                skipped += 1
        return done, skipped

    def _conflicts(self) -> dict[str, Any]:
        store, tenant = self.console.store, self.console.tenant_id
        rows = _by_id(all_records(store, tenant))
        views = open_conflicts(store, tenant)
        return {
            "conflicts": [(v, rows.get(v.referral_id or v.opportunity_id or "")) for v in views],
            "account_field": ACCOUNT_FIELD,
        }

    def _dead_letters(self) -> dict[str, Any]:
        store, tenant = self.console.store, self.console.tenant_id
        rows = _by_id(all_records(store, tenant))
        letters = store.dead_letters(tenant)
        return {
            "letters": [
                (d, plain_reason(d.reason), rows.get(d.key.partition(":")[2])) for d in letters
            ]
        }


def _by_id(rows: list[RecordRow]) -> dict[str, RecordRow]:
    found: dict[str, RecordRow] = {}
    for row in rows:
        for record_id in (row.referral_id, row.opportunity_id):
            if record_id:
                found[record_id] = row
    return found
