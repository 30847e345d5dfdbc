"""sObject Collections: up to 200 records per create, update, upsert or delete; retrieve takes
as many ids as fit the URL (about 800) with GET, or 2,000 with POST.

The top level answers 200 with one result per record in request order. With ``allOrNone`` any
failure rolls everything back and the otherwise good records report
``ALL_OR_NONE_OPERATION_ROLLED_BACK``.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from cosell.emulators.salesforce.gateway import ApiRoute, Call, Reply
from cosell.emulators.salesforce.records import fields_param, render, save_result
from cosell.emulators.salesforce.upsert import MultipleMatches, external_field, upsert
from cosell.emulators.salesforce.wire import ErrorItem, SalesforceError

V = "/services/data/v{version}"
MAX_RECORDS = 200
MAX_RETRIEVE = 2000
ROLLED_BACK = ErrorItem(
    "ALL_OR_NONE_OPERATION_ROLLED_BACK",
    "Record rolled back because not all records were valid and the request was using AllOrNone "
    "header",
)
Item = Callable[[Any], dict[str, Any]]


def _records(call: Call) -> tuple[list[Any], bool]:
    body = call.body if isinstance(call.body, dict) else {}
    records = body.get("records")
    if not isinstance(records, list):
        raise SalesforceError(400, "JSON_PARSER_ERROR", "records: expected a JSON array", None)
    _check_count(len(records))
    return records, bool(body.get("allOrNone", False))


def _check_count(count: int) -> None:
    if count > MAX_RECORDS:
        raise SalesforceError(
            400,
            "EXCEEDED_ID_LIMIT",
            f"record limit reached. cannot submit more than {MAX_RECORDS} records into this call",
            None,
        )


def _run(call: Call, items: list[Any], all_or_none: bool, one: Item) -> Reply:
    with call.emulator.org.transaction() as rollback:
        results = [_attempt(one, item) for item in items]
        failed = all_or_none and any(not r["success"] for r in results)
        if failed:
            rollback()
    if failed:
        results = [r if not r["success"] else save_result(None, [ROLLED_BACK]) for r in results]
    return Reply(200, results)


def _attempt(one: Item, item: Any) -> dict[str, Any]:
    try:
        return one(item)
    except SalesforceError as error:
        record_id = item.get("id") if isinstance(item, dict) else item
        return save_result(record_id if isinstance(record_id, str) else None, error.items)


def _type_of(call: Call, record: Any) -> Any:
    attributes = record.get("attributes") if isinstance(record, dict) else None
    if not isinstance(attributes, dict) or not attributes.get("type"):
        raise SalesforceError(400, "INVALID_TYPE", "No SObject Type defined in attributes", [])
    return call.emulator.org.object(attributes["type"])


def create(call: Call) -> Reply:
    records, all_or_none = _records(call)
    org = call.emulator.org

    def one(record: Any) -> dict[str, Any]:
        if record.get("id") or record.get("Id"):
            raise SalesforceError(
                400, "INVALID_FIELD", "cannot specify Id in an insert call", ["Id"]
            )
        return save_result(org.create(_type_of(call, record), record, call.user_id)["Id"])

    return _run(call, records, all_or_none, one)


def update(call: Call) -> Reply:
    records, all_or_none = _records(call)
    org = call.emulator.org

    def one(record: Any) -> dict[str, Any]:
        record_id = record.get("id") or record.get("Id")
        if not record_id:
            raise SalesforceError(400, "MISSING_ARGUMENT", "Id not specified in an update call", [])
        values = {k: v for k, v in record.items() if k.lower() != "id"}
        return save_result(
            org.update(_type_of(call, record), record_id, values, call.user_id)["Id"]
        )

    return _run(call, records, all_or_none, one)


def upsert_many(call: Call) -> Reply:
    records, all_or_none = _records(call)
    org = call.emulator.org
    obj = org.object(call.params["sobject"])
    f = external_field(org, obj, call.params["field"])

    def one(record: Any) -> dict[str, Any]:
        value = next((v for k, v in record.items() if k.lower() == f.name.lower()), None)
        if value in (None, ""):
            raise SalesforceError(400, "MISSING_ARGUMENT", f"{f.name} not specified", [])
        try:
            outcome = upsert(org, obj, f, str(value), record, call.user_id)
        except MultipleMatches as many:
            raise SalesforceError(400, "DUPLICATE_EXTERNAL_ID", many.message(), [f.name]) from None
        return save_result(outcome.record_id, created=outcome.created)

    return _run(call, records, all_or_none, one)


def delete(call: Call) -> Reply:
    record_ids = [i for i in call.query.get("ids", "").split(",") if i]
    _check_count(len(record_ids))
    all_or_none = call.query.get("allOrNone", "false").lower() == "true"
    org = call.emulator.org

    def one(record_id: Any) -> dict[str, Any]:
        found = org.find(record_id)
        if found is None:
            raise SalesforceError(
                400, "INVALID_CROSS_REFERENCE_KEY", "invalid cross reference id", []
            )
        if found[1]["IsDeleted"]:
            raise SalesforceError(400, "ENTITY_IS_DELETED", "entity is deleted", [])
        org.delete(found[0], record_id, call.user_id)
        return save_result(found[1]["Id"])

    return _run(call, record_ids, all_or_none, one)


def retrieve(call: Call) -> Reply:
    """``GET composite/sobjects/{T}?ids=&fields=``: as many ids as the URL length allows."""
    length = len(call.path) + sum(len(k) + len(v) + 2 for k, v in call.query.items())
    if length > call.emulator.config.max_url_length:
        return Reply(414)
    record_ids = [i for i in call.query.get("ids", "").split(",") if i]
    fields = [f.strip() for f in call.query.get("fields", "").split(",") if f.strip()]
    return _retrieve(call, record_ids, fields)


def retrieve_many(call: Call) -> Reply:
    """``POST composite/sobjects/{T}`` with ``{"ids": [...], "fields": [...]}``: up to 2,000."""
    body = call.body if isinstance(call.body, dict) else {}
    record_ids, fields = body.get("ids"), body.get("fields")
    if not isinstance(record_ids, list) or not all(isinstance(i, str) for i in record_ids):
        raise SalesforceError(400, "JSON_PARSER_ERROR", "ids: expected an array of ids", None)
    if not isinstance(fields, list) or not all(isinstance(f, str) for f in fields):
        raise SalesforceError(400, "JSON_PARSER_ERROR", "fields: expected an array of names", None)
    if len(record_ids) > MAX_RETRIEVE:
        raise SalesforceError(
            400,
            "EXCEEDED_ID_LIMIT",
            f"record limit reached. cannot retrieve more than {MAX_RETRIEVE} records in this call",
            None,
        )
    return _retrieve(call, record_ids, fields)


def _retrieve(call: Call, record_ids: list[str], fields: list[str]) -> Reply:
    """Records in request order: ``null`` for an id that is invalid, of another type or gone."""
    org = call.emulator.org
    obj = org.object(call.params["sobject"])
    if not record_ids or not fields:
        missing = "ids" if not record_ids else "fields"
        raise SalesforceError(400, "MISSING_ARGUMENT", f"{missing}: required", None)
    only = fields_param(org, obj, ",".join(fields))
    out: list[dict[str, Any] | None] = []
    for record_id in record_ids:
        try:
            out.append(render(org, obj, org.get(obj, record_id), call.version, only))
        except SalesforceError:
            out.append(None)
    return Reply(200, out)


def routes() -> list[ApiRoute]:
    c = f"{V}/composite/sobjects"
    return [
        ApiRoute(c, ("POST",), create),
        ApiRoute(c, ("PATCH",), update),
        ApiRoute(c, ("DELETE",), delete),
        ApiRoute(f"{c}/{{sobject}}", ("GET",), retrieve),
        ApiRoute(f"{c}/{{sobject}}", ("POST",), retrieve_many),
        ApiRoute(f"{c}/{{sobject}}/{{field}}", ("PATCH",), upsert_many),
    ]
