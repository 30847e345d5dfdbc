"""Upsert by external id: one match updates, none inserts, several answer 300."""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

from cosell.emulators.salesforce import ids
from cosell.emulators.salesforce.org import Org, Record
from cosell.emulators.salesforce.records import record_url
from cosell.emulators.salesforce.schema import FieldDef, ObjectDef
from cosell.emulators.salesforce.soql_eval import normal_value
from cosell.emulators.salesforce.wire import SalesforceError


class MultipleMatches(Exception):
    """The external id value matches more than one record (HTTP 300)."""

    def __init__(self, field: FieldDef, records: list[Record]) -> None:
        super().__init__(field.name)
        self.field = field
        self.records = records

    def urls(self, version: str, obj: ObjectDef) -> list[str]:
        return [record_url(version, obj.name, r["Id"]) for r in self.records]

    def message(self) -> str:
        found = ", ".join(r["Id"] for r in self.records)
        return f"{self.field.name}: more than one record found for external id field: [{found}]"


@dataclass(frozen=True)
class UpsertOutcome:
    """The record an upsert wrote and whether it was inserted."""

    record_id: str
    created: bool


def external_field(org: Org, obj: ObjectDef, name: str) -> FieldDef:
    f = obj.field(name)
    usable = f is not None and org.readable(obj, f) and (f.external_id or f.type == "id")
    if f is None or not usable:
        raise SalesforceError(
            404,
            "NOT_FOUND",
            f"Provided external ID field does not exist or is not accessible: {name}",
            None,
        )
    return f


def matches(org: Org, obj: ObjectDef, f: FieldDef, value: str) -> list[Record]:
    """The live records whose ``f`` is ``value``, found from the org's index of ``f`` (not by
    reading every record: a backfill upserts each of thousands of opportunities)."""
    if f.type == "id":
        canonical = ids.normalize(value)
        record = org.table(obj).get(canonical) if canonical else None
        return [record] if record is not None and not record["IsDeleted"] else []
    wanted = value if f.case_sensitive else value.lower()
    key = normal_value("string", value)  # case-folded: a superset of the matches
    return [
        r
        for r in org.matching(obj, f.name, "string", [key], deleted=False)
        if isinstance(r.get(f.name), str)
        and (r[f.name] if f.case_sensitive else r[f.name].lower()) == wanted
    ]


def upsert(
    org: Org,
    obj: ObjectDef,
    f: FieldDef,
    value: str,
    body: Mapping[str, Any],
    user_id: str,
    update_only: bool = False,
) -> UpsertOutcome:
    """Insert or update by ``f == value``; the URL's value wins over one in the body."""
    found = matches(org, obj, f, value)
    values = {k: v for k, v in body.items() if k.lower() != f.name.lower()}
    if len(found) > 1:
        raise MultipleMatches(f, found)
    if found:
        return UpsertOutcome(org.update(obj, found[0]["Id"], values, user_id)["Id"], False)
    if update_only or f.type == "id":
        raise SalesforceError(404, "NOT_FOUND", "The requested resource does not exist", None)
    values[f.name] = value
    return UpsertOutcome(org.create(obj, values, user_id)["Id"], True)
