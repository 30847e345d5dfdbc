"""``/crm/v3/objects/{type}``: list, create, read, update, archive, and v3 association links."""

from __future__ import annotations

from typing import Any

from starlette.routing import Route

from cosell.emulators.hubspot import associations as assoc
from cosell.emulators.hubspot.gateway import Call, Reply, api
from cosell.emulators.hubspot.records import Record
from cosell.emulators.hubspot.store import Store
from cosell.emulators.hubspot.types import ObjectType, object_type
from cosell.emulators.hubspot.wire import HubSpotError, validation

LIST_MAX = 100


def kind_of(call: Call) -> ObjectType:
    return object_type(call.params["object_type"])


def body_object(call: Call) -> dict[str, Any]:
    if not isinstance(call.body, dict):
        raise validation("The request body must be a JSON object.")
    return call.body


def render(call: Call, record: Record, *, names: list[str] | None = None) -> dict[str, Any]:
    """A record as a read answers it: asked (or default) properties, history, associations."""
    store = call.emulator.store
    asked = call.listed("properties") if names is None else names
    history = call.listed("propertiesWithHistory")
    body = record.view(
        None if asked is None else store.known(record.kind, asked),
        None if history is None else store.known(record.kind, history),
    )
    linked = call.listed("associations")
    if linked:
        body["associations"] = associations_block(store, record, linked)
    return body


def associations_block(store: Store, record: Record, names: list[str]) -> dict[str, Any]:
    block: dict[str, Any] = {}
    for name in names:
        other = object_type(name)
        rows = [
            {"id": to_id, "type": assoc.TYPES[t].name}
            for to_id, kinds in store.associations.of(record.kind.name, record.id, other.name)
            if not store.records[other.name][to_id].archived
            for t in sorted(kinds)
        ]
        if rows:
            block[other.name] = {"results": rows}
    return block


def link_at_create(store: Store, record: Record, raw: Any) -> None:
    """The ``associations`` of a create body: ``[{to: {id}, types: [{category, typeId}]}]``."""
    if raw is None:
        return
    if not isinstance(raw, list):
        raise validation("associations must be a list.")
    for item in raw:
        target = str((item.get("to") or {}).get("id", "")) if isinstance(item, dict) else ""
        types = item.get("types") if isinstance(item, dict) else None
        if not target or not isinstance(types, list) or not types:
            raise validation("Each association needs to.id and a non-empty types list.")
        for spec in types:
            type_id = str(spec.get("associationTypeId")) if isinstance(spec, dict) else ""
            kind = assoc.TYPES.get(int(type_id)) if type_id.isdigit() else None
            if kind is None or kind.from_type != record.kind.name:
                raise validation(
                    f"{type_id} is not a valid association type from {record.kind.name}."
                )
            store.get(object_type(kind.to_type), target)
            store.associations.add(
                record.kind.name, record.id, kind.to_type, target, [kind.type_id]
            )


def list_objects(call: Call) -> Reply:
    kind, store = kind_of(call), call.emulator.store
    limit = min(int(call.query.get("limit", "10")), LIST_MAX)
    after = call.query.get("after")
    rows = store.listing(kind, archived=call.flag("archived"))
    if after:
        rows = [r for r in rows if int(r.id) > int(after)]
    page = rows[:limit]
    body: dict[str, Any] = {"results": [render(call, r) for r in page]}
    if len(rows) > limit:
        body["paging"] = {"next": {"after": page[-1].id, "link": f"?after={page[-1].id}"}}
    return Reply(200, body)


def create_object(call: Call) -> Reply:
    kind, store, body = kind_of(call), call.emulator.store, body_object(call)
    for spec in body.get("associations") or []:
        if isinstance(spec, dict):
            store.get(_target_type(kind, spec), str((spec.get("to") or {}).get("id", "")))
    record = store.create(kind, body.get("properties") or {}, call.source)
    link_at_create(store, record, body.get("associations"))
    return Reply(201, record.written())


def _target_type(kind: ObjectType, spec: dict[str, Any]) -> ObjectType:
    for item in spec.get("types") or []:
        type_id = str(item.get("associationTypeId")) if isinstance(item, dict) else ""
        found = assoc.TYPES.get(int(type_id)) if type_id.isdigit() else None
        if found is not None and found.from_type == kind.name:
            return object_type(found.to_type)
    raise validation(f"No valid association type from {kind.name} in {spec}.")


def read_object(call: Call) -> Reply:
    kind, store = kind_of(call), call.emulator.store
    record = store.get(
        kind, call.params["object_id"], call.query.get("idProperty"), call.flag("archived")
    )
    return Reply(200, render(call, record))


def update_object(call: Call) -> Reply:
    kind, store, body = kind_of(call), call.emulator.store, body_object(call)
    record = store.get(kind, call.params["object_id"], call.query.get("idProperty"))
    store.update(record, body.get("properties") or {}, call.source)
    return Reply(200, record.written())


def archive_object(call: Call) -> Reply:
    kind, store = kind_of(call), call.emulator.store
    record = store.find(kind, call.params["object_id"])
    if record is not None:
        store.archive(record, call.source)
    return Reply(204)


def v3_association(call: Call) -> Reply:
    """``PUT|DELETE /crm/v3/objects/{type}/{id}/associations/{toType}/{toId}/{typeId}``."""
    kind, store = kind_of(call), call.emulator.store
    other = object_type(call.params["to_type"])
    record = store.get(kind, call.params["object_id"])
    target = store.get(other, call.params["to_id"])
    link = assoc.resolve(kind.name, other.name, call.params["type_id"])
    if call.method == "DELETE":
        store.associations.remove(kind.name, record.id, other.name, target.id, [link.type_id])
        return Reply(204)
    store.associations.add(kind.name, record.id, other.name, target.id, [link.type_id])
    return Reply(
        200,
        render(call, record, names=[])
        | {"associations": associations_block(store, record, [other.name])},
    )


def merge_objects(call: Call) -> Reply:
    kind, store, body = kind_of(call), call.emulator.store, body_object(call)
    primary = store.get(kind, str(body.get("primaryObjectId", "")))
    merged = store.get(kind, str(body.get("objectIdToMerge", "")))
    if primary is merged:
        raise HubSpotError(400, "VALIDATION_ERROR", "An object cannot be merged into itself.")
    fills = {
        name: value
        for name, value in merged.properties.items()
        if name not in primary.properties
        and store.catalog.get(kind, name) is not None
        and not store.catalog.require(kind, name).read_only
    }
    store.update(primary, fills, call.source)
    store.archive(merged, call.source)
    return Reply(200, primary.written())


def routes() -> list[Route]:
    base = "/crm/v3/objects/{object_type}"
    return [
        api(base, ["GET"], list_objects),
        api(base, ["POST"], create_object),
        api(f"{base}/merge", ["POST"], merge_objects),
        api(f"{base}/{{object_id}}", ["GET"], read_object),
        api(f"{base}/{{object_id}}", ["PATCH"], update_object),
        api(f"{base}/{{object_id}}", ["DELETE"], archive_object),
        api(
            f"{base}/{{object_id}}/associations/{{to_type}}/{{to_id}}/{{type_id}}",
            ["PUT", "DELETE"],
            v3_association,
        ),
    ]
