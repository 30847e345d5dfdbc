"""``/crm/v3/objects/{type}/batch/{read,create,update,upsert,archive}``: at most
``batch_limit`` inputs (100), the ``COMPLETE`` envelope, and 207 with per-input errors.

Validation is all or nothing (a 400 and nothing written), except batch create when every
input carries an ``objectWriteTraceId``: then good inputs are created and bad ones are listed
under ``errors`` with ``context.objectWriteTraceId``. Unknown ids in read and update are
reported under ``errors`` (207) while the others go through.
"""

from __future__ import annotations

from typing import Any

from starlette.routing import Route

from cosell.emulators.hubspot.gateway import Call, Reply, api
from cosell.emulators.hubspot.objects_api import body_object, kind_of, link_at_create
from cosell.emulators.hubspot.records import Record
from cosell.emulators.hubspot.types import ObjectType
from cosell.emulators.hubspot.wire import HubSpotError, format_time, validation


def inputs(call: Call) -> list[dict[str, Any]]:
    """The ``inputs`` list of a batch body, checked against the batch cap."""
    raw = body_object(call).get("inputs")
    if not isinstance(raw, list) or not all(isinstance(i, dict) for i in raw):
        raise validation("inputs: expected a list of objects.")
    cap = call.emulator.config.batch_limit
    if len(raw) > cap:
        raise validation(
            f"Too many inputs: a batch takes at most {cap} inputs, got {len(raw)}.",
            context={"limit": [str(cap)]},
        )
    return raw


def envelope(call: Call, results: list[Any], errors: list[dict[str, Any]], ok: int) -> Reply:
    stamp = format_time(call.emulator.clock.now())
    body: dict[str, Any] = {
        "status": "COMPLETE",
        "results": results,
        "startedAt": stamp,
        "completedAt": stamp,
        "links": {},
    }
    if errors:
        body["numErrors"] = len(errors)
        body["errors"] = errors
    return Reply(207 if errors else ok, body)


def _missing(kind: ObjectType, ids: list[str]) -> dict[str, Any]:
    return HubSpotError(
        404,
        "OBJECT_NOT_FOUND",
        f"Could not get some {kind.upper} objects, they may be deleted or not exist. "
        "Check that ids are valid.",
        context={"ids": ids},
    ).item()


def batch_read(call: Call) -> Reply:
    kind, store, body = kind_of(call), call.emulator.store, body_object(call)
    rows, id_property = inputs(call), body.get("idProperty")
    names = [str(n) for n in body.get("properties") or []]
    found: list[Record] = []
    absent: list[str] = []
    for row in rows:
        record = store.find(kind, str(row.get("id", "")), id_property, call.flag("archived"))
        if record is None:
            absent.append(str(row.get("id", "")))
        elif record not in found:
            found.append(record)
    history = [str(n) for n in body.get("propertiesWithHistory") or []]
    results = [
        r.view(store.known(kind, names) if names else None, store.known(kind, history) or None)
        for r in found
    ]
    return envelope(call, results, [_missing(kind, absent)] if absent else [], 200)


def batch_create(call: Call) -> Reply:
    kind, store, rows = kind_of(call), call.emulator.store, inputs(call)
    traced = bool(rows) and all(r.get("objectWriteTraceId") for r in rows)
    if not traced:
        for row in rows:
            store.check(kind, row.get("properties") or {}, None)
    results, errors = [], []
    for row in rows:
        try:
            record = store.create(kind, row.get("properties") or {}, call.source)
            link_at_create(store, record, row.get("associations"))
        except HubSpotError as error:
            if not traced:
                raise
            error.context = {"objectWriteTraceId": [str(row["objectWriteTraceId"])]}
            errors.append(error.item())
            continue
        results.append(record.written())
    return envelope(call, results, errors, 201)


def batch_update(call: Call) -> Reply:
    kind, store, rows = kind_of(call), call.emulator.store, inputs(call)
    keys = [(str(r.get("id", "")), r.get("idProperty")) for r in rows]
    duplicates = sorted({k for k, _ in keys if [x for x, _ in keys].count(k) > 1})
    if duplicates:
        raise validation(f"Duplicate IDs found in batch input: {duplicates}. IDs must be unique.")
    targets = [store.find(kind, key, prop) for key, prop in keys]
    for row, record in zip(rows, targets, strict=True):
        if record is not None:
            store.check(kind, row.get("properties") or {}, record)
    absent = [key for (key, _), record in zip(keys, targets, strict=True) if record is None]
    results = []
    for row, record in zip(rows, targets, strict=True):
        if record is not None:
            results.append(store.update(record, row.get("properties") or {}, call.source).written())
    return envelope(call, results, [_missing(kind, absent)] if absent else [], 200)


def batch_upsert(call: Call) -> Reply:
    kind, store, rows = kind_of(call), call.emulator.store, inputs(call)
    plan: list[tuple[dict[str, Any], Record | None]] = []
    for row in rows:
        prop = row.get("idProperty")
        if not prop or not row.get("id"):
            raise validation("Each upsert input needs id and idProperty (a unique property).")
        plan.append((row, store.find(kind, str(row["id"]), str(prop))))
    results = []
    for row, record in plan:
        values = dict(row.get("properties") or {})
        if record is None:
            values[str(row["idProperty"])] = str(row["id"])
            created = store.create(kind, values, call.source)
            results.append({**created.written(), "new": True})
        else:
            results.append({**store.update(record, values, call.source).written(), "new": False})
    return envelope(call, results, [], 200)


def batch_archive(call: Call) -> Reply:
    kind, store = kind_of(call), call.emulator.store
    for row in inputs(call):
        record = store.find(kind, str(row.get("id", "")))
        if record is not None:
            store.archive(record, call.source)
    return Reply(204)


def routes() -> list[Route]:
    base = "/crm/v3/objects/{object_type}/batch"
    return [
        api(f"{base}/read", ["POST"], batch_read),
        api(f"{base}/create", ["POST"], batch_create),
        api(f"{base}/update", ["POST"], batch_update),
        api(f"{base}/upsert", ["POST"], batch_upsert),
        api(f"{base}/archive", ["POST"], batch_archive),
    ]
