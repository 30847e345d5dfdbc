"""The Tooling API: create and change custom fields and objects, query their definitions, and
change the Opportunity stages through the ``OpportunityStage`` standard value set.

A field created here is in describe, queryable and writable at once (subject to field-level
security when the org's ``fls_strict`` mode is on). A stage added to the value set is a valid
StageName at once, with IsClosed/IsWon from its ``closed``/``won`` flags. Values a PATCH leaves
out of ``standardValue`` stay in the org (the emulator does not deactivate stages).
"""

from __future__ import annotations

import string
from typing import Any

from cosell.emulators.salesforce.gateway import ApiRoute, Call, Reply
from cosell.emulators.salesforce.metadata import (
    field_from_metadata,
    stage_from_value,
    standard_value,
)
from cosell.emulators.salesforce.objects import Stage, custom_object, system_fields, text
from cosell.emulators.salesforce.org import Org
from cosell.emulators.salesforce.query import batch_size, run_soql
from cosell.emulators.salesforce.records import save_result
from cosell.emulators.salesforce.schema import FieldDef, ObjectDef, Schema
from cosell.emulators.salesforce.wire import SalesforceError, format_datetime, not_found

V = "/services/data/v{version}/tooling"
STAGE_SET = "OpportunityStage"
_PREFIX_CHARS = string.digits + string.ascii_uppercase + string.ascii_lowercase


def tooling_schema() -> Schema:
    def make(name: str, prefix: str, extra: list[FieldDef]) -> ObjectDef:
        obj = ObjectDef(name, name, prefix)
        for f in [
            *system_fields(owner=False),
            text("DeveloperName", 40),
            text("NamespacePrefix", 15),
            text("FullName", 255),
            FieldDef("Metadata", "textarea", "Metadata"),
            text("ManageableState", 40),
            *extra,
        ]:
            obj.add(f)
        return obj

    return Schema(
        [
            make("CustomField", "00N", [text("TableEnumOrId", 40)]),
            make("CustomObject", "01I", []),
            make("StandardValueSet", "0Ch", [text("MasterLabel", 80)]),
        ]
    )


class ToolingState:
    """Tooling records (``CustomField``, ``CustomObject``) and the data schema they change."""

    def __init__(self, org: Org) -> None:
        self.org = org
        self.schema = tooling_schema()
        self.tables: dict[str, list[dict[str, Any]]] = {
            "CustomField": [],
            "CustomObject": [],
            "StandardValueSet": [],
        }
        self._next_prefix = _PREFIX_CHARS.index(org.config.custom_object_prefix[2])

    def refresh(self) -> None:
        """Value sets show the org's current stages (an admin may have added some since)."""
        if not self.tables["StandardValueSet"]:  # made on first use: other ids stay as they were
            self._record("StandardValueSet", STAGE_SET, STAGE_SET, {}, MasterLabel=STAGE_SET)
        for record in self.tables["StandardValueSet"]:
            record["Metadata"] = self._stage_metadata()

    def _stage_metadata(self) -> dict[str, Any]:
        picklist = self.org.object("Opportunity").field("StageName")
        names = picklist.picklist if picklist else list(self.org.stages)
        stages = [self.org.stages.get(n) or Stage(n, 0) for n in names]
        values = [standard_value(s) for s in stages]
        return {"sorted": False, "groupingStringEnum": None, "standardValue": values, "urls": None}

    def update_value_set(self, record: dict[str, Any], metadata: dict[str, Any]) -> None:
        """Add or redefine the stages ``standardValue`` lists (all checked before any change)."""
        values = metadata.get("standardValue")
        if not isinstance(values, list):
            raise SalesforceError(
                400, "REQUIRED_FIELD_MISSING", "Required fields are missing: [standardValue]", []
            )
        stages = [stage_from_value(v) for v in values]
        for stage in stages:
            self.org.add_stage(stage)
        self.org.object("Opportunity").modified = self.org.now()
        record["LastModifiedDate"] = format_datetime(self.org.now())
        self.refresh()

    def _record(
        self, kind: str, developer_name: str, full_name: str, metadata: dict[str, Any], **extra: Any
    ) -> dict[str, Any]:
        stamp = format_datetime(self.org.now())
        user = self.org.integration_user_id
        record = {
            "Id": self.org.ids.new(self.schema.get(kind).key_prefix),  # type: ignore[union-attr]
            "IsDeleted": False,
            "DeveloperName": developer_name,
            "NamespacePrefix": None,
            "FullName": full_name,
            "Metadata": metadata,
            "ManageableState": "unmanaged",
            "CreatedDate": stamp,
            "CreatedById": user,
            "LastModifiedDate": stamp,
            "LastModifiedById": user,
            "SystemModstamp": stamp,
            **extra,
        }
        self.tables[kind].append(record)
        return record

    def create_field(self, full_name: str, metadata: dict[str, Any]) -> dict[str, Any]:
        object_name, _, field_name = full_name.partition(".")
        obj = self.org.schema.get(object_name)
        if obj is None or not field_name.endswith("__c"):
            raise SalesforceError(
                400,
                "FIELD_INTEGRITY_EXCEPTION",
                f"FullName: invalid custom field name {full_name}",
                [],
            )
        if obj.field(field_name) is not None:
            raise SalesforceError(
                400,
                "DUPLICATE_DEVELOPER_NAME",
                f"There is already a field named {field_name} on {obj.name}.",
                [],
            )
        self.org.add_field(obj, field_from_metadata(field_name, metadata))
        table = self._object_record(obj)
        return self._record(
            "CustomField",
            field_name[:-3],
            f"{obj.name}.{field_name}",
            metadata,
            TableEnumOrId=table["Id"] if table else obj.name,
        )

    def update_field(self, record: dict[str, Any], metadata: dict[str, Any]) -> None:
        object_name, _, field_name = record["FullName"].partition(".")
        obj = self.org.object_def(object_name)
        old = obj.field(field_name)
        if old is None:
            raise not_found()
        merged = {**record["Metadata"], **metadata}
        new = field_from_metadata(old.name, merged)
        obj.add(new)
        obj.modified = self.org.now()
        record.update(Metadata=merged, LastModifiedDate=format_datetime(self.org.now()))

    def create_object(self, full_name: str, metadata: dict[str, Any]) -> dict[str, Any]:
        if not full_name.endswith("__c") or self.org.schema.get(full_name) is not None:
            raise SalesforceError(
                400,
                "DUPLICATE_DEVELOPER_NAME",
                f"There is already an object named {full_name}.",
                [],
            )
        name_field = metadata.get("nameField") or {}
        prefix = self.org.config.custom_object_prefix[:2] + _PREFIX_CHARS[self._next_prefix]
        self._next_prefix += 1
        obj = custom_object(
            full_name,
            str(metadata.get("label") or full_name),
            prefix,
            str(name_field.get("label") or "Name"),
        )
        obj.modified = self.org.now()
        self.org.add_object(obj)
        return self._record("CustomObject", full_name[:-3], full_name, metadata)

    def _object_record(self, obj: ObjectDef) -> dict[str, Any] | None:
        return next((r for r in self.tables["CustomObject"] if r["FullName"] == obj.name), None)

    def find(self, kind: str, record_id: str) -> dict[str, Any]:
        wanted = record_id[:15]
        for record in self.tables.get(kind, []):
            if record["Id"][:15] == wanted:
                return record
        raise not_found()


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
