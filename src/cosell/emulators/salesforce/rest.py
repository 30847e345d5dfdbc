"""sObject REST routes: versions, describe, CRUD, upsert and reads by external id."""

from __future__ import annotations

from typing import Any

from cosell.emulators.salesforce.conditional import check_write, etag, not_modified
from cosell.emulators.salesforce.gateway import ApiRoute, Call, Reply
from cosell.emulators.salesforce.records import fields_param, record_url, render, save_result
from cosell.emulators.salesforce.schema import ObjectDef
from cosell.emulators.salesforce.upsert import MultipleMatches, external_field, matches, upsert
from cosell.emulators.salesforce.wire import (
    SalesforceError,
    http_date,
    parse_datetime,
    parse_http_date,
)

V = "/services/data/v{version}"
_SEASONS = ("Summer", "Winter", "Spring")


def version_label(version: str) -> str:
    step = int(float(version)) - 31
    return f"{_SEASONS[step % 3]} '{14 + (step + 2) // 3}"


def versions(call: Call) -> Reply:
    return Reply(
        200,
        [
            {"label": version_label(v), "url": f"/services/data/v{v}", "version": v}
            for v in call.emulator.config.api_versions
        ],
    )


def resources(call: Call) -> Reply:
    names = ("sobjects", "query", "queryAll", "composite", "tooling", "limits")
    return Reply(200, {name: f"{call.base()}/{name}" for name in names})


def describe_global(call: Call) -> Reply:
    org = call.emulator.org
    objects = [o for o in org.schema.objects() if org.visible(o)]
    return Reply(
        200,
        {
            "encoding": "UTF-8",
            "maxBatchSize": 200,
            "sobjects": [o.summary(call.version) for o in objects],
        },
    )


def _object(call: Call) -> ObjectDef:
    return call.emulator.org.object(call.params["sobject"])


def basic_info(call: Call) -> Reply:
    return Reply(200, {"objectDescribe": _object(call).summary(call.version), "recentItems": []})


def describe(call: Call) -> Reply:
    org, obj = call.emulator.org, _object(call)
    since = parse_http_date(call.headers.get("if-modified-since", ""))
    changed = obj.modified or org.started
    if since is not None and changed <= since:
        return Reply(304)
    visible = [f for f in obj.fields.values() if org.readable(obj, f)]
    body = org.schema.describe(obj, call.version, visible, org.readable)
    return Reply(200, body, {"Last-Modified": http_date(changed)})


def create(call: Call) -> Reply:
    obj = _object(call)
    record = call.emulator.org.create(obj, _body(call), call.user_id)
    location = record_url(call.version, obj.name, record["Id"])
    return Reply(201, save_result(record["Id"]), {"Location": location})


def _body(call: Call) -> dict[str, Any]:
    if not isinstance(call.body, dict):
        raise SalesforceError(400, "JSON_PARSER_ERROR", "Expected a JSON object body", None)
    return call.body


def read(call: Call) -> Reply:
    org, obj = call.emulator.org, _object(call)
    record = org.get(obj, call.params["record_id"])
    if not_modified(obj, record, call.headers):
        return Reply(304)
    only = fields_param(org, obj, call.query.get("fields"))
    headers = {"Last-Modified": http_date(parse_datetime(record["LastModifiedDate"]))}
    tag = etag(obj, record)
    if tag is not None:
        headers["ETag"] = tag
    return Reply(200, render(org, obj, record, call.version, only), headers)


def update(call: Call) -> Reply:
    if call.params["record_id"].lower() == "id":
        return _not_allowed("PATCH", "GET,HEAD,POST")
    org, obj = call.emulator.org, _object(call)
    record = org.get(obj, call.params["record_id"], writing=True)
    check_write(obj, record, call.headers)
    org.update(obj, record["Id"], _body(call), call.user_id)
    return Reply(204)


def remove(call: Call) -> Reply:
    call.emulator.org.delete(_object(call), call.params["record_id"], call.user_id)
    return Reply(204)


def insert_or_refuse(call: Call) -> Reply:
    """``POST sobjects/{T}/Id`` always inserts; POST on a record id is not allowed."""
    if call.params["record_id"].lower() != "id":
        return _not_allowed("POST", "GET,PATCH,DELETE,HEAD")
    return create(call)


def _not_allowed(method: str, allowed: str) -> Reply:
    message = f"HTTP Method '{method}' not allowed. Allowed are {allowed}"
    return Reply(405, [{"errorCode": "METHOD_NOT_ALLOWED", "message": message}])


def read_by_external_id(call: Call) -> Reply:
    org, obj = call.emulator.org, _object(call)
    f = external_field(org, obj, call.params["field"])
    found = matches(org, obj, f, call.params["value"])
    if len(found) > 1:
        return Reply(300, [record_url(call.version, obj.name, r["Id"]) for r in found])
    if not found:
        raise SalesforceError(404, "NOT_FOUND", "The requested resource does not exist", None)
    only = fields_param(org, obj, call.query.get("fields"))
    return Reply(200, render(org, obj, found[0], call.version, only))


def upsert_by_external_id(call: Call) -> Reply:
    org, obj = call.emulator.org, _object(call)
    f = external_field(org, obj, call.params["field"])
    update_only = call.query.get("updateOnly", "false").lower() == "true"
    try:
        outcome = upsert(org, obj, f, call.params["value"], _body(call), call.user_id, update_only)
    except MultipleMatches as many:
        return Reply(300, many.urls(call.version, obj))
    modern = float(call.version) >= 46
    if outcome.created:
        body = save_result(outcome.record_id, created=True if modern else None)
        return Reply(201, body, {"Location": record_url(call.version, obj.name, outcome.record_id)})
    return Reply(200, save_result(outcome.record_id, created=False)) if modern else Reply(204)


def delete_by_external_id(call: Call) -> Reply:
    org, obj = call.emulator.org, _object(call)
    f = external_field(org, obj, call.params["field"])
    found = matches(org, obj, f, call.params["value"])
    if len(found) > 1:
        return Reply(300, [record_url(call.version, obj.name, r["Id"]) for r in found])
    if not found:
        raise SalesforceError(404, "NOT_FOUND", "The requested resource does not exist", None)
    org.delete(obj, found[0]["Id"], call.user_id)
    return Reply(204)


def limits(call: Call) -> Reply:
    return Reply(200, call.emulator.usage.limits_body())


def routes() -> list[ApiRoute]:
    s = f"{V}/sobjects/{{sobject}}"
    return [
        ApiRoute("/services/data/", ("GET",), versions, authenticated=False, counted=False),
        ApiRoute("/services/data", ("GET",), versions, authenticated=False, counted=False),
        ApiRoute(f"{V}/", ("GET",), resources),
        ApiRoute(f"{V}/limits", ("GET",), limits),
        ApiRoute(f"{V}/limits/", ("GET",), limits),
        ApiRoute(f"{V}/sobjects", ("GET",), describe_global),
        ApiRoute(f"{V}/sobjects/", ("GET",), describe_global),
        ApiRoute(s, ("GET",), basic_info),
        ApiRoute(s, ("POST",), create),
        ApiRoute(f"{s}/", ("POST",), create),
        ApiRoute(f"{s}/describe", ("GET",), describe),
        ApiRoute(f"{s}/describe/", ("GET",), describe),
        ApiRoute(f"{s}/{{record_id}}", ("GET",), read),
        ApiRoute(f"{s}/{{record_id}}", ("PATCH",), update),
        ApiRoute(f"{s}/{{record_id}}", ("DELETE",), remove),
        ApiRoute(f"{s}/{{record_id}}", ("POST",), insert_or_refuse),
        ApiRoute(f"{s}/{{field}}/{{value:path}}", ("GET",), read_by_external_id),
        ApiRoute(f"{s}/{{field}}/{{value:path}}", ("PATCH",), upsert_by_external_id),
        ApiRoute(f"{s}/{{field}}/{{value:path}}", ("DELETE",), delete_by_external_id),
    ]
