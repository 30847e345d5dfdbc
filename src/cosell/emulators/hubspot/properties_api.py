"""Properties API: ``/crm/v3/properties/{type}`` (CRUD and batch) and property groups."""

from __future__ import annotations

from starlette.routing import Route

from cosell.emulators.hubspot.batch_api import envelope
from cosell.emulators.hubspot.gateway import Call, Reply, api
from cosell.emulators.hubspot.objects_api import body_object, kind_of
from cosell.emulators.hubspot.wire import HubSpotError, format_time, validation


def _stamp(call: Call) -> str:
    return format_time(call.emulator.clock.now())


def list_properties(call: Call) -> Reply:
    catalog = call.emulator.store.catalog
    props = catalog.of(kind_of(call), archived=call.flag("archived"))
    return Reply(200, {"results": [p.as_dict() for p in props.values()]})


def create_property(call: Call) -> Reply:
    catalog = call.emulator.store.catalog
    prop = catalog.create(kind_of(call), body_object(call), _stamp(call))
    return Reply(201, prop.as_dict())


def read_property(call: Call) -> Reply:
    catalog = call.emulator.store.catalog
    return Reply(200, catalog.require(kind_of(call), call.params["name"]).as_dict())


def update_property(call: Call) -> Reply:
    catalog = call.emulator.store.catalog
    prop = catalog.update(kind_of(call), call.params["name"], body_object(call), _stamp(call))
    return Reply(200, prop.as_dict())


def archive_property(call: Call) -> Reply:
    call.emulator.store.catalog.archive(kind_of(call), call.params["name"])
    return Reply(204)


def batch_read(call: Call) -> Reply:
    catalog, kind = call.emulator.store.catalog, kind_of(call)
    names = [
        str(i.get("name")) for i in body_object(call).get("inputs") or [] if isinstance(i, dict)
    ]
    found = [catalog.get(kind, n) for n in names]
    return envelope(call, [p.as_dict() for p in found if p is not None], [], 200)


def batch_create(call: Call) -> Reply:
    catalog, kind, stamp = call.emulator.store.catalog, kind_of(call), _stamp(call)
    raw = body_object(call).get("inputs")
    if not isinstance(raw, list):
        raise validation("inputs: expected a list of property definitions.")
    results, errors = [], []
    for item in raw:
        try:
            results.append(catalog.create(kind, item if isinstance(item, dict) else {}, stamp))
        except HubSpotError as error:
            errors.append(error.item())
    return envelope(call, [p.as_dict() for p in results], errors, 201)


def batch_archive(call: Call) -> Reply:
    catalog, kind = call.emulator.store.catalog, kind_of(call)
    for item in body_object(call).get("inputs") or []:
        prop = catalog.get(kind, str(item.get("name"))) if isinstance(item, dict) else None
        if prop is not None and not prop.hubspot_defined:
            prop.archived = True
    return Reply(204)


def groups(call: Call) -> Reply:
    catalog, kind = call.emulator.store.catalog, kind_of(call)
    if call.method == "POST":
        return Reply(201, catalog.create_group(kind, body_object(call)))
    live = [g for g in catalog.groups[kind.name].values() if not g["archived"]]
    return Reply(200, {"results": live})


def group(call: Call) -> Reply:
    catalog, kind = call.emulator.store.catalog, kind_of(call)
    found = catalog.group(kind, call.params["group"])
    if call.method == "DELETE":
        found["archived"] = True
        return Reply(204)
    if call.method == "PATCH":
        body = body_object(call)
        found.update({k: body[k] for k in ("label", "displayOrder") if k in body})
    return Reply(200, found)


def routes() -> list[Route]:
    base = "/crm/v3/properties/{object_type}"
    return [
        api(f"{base}/batch/read", ["POST"], batch_read),
        api(f"{base}/batch/create", ["POST"], batch_create),
        api(f"{base}/batch/archive", ["POST"], batch_archive),
        api(f"{base}/groups", ["GET", "POST"], groups),
        api(f"{base}/groups/{{group}}", ["GET", "PATCH", "DELETE"], group),
        api(base, ["GET"], list_properties),
        api(base, ["POST"], create_property),
        api(f"{base}/{{name}}", ["GET"], read_property),
        api(f"{base}/{{name}}", ["PATCH"], update_property),
        api(f"{base}/{{name}}", ["DELETE"], archive_property),
    ]
