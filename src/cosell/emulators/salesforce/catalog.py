"""The SOQL engine's view of a schema and its records (the ``soql.Catalog`` protocol)."""

from __future__ import annotations

from collections.abc import Callable, Mapping
from typing import Any

from cosell.emulators.salesforce import ids
from cosell.emulators.salesforce.schema import FieldDef, ObjectDef, Schema

Lookup = Callable[[ObjectDef, str], Mapping[str, Any] | None]
Visible = Callable[[ObjectDef, FieldDef], bool]


class SchemaCatalog:
    """Answers the SOQL engine's questions about objects, fields and parent records."""

    def __init__(self, schema: Schema, lookup: Lookup, version: str, visible: Visible) -> None:
        self._schema = schema
        self._lookup = lookup
        self._version = version
        self._visible = visible

    def canonical_object(self, name: str) -> str | None:
        obj = self._schema.get(name)
        return None if obj is None else obj.name

    def canonical_field(self, sobject: str, name: str) -> str | None:
        obj = self._schema.get(sobject)
        f = None if obj is None else obj.field(name)
        if obj is None or f is None or not self._visible(obj, f):
            return None
        return f.name

    def field_type(self, sobject: str, field: str) -> str:
        obj = self._schema.get(sobject)
        f = None if obj is None else obj.field(field)
        return "string" if f is None else f.type

    def relationship(self, sobject: str, name: str) -> tuple[str, str] | None:
        obj = self._schema.get(sobject)
        f = None if obj is None else obj.relationship(name)
        if f is None or not f.reference_to:
            return None
        return f.reference_to[0], f.name

    def get(self, sobject: str, record_id: str) -> Mapping[str, Any] | None:
        obj = self._schema.get(sobject)
        if obj is None or ids.normalize(record_id) is None:
            return None
        # Polymorphic lookups (Note.ParentId) name one target; the id's prefix says which.
        actual = self._schema.by_prefix(record_id[:3]) or obj
        return self._lookup(actual, record_id)

    def attributes(self, sobject: str, record_id: str) -> dict[str, str]:
        obj = self._schema.get(sobject)
        name = obj.name if obj is not None else sobject
        return {"type": name, "url": f"/services/data/v{self._version}/sobjects/{name}/{record_id}"}
