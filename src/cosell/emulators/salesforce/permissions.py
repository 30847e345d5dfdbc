"""Permission sets in the emulated org: who may see and change which objects and fields.

A ``PermissionSet`` holds ``ObjectPermissions`` (one per object: read, create, edit, delete,
view all, modify all) and ``FieldPermissions`` (one per field: read, edit); a
``PermissionSetAssignment`` gives it to a user. With the org's ``fls_strict`` mode on, a custom
object is hidden from the integration user until an assigned set grants read on it (REST
``NOT_FOUND``, SOQL ``INVALID_TYPE``), and a custom field until one grants read on the field
(absent from describe, ``INVALID_FIELD``). Standard objects and fields stay visible: the
integration user's profile is taken to grant them.

Saving a permission record runs the checks Salesforce documents: one record per parent and
object (or field, or user), a permission needs the ones it depends on, and ``SobjectType`` /
``Field`` must name an object and field of the org (both are restricted picklists there).
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from typing import Any

from cosell.emulators.salesforce.schema import FieldDef, ObjectDef, Schema
from cosell.emulators.salesforce.wire import SalesforceError

Record = Mapping[str, Any]
OBJECT_PERMISSIONS = "ObjectPermissions"
FIELD_PERMISSIONS = "FieldPermissions"
ASSIGNMENT = "PermissionSetAssignment"
OBJECT_FLAGS = (
    "PermissionsRead",
    "PermissionsCreate",
    "PermissionsEdit",
    "PermissionsDelete",
    "PermissionsViewAllRecords",
    "PermissionsModifyAllRecords",
)
DEPENDS_ON = {
    "PermissionsCreate": ("PermissionsRead",),
    "PermissionsEdit": ("PermissionsRead",),
    "PermissionsDelete": ("PermissionsRead", "PermissionsEdit"),
    "PermissionsViewAllRecords": ("PermissionsRead",),
    "PermissionsModifyAllRecords": (
        "PermissionsRead",
        "PermissionsEdit",
        "PermissionsDelete",
        "PermissionsViewAllRecords",
    ),
}
"""Each permission and those it needs (ObjectPermissions and FieldPermissions alike)."""
_KEYS = {
    OBJECT_PERMISSIONS: ("ParentId", "SobjectType"),
    FIELD_PERMISSIONS: ("ParentId", "Field"),
    ASSIGNMENT: ("PermissionSetId", "AssigneeId"),
}
PERMISSION_OBJECTS = frozenset(_KEYS)
"""Objects whose saves compare a record with every other of its object (one per key)."""


class Grants:
    """What the permission sets assigned to one user grant, read from the org's tables."""

    def __init__(self, tables: Mapping[str, Mapping[str, Record]], user_id: str) -> None:
        self.tables = tables
        self.user_id = user_id

    def _rows(self, kind: str) -> list[Record]:
        return _live((self.tables.get(kind) or {}).values())

    def _sets(self) -> set[str]:
        rows = self._rows(ASSIGNMENT)
        return {str(r["PermissionSetId"]) for r in rows if r["AssigneeId"] == self.user_id}

    def on_object(self, obj: ObjectDef, permission: str) -> bool:
        sets, name = self._sets(), obj.name.lower()
        return any(
            r["ParentId"] in sets and str(r["SobjectType"]).lower() == name and r[permission]
            for r in self._rows(OBJECT_PERMISSIONS)
        )

    def on_field(self, obj: ObjectDef, f: FieldDef, permission: str) -> bool:
        sets, full_name = self._sets(), f"{obj.name}.{f.name}".lower()
        return any(
            r["ParentId"] in sets and str(r["Field"]).lower() == full_name and r[permission]
            for r in self._rows(FIELD_PERMISSIONS)
        )


def _live(rows: Iterable[Record]) -> list[Record]:
    return [r for r in rows if not r["IsDeleted"]]


def permission_checks(
    schema: Schema, obj: ObjectDef, record: Record, others: Iterable[Record]
) -> None:
    """The save-time checks of a permission record (nothing for other objects)."""
    if obj.name not in _KEYS:
        return
    if obj.name == OBJECT_PERMISSIONS:
        _object_named(schema, record)
    elif obj.name == FIELD_PERMISSIONS:
        _field_named(schema, record)
    _dependencies(obj, record)
    _one_per_key(obj.name, record, others)


def _object_named(schema: Schema, record: Record) -> ObjectDef:
    found = schema.get(str(record.get("SobjectType") or ""))
    if found is None:
        raise _bad_picklist("SObject Type Name", record.get("SobjectType"), "SobjectType")
    return found


def _field_named(schema: Schema, record: Record) -> None:
    obj = _object_named(schema, record)
    owner, _, name = str(record.get("Field") or "").partition(".")
    if owner.lower() != obj.name.lower() or obj.field(name) is None:
        raise _bad_picklist("Field Name", record.get("Field"), "Field")


def _bad_picklist(label: str, value: Any, field_name: str) -> SalesforceError:
    return SalesforceError(
        400,
        "INVALID_OR_NULL_FOR_RESTRICTED_PICKLIST",
        f"{label}: bad value for restricted picklist field: {value}",
        [field_name],
    )


def _dependencies(obj: ObjectDef, record: Record) -> None:
    for permission, needs in DEPENDS_ON.items():
        absent = [n for n in needs if obj.field(n) is not None and not record.get(n)]
        if record.get(permission) and absent:
            wanted = ", ".join(n.removeprefix("Permissions") for n in absent)
            raise SalesforceError(
                400,
                "FIELD_INTEGRITY_EXCEPTION",
                f"Permission {permission.removeprefix('Permissions')} depends on "
                f"permission(s): {wanted}",
                [permission],
            )


def _one_per_key(kind: str, record: Record, others: Iterable[Record]) -> None:
    keys = _KEYS[kind]
    wanted = tuple(str(record.get(k) or "").lower() for k in keys)
    for other in others:
        if other["Id"] == record.get("Id"):
            continue
        if tuple(str(other.get(k) or "").lower() for k in keys) == wanted:
            raise _duplicate(kind, record, str(other["Id"]))


def _duplicate(kind: str, record: Record, existing: str) -> SalesforceError:
    if kind == ASSIGNMENT:
        message = (
            f"Duplicate PermissionSetAssignment. Assignee: {record.get('AssigneeId')}; "
            f"Permission Set: {record.get('PermissionSetId')}"
        )
    else:
        message = f"duplicate value found: {_KEYS[kind][1]} duplicates value on record with id: "
        message += existing
    return SalesforceError(400, "DUPLICATE_VALUE", message, [])
