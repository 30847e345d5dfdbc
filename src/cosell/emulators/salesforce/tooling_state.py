"""The Tooling API's records (``CustomField``, ``CustomObject``, ``StandardValueSet``) and the
org schema they change; the routes that serve them are in ``tooling.py``."""

from __future__ import annotations

import string
from typing import Any

from cosell.emulators.salesforce.metadata import (
    field_from_metadata,
    stage_from_value,
    standard_value,
)
from cosell.emulators.salesforce.objects import Stage, custom_object, system_fields, text
from cosell.emulators.salesforce.org import Org
from cosell.emulators.salesforce.schema import FieldDef, ObjectDef, Schema
from cosell.emulators.salesforce.wire import SalesforceError, format_datetime, not_found

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
