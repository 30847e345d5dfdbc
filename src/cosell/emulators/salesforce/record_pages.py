"""``GET /{id}`` and ``GET /lightning/r/{object}/{id}/view``: a record's page in the org,
emulated as a minimal HTML page (not an API call: no session, no usage counted)."""

from __future__ import annotations

from starlette.requests import Request
from starlette.responses import Response
from starlette.routing import Route

from cosell.emulators.record_page import missing_page, record_page
from cosell.emulators.salesforce.emulator import SalesforceEmulator

SYSTEM = "Salesforce"


async def record_view(request: Request) -> Response:
    emulator: SalesforceEmulator = request.app.state.emulator
    record_id = request.path_params["record_id"]
    with emulator.lock:
        found = emulator.org.find(record_id)
        if found is None:
            return missing_page(SYSTEM, record_id)
        obj, record = found
        fields = dict(record)
    title = f"{obj.name}: {fields.get('Name') or record_id}"
    return record_page(SYSTEM, record_id, title, fields)


def routes() -> list[Route]:
    return [
        Route("/lightning/r/{object}/{record_id}/view", record_view, methods=["GET"]),
        Route("/{record_id}", record_view, methods=["GET"]),
    ]
