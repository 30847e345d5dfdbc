"""The Tooling API: create and change custom fields and objects, query their definitions, and
change the Opportunity stages through the ``OpportunityStage`` standard value set.

A field created here is in describe, queryable and writable at once (subject to field-level
security when the org's ``fls_strict`` mode is on). A stage added to the value set is a valid
StageName at once, with IsClosed/IsWon from its ``closed``/``won`` flags. Values a PATCH leaves
out of ``standardValue`` stay in the org (the emulator does not deactivate stages).
"""

from __future__ import annotations

from typing import Any

from cosell.emulators.salesforce.gateway import ApiRoute, Call, Reply
from cosell.emulators.salesforce.query import batch_size, run_soql
from cosell.emulators.salesforce.records import save_result
from cosell.emulators.salesforce.wire import SalesforceError, not_found

V = "/services/data/v{version}/tooling"


def _kind(call: Call) -> str:
    obj = call.emulator.tooling.schema.get(call.params["sobject"])
    if obj is None:
        raise not_found()
    return obj.name


def _payload(call: Call) -> tuple[str, dict[str, Any]]:
    body = call.body if isinstance(call.body, dict) else {}
    metadata = body.get("Metadata")
    if not isinstance(metadata, dict):
        raise SalesforceError(
            400, "REQUIRED_FIELD_MISSING", "Required fields are missing: [Metadata]", ["Metadata"]
        )
    return str(body.get("FullName") or ""), metadata


def create(call: Call) -> Reply:
    kind, tooling = _kind(call), call.emulator.tooling
    if kind == "StandardValueSet":  # standard value sets exist in every org; PATCH them
        raise SalesforceError(405, "METHOD_NOT_ALLOWED", "HTTP Method 'POST' not allowed", None)
    full_name, metadata = _payload(call)
    if kind == "CustomField":
        record = tooling.create_field(full_name, metadata)
    else:
        record = tooling.create_object(full_name, metadata)
    return Reply(201, save_result(record["Id"]))


def read(call: Call) -> Reply:
    kind = _kind(call)
    call.emulator.tooling.refresh()
    record = call.emulator.tooling.find(kind, call.params["record_id"])
    url = f"/services/data/v{call.version}/tooling/sobjects/{kind}/{record['Id']}"
    return Reply(200, {"attributes": {"type": kind, "url": url}, **record})


def update(call: Call) -> Reply:
    kind = _kind(call)
    if kind == "CustomObject":
        raise SalesforceError(405, "METHOD_NOT_ALLOWED", "HTTP Method 'PATCH' not allowed", None)
    record = call.emulator.tooling.find(kind, call.params["record_id"])
    body = call.body if isinstance(call.body, dict) else {}
    if kind == "StandardValueSet":
        call.emulator.tooling.update_value_set(record, body.get("Metadata") or {})
    else:
        call.emulator.tooling.update_field(record, body.get("Metadata") or {})
    return Reply(204)


def query(call: Call) -> Reply:
    text_ = call.query.get("q")
    if not text_:
        raise SalesforceError(400, "MALFORMED_QUERY", "A query string is required", None)
    tooling = call.emulator.tooling
    tooling.refresh()
    rows, total = run_soql(
        text_, tooling.schema, call.emulator.org, call.version, False, tooling.tables
    )
    for row in rows:
        row["attributes"]["url"] = row["attributes"]["url"].replace(
            "/sobjects/", "/tooling/sobjects/"
        )
    batch = batch_size(call.headers, call.emulator.config.query_batch_size)
    return Reply(200, call.emulator.cursors.first_page(rows, total, batch, call.version))


def describe_global(call: Call) -> Reply:
    objects = call.emulator.tooling.schema.objects()
    return Reply(
        200,
        {
            "encoding": "UTF-8",
            "maxBatchSize": 200,
            "sobjects": [o.summary(call.version) for o in objects],
        },
    )


def routes() -> list[ApiRoute]:
    s = f"{V}/sobjects/{{sobject}}"
    return [
        ApiRoute(f"{V}/sobjects", ("GET",), describe_global),
        ApiRoute(f"{V}/sobjects/", ("GET",), describe_global),
        ApiRoute(s, ("POST",), create),
        ApiRoute(f"{s}/", ("POST",), create),
        ApiRoute(f"{s}/{{record_id}}", ("GET",), read),
        ApiRoute(f"{s}/{{record_id}}", ("PATCH",), update),
        ApiRoute(f"{V}/query", ("GET",), query),
        ApiRoute(f"{V}/query/", ("GET",), query),
    ]
