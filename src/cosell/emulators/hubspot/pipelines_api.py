"""Pipelines API for deals: ``/crm/v3/pipelines/deals`` and its stages."""

from __future__ import annotations

from starlette.routing import Route

from cosell.emulators.hubspot.gateway import Call, Reply, api
from cosell.emulators.hubspot.objects_api import body_object
from cosell.emulators.hubspot.pipelines import Pipelines
from cosell.emulators.hubspot.types import object_type
from cosell.emulators.hubspot.wire import HubSpotError, format_time


def _book(call: Call) -> Pipelines:
    if object_type(call.params["object_type"]).name != "deals":
        raise HubSpotError(400, "VALIDATION_ERROR", "The emulator keeps pipelines for deals only.")
    return call.emulator.store.pipelines


def _stamp(call: Call) -> str:
    return format_time(call.emulator.clock.now())


def _validate(call: Call) -> bool:
    return any(
        call.flag(n)
        for n in ("validateReferencesBeforeDelete", "validateDealStageUsagesBeforeDelete")
    )


def pipelines(call: Call) -> Reply:
    book = _book(call)
    if call.method == "POST":
        return Reply(201, book.create(body_object(call), _stamp(call)).as_dict())
    return Reply(200, {"results": [p.as_dict() for p in book.live()]})


def pipeline(call: Call) -> Reply:
    book, pipeline_id = _book(call), call.params["pipeline_id"]
    if call.method == "DELETE":
        book.archive(pipeline_id, _validate(call))
        return Reply(204)
    if call.method == "PATCH":
        return Reply(200, book.update(pipeline_id, body_object(call), _stamp(call)).as_dict())
    return Reply(200, book.get(pipeline_id).as_dict())


def stages(call: Call) -> Reply:
    book, pipeline_id = _book(call), call.params["pipeline_id"]
    if call.method == "POST":
        return Reply(201, book.create_stage(pipeline_id, body_object(call), _stamp(call)).as_dict())
    return Reply(200, {"results": [s.as_dict() for s in book.get(pipeline_id).live_stages()]})


def stage(call: Call) -> Reply:
    book, ids = _book(call), (call.params["pipeline_id"], call.params["stage_id"])
    if call.method == "DELETE":
        book.archive_stage(*ids)
        return Reply(204)
    if call.method == "PATCH":
        return Reply(200, book.update_stage(*ids, body_object(call), _stamp(call)).as_dict())
    return Reply(200, book.stage(*ids).as_dict())


def routes() -> list[Route]:
    base = "/crm/v3/pipelines/{object_type}"
    return [
        api(base, ["GET", "POST"], pipelines),
        api(f"{base}/{{pipeline_id}}", ["GET", "PATCH", "DELETE"], pipeline),
        api(f"{base}/{{pipeline_id}}/stages", ["GET", "POST"], stages),
        api(f"{base}/{{pipeline_id}}/stages/{{stage_id}}", ["GET", "PATCH", "DELETE"], stage),
    ]
