"""Associations v4: default and labelled links, removal, paged listing, and batch calls."""

from __future__ import annotations

from typing import Any

from starlette.routing import Route

from cosell.emulators.hubspot import associations as assoc
from cosell.emulators.hubspot.batch_api import envelope
from cosell.emulators.hubspot.gateway import Call, Reply, api
from cosell.emulators.hubspot.records import Record
from cosell.emulators.hubspot.types import ObjectType, object_type
from cosell.emulators.hubspot.wire import HubSpotError, format_time, validation

PAGE_DEFAULT = 500


def _ends(call: Call) -> tuple[ObjectType, Record, ObjectType, Record]:
    store = call.emulator.store
    kind, other = object_type(call.params["from_type"]), object_type(call.params["to_type"])
    return (
        kind,
        store.get(kind, call.params["from_id"]),
        other,
        store.get(other, call.params["to_id"]),
    )


def _types(kind: ObjectType, other: ObjectType, raw: Any) -> list[int]:
    if not isinstance(raw, list) or not raw:
        raise validation("Expected a non-empty list of association types.")
    return [
        assoc.resolve(
            kind.name, other.name, item.get("associationTypeId"), item.get("associationCategory")
        ).type_id
        for item in raw
        if isinstance(item, dict)
    ]


def put_default(call: Call) -> Reply:
    kind, record, other, target = _ends(call)
    link = assoc.default_type(kind.name, other.name)
    call.emulator.store.associations.add(
        kind.name, record.id, other.name, target.id, [link.type_id]
    )
    stamp = format_time(call.emulator.clock.now())
    result = {
        "from": {"id": record.id},
        "to": {"id": target.id},
        "associationSpec": assoc.spec(link.type_id),
    }
    return Reply(
        200, {"status": "COMPLETE", "results": [result], "startedAt": stamp, "completedAt": stamp}
    )


def put_labelled(call: Call) -> Reply:
    kind, record, other, target = _ends(call)
    type_ids = _types(kind, other, call.body)
    book = call.emulator.store.associations
    book.replace(kind.name, record.id, other.name, target.id, type_ids)
    held = book.between(kind.name, record.id, other.name, target.id)
    return Reply(
        201,
        {
            "fromObjectTypeId": kind.type_id,
            "fromObjectId": int(record.id),
            "toObjectTypeId": other.type_id,
            "toObjectId": int(target.id),
            "labels": sorted({assoc.TYPES[t].label for t in held if assoc.TYPES[t].label}),
        },
    )


def delete_pair(call: Call) -> Reply:
    kind, record, other, target = _ends(call)
    call.emulator.store.associations.remove(kind.name, record.id, other.name, target.id)
    return Reply(204)


def _page_of(
    call: Call, kind: ObjectType, record_id: str, other: ObjectType, after: str | None, limit: int
) -> dict[str, Any]:
    store = call.emulator.store
    rows = [
        (to_id, kinds)
        for to_id, kinds in store.associations.of(kind.name, record_id, other.name)
        if not store.records[other.name][to_id].archived
    ]
    if after:
        rows = [r for r in rows if int(r[0]) > int(after)]
    page = rows[:limit]
    body: dict[str, Any] = {
        "results": [
            {"toObjectId": int(to_id), "associationTypes": [assoc.labelled(t) for t in sorted(k)]}
            for to_id, k in page
        ]
    }
    if len(rows) > limit:
        body["paging"] = {"next": {"after": page[-1][0]}}
    return body


def list_links(call: Call) -> Reply:
    store = call.emulator.store
    kind, other = object_type(call.params["from_type"]), object_type(call.params["to_type"])
    record = store.get(kind, call.params["from_id"])
    limit = int(call.query.get("limit", str(PAGE_DEFAULT)))
    return Reply(200, _page_of(call, kind, record.id, other, call.query.get("after"), limit))


def _batch_kinds(call: Call) -> tuple[ObjectType, ObjectType]:
    return object_type(call.params["from_type"]), object_type(call.params["to_type"])


def _id(raw: Any) -> str:
    return str(raw.get("id", "")) if isinstance(raw, dict) else ""


def batch_default(call: Call) -> Reply:
    kind, other = _batch_kinds(call)
    link, store = assoc.default_type(kind.name, other.name), call.emulator.store
    results = []
    for row in _assoc_inputs(call, 2000):
        source, target = store.get(kind, _id(row.get("from"))), store.get(other, _id(row.get("to")))
        store.associations.add(kind.name, source.id, other.name, target.id, [link.type_id])
        results.append(
            {
                "from": {"id": source.id},
                "to": {"id": target.id},
                "associationSpec": assoc.spec(link.type_id),
            }
        )
    return envelope(call, results, [], 200)


def batch_create(call: Call) -> Reply:
    kind, other = _batch_kinds(call)
    store, results, errors = call.emulator.store, [], []
    for row in _assoc_inputs(call, 2000):
        try:
            source, target = (
                store.get(kind, _id(row.get("from"))),
                store.get(other, _id(row.get("to"))),
            )
            type_ids = _types(kind, other, row.get("types"))
        except HubSpotError as error:
            errors.append(error.item())
            continue
        store.associations.add(kind.name, source.id, other.name, target.id, type_ids)
        held = store.associations.between(kind.name, source.id, other.name, target.id)
        results.append(
            {
                "fromObjectTypeId": kind.type_id,
                "fromObjectId": int(source.id),
                "toObjectTypeId": other.type_id,
                "toObjectId": int(target.id),
                "labels": sorted({assoc.TYPES[t].label or "" for t in held} - {""}),
            }
        )
    return envelope(call, results, errors, 201)


def batch_read(call: Call) -> Reply:
    kind, other = _batch_kinds(call)
    store, results, missing = call.emulator.store, [], []
    for row in _assoc_inputs(call, 1000):
        record = store.find(kind, _id(row))
        if record is None:
            missing.append(_id(row))
            continue
        page = _page_of(call, kind, record.id, other, row.get("after"), PAGE_DEFAULT)
        item: dict[str, Any] = {"from": {"id": record.id}, "to": page["results"]}
        if "paging" in page:
            item["paging"] = page["paging"]
        results.append(item)
    errors = []
    if missing:
        errors.append(
            HubSpotError(
                404,
                "OBJECT_NOT_FOUND",
                f"No {kind.name} with ids {missing}.",
                context={"ids": missing},
            ).item()
        )
    return envelope(call, results, errors, 200)


def batch_archive(call: Call) -> Reply:
    kind, other = _batch_kinds(call)
    book = call.emulator.store.associations
    for row in _assoc_inputs(call, 2000):
        raw = row.get("to")
        targets: list[Any] = raw if isinstance(raw, list) else [raw]
        for target in targets:
            book.remove(kind.name, _id(row.get("from")), other.name, _id(target))
    return Reply(204)


def _assoc_inputs(call: Call, cap: int) -> list[dict[str, Any]]:
    raw = call.body.get("inputs") if isinstance(call.body, dict) else None
    if not isinstance(raw, list) or not all(isinstance(i, dict) for i in raw):
        raise validation("inputs: expected a list of objects.")
    if len(raw) > cap:
        raise validation(f"Too many inputs: at most {cap}, got {len(raw)}.")
    return raw


def routes() -> list[Route]:
    one = "/crm/v4/objects/{from_type}/{from_id}/associations"
    batch = "/crm/v4/associations/{from_type}/{to_type}/batch"
    return [
        api(f"{one}/default/{{to_type}}/{{to_id}}", ["PUT"], put_default),
        api(f"{one}/{{to_type}}/{{to_id}}", ["PUT"], put_labelled),
        api(f"{one}/{{to_type}}/{{to_id}}", ["DELETE"], delete_pair),
        api(f"{one}/{{to_type}}", ["GET"], list_links),
        api(f"{batch}/associate/default", ["POST"], batch_default),
        api(f"{batch}/create", ["POST"], batch_create),
        api(f"{batch}/read", ["POST"], batch_read),
        api(f"{batch}/archive", ["POST"], batch_archive),
    ]
