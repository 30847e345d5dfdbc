"""The SOQL engine's view of a schema and its records (the ``soql.Catalog`` protocol)."""

from __future__ import annotations

from collections.abc import Callable, Iterable, Mapping, Sequence
from typing import Any, Protocol

from cosell.emulators.salesforce import ids
from cosell.emulators.salesforce.schema import FieldDef, ObjectDef, Schema

Lookup = Callable[[ObjectDef, str], Mapping[str, Any] | None]
Visible = Callable[[ObjectDef, FieldDef], bool]
Rows = Callable[[ObjectDef], Iterable[Mapping[str, Any]]]


class Matching(Protocol):
    """``Org.matching`` with the query's ``deleted`` bound (which ``deleted=`` overrides)."""

    def __call__(
        self, obj: ObjectDef, field: str, kind: str, keys: Sequence[Any], *, deleted: bool = ...
    ) -> Sequence[Mapping[str, Any]] | None: ...


class SchemaCatalog:
    """Answers the SOQL engine's questions about objects, fields and parent records."""

    def __init__(
        self,
        schema: Schema,
        lookup: Lookup,
        version: str,
        visible: Visible,
        rows: Rows = lambda _obj: (),
        matching: Matching | None = None,
    ) -> None:
        self._schema = schema
        self._lookup = lookup
        self._version = version
        self._visible = visible
        self._rows = rows
        self._matching = matching

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

    def targets(self, sobject: str, field: str) -> tuple[str, ...]:
        obj = self._schema.get(sobject)
        f = None if obj is None else obj.field(field)
        return () if f is None else tuple(f.reference_to)

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

    def child_relationship(self, sobject: str, name: str) -> tuple[str, str, str] | None:
        parent = self._schema.get(sobject)
        found = None if parent is None else self._schema.child_relationship(parent, name)
        if found is None:
            return None
        child, f = found
        if not f.child_relationship or not self._visible(child, f):
            return None
        return f.child_relationship, child.name, f.name

    def rows(self, sobject: str) -> Iterable[Mapping[str, Any]]:
        obj = self._schema.get(sobject)
        return () if obj is None else self._rows(obj)

    def matching(
        self, sobject: str, field: str, kind: str, keys: Sequence[Any], *, every: bool = False
    ) -> Sequence[Mapping[str, Any]] | None:
        obj = self._schema.get(sobject)
        if obj is None or self._matching is None:
            return None
        if every:
            return self._matching(obj, field, kind, keys, deleted=True)
        return self._matching(obj, field, kind, keys)
