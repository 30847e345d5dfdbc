"""Object and field definitions of the emulated org, and their describe output.

Fields are looked up case-insensitively and answered in their canonical case. Custom fields and
objects created through the Tooling API are added here and show up in describe at once.
"""

from __future__ import annotations

import threading
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any

SOAP_TYPES = {
    "id": "tns:ID",
    "reference": "tns:ID",
    "boolean": "xsd:boolean",
    "int": "xsd:int",
    "double": "xsd:double",
    "currency": "xsd:double",
    "percent": "xsd:double",
    "date": "xsd:date",
    "datetime": "xsd:dateTime",
}
TEXT_TYPES = frozenset(
    {"string", "textarea", "picklist", "multipicklist", "url", "email", "phone", "id", "reference"}
)


@dataclass
class FieldDef:
    """One field: the subset of describe properties the emulator enforces, plus labels."""

    name: str
    type: str
    label: str = ""
    length: int = 0
    nillable: bool = True
    createable: bool = True
    updateable: bool = True
    external_id: bool = False
    unique: bool = False
    case_sensitive: bool = False
    custom: bool = False
    picklist: list[str] = field(default_factory=list)
    restricted: bool = False
    default: Any = None
    reference_to: list[str] = field(default_factory=list)
    relationship_name: str | None = None
    child_relationship: str | None = None
    precision: int = 0
    scale: int = 0

    @property
    def required(self) -> bool:
        """Must be given on create (describe: not nillable, createable, no default)."""
        return not self.nillable and self.createable and self.default is None

    def describe(self) -> dict[str, Any]:
        text = self.type in TEXT_TYPES
        return {
            "aggregatable": self.type not in ("textarea",),
            "autoNumber": False,
            "byteLength": self.length * 3 if text else 0,
            "calculated": False,
            "caseSensitive": self.case_sensitive,
            "createable": self.createable,
            "custom": self.custom,
            "defaultValue": self.default,
            "defaultedOnCreate": self.default is not None or self.type == "boolean",
            "digits": 0,
            "externalId": self.external_id,
            "filterable": self.type != "textarea",
            "idLookup": self.type == "id" or self.external_id,
            "inlineHelpText": None,
            "label": self.label or self.name,
            "length": self.length if text else 0,
            "name": self.name,
            "nameField": self.name == "Name",
            "nillable": self.nillable,
            "picklistValues": [_picklist_entry(v) for v in self.picklist],
            "precision": self.precision,
            "referenceTo": list(self.reference_to),
            "relationshipName": self.relationship_name,
            "restrictedPicklist": self.restricted,
            "scale": self.scale,
            "soapType": SOAP_TYPES.get(self.type, "xsd:string"),
            "sortable": self.type != "textarea",
            "type": self.type,
            "unique": self.unique,
            "updateable": self.updateable,
        }


def _picklist_entry(value: str) -> dict[str, Any]:
    return {"active": True, "defaultValue": False, "label": value, "validFor": None, "value": value}


@dataclass
class ObjectDef:
    """One sObject type."""

    name: str
    label: str
    key_prefix: str
    fields: dict[str, FieldDef] = field(default_factory=dict)
    custom: bool = False
    createable: bool = True
    modified: datetime | None = None

    def add(self, f: FieldDef) -> None:
        self.fields[f.name.lower()] = f

    def field(self, name: str) -> FieldDef | None:
        return self.fields.get(name.lower())

    def relationship(self, name: str) -> FieldDef | None:
        lowered = name.lower()
        for f in self.fields.values():
            if f.relationship_name and f.relationship_name.lower() == lowered:
                return f
        return None

    def urls(self, version: str) -> dict[str, str]:
        base = f"/services/data/v{version}/sobjects/{self.name}"
        return {
            "sobject": base,
            "describe": f"{base}/describe",
            "rowTemplate": f"{base}/{{ID}}",
        }

    def summary(self, version: str) -> dict[str, Any]:
        return {
            "activateable": False,
            "createable": self.createable,
            "custom": self.custom,
            "customSetting": False,
            "deletable": self.createable,
            "deprecatedAndHidden": False,
            "feedEnabled": False,
            "keyPrefix": self.key_prefix,
            "label": self.label,
            "labelPlural": self.label + "s",
            "layoutable": True,
            "mergeable": False,
            "mruEnabled": True,
            "name": self.name,
            "queryable": True,
            "replicateable": True,
            "retrieveable": True,
            "searchable": True,
            "triggerable": True,
            "undeletable": self.createable,
            "updateable": self.createable,
            "urls": self.urls(version),
        }


class Schema:
    """The set of object definitions of one org (data or tooling)."""

    def __init__(self, objects: list[ObjectDef]) -> None:
        self._objects = {o.name.lower(): o for o in objects}
        self._by_prefix = {o.key_prefix: o for o in objects}
        self.lock = threading.RLock()

    def get(self, name: str) -> ObjectDef | None:
        return self._objects.get(name.lower())

    def by_prefix(self, prefix: str) -> ObjectDef | None:
        return self._by_prefix.get(prefix)

    def objects(self) -> list[ObjectDef]:
        return sorted(self._objects.values(), key=lambda o: o.name)

    def add(self, obj: ObjectDef) -> None:
        with self.lock:
            self._objects[obj.name.lower()] = obj
            self._by_prefix[obj.key_prefix] = obj

    def describe(
        self,
        obj: ObjectDef,
        version: str,
        visible: list[FieldDef],
        readable: Callable[[ObjectDef, FieldDef], bool] | None = None,
    ) -> dict[str, Any]:
        """Full describe; `readable` hides child relationships whose field the user can't read."""
        body = obj.summary(version)
        body["fields"] = [f.describe() for f in visible]
        children = [
            (child, f) for child, f in self.children(obj) if readable is None or readable(child, f)
        ]
        body["childRelationships"] = [_child_entry(child, f) for child, f in children]
        body["recordTypeInfos"] = []
        return body

    def children(self, parent: ObjectDef) -> list[tuple[ObjectDef, FieldDef]]:
        """Every (child object, lookup field) pointing at `parent`."""
        return [
            (obj, f)
            for obj in self.objects()
            for f in obj.fields.values()
            if parent.name in f.reference_to and f.name != "Id"
        ]

    def child_relationship(self, parent: ObjectDef, name: str) -> tuple[ObjectDef, FieldDef] | None:
        """The child relationship of `parent` called `name` (any case), if there is one."""
        lowered = name.lower()
        for obj, f in self.children(parent):
            if f.child_relationship and f.child_relationship.lower() == lowered:
                return obj, f
        return None


def _child_entry(child: ObjectDef, f: FieldDef) -> dict[str, Any]:
    return {
        "cascadeDelete": False,
        "childSObject": child.name,
        "deprecatedAndHidden": False,
        "field": f.name,
        "junctionIdListNames": [],
        "junctionReferenceTo": [],
        "relationshipName": f.child_relationship,
        "restrictedDelete": False,
    }
