"""Record rendering and write results in Salesforce's JSON shapes."""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from typing import Any

from cosell.emulators.salesforce.org import Org
from cosell.emulators.salesforce.schema import FieldDef, ObjectDef
from cosell.emulators.salesforce.wire import ErrorItem


def record_url(version: str, sobject: str, record_id: str) -> str:
    return f"/services/data/v{version}/sobjects/{sobject}/{record_id}"


def render(
    org: Org,
    obj: ObjectDef,
    record: Mapping[str, Any],
    version: str,
    only: Iterable[FieldDef] | None = None,
) -> dict[str, Any]:
    """A record as GET returns it: ``attributes`` first, then fields in canonical case."""
    chosen = (
        list(only) if only is not None else [f for f in obj.fields.values() if org.readable(obj, f)]
    )
    body: dict[str, Any] = {
        "attributes": {"type": obj.name, "url": record_url(version, obj.name, record["Id"])}
    }
    body.update((f.name, record.get(f.name)) for f in chosen)
    return body


def fields_param(org: Org, obj: ObjectDef, raw: str | None) -> list[FieldDef] | None:
    if not raw:
        return None
    return [org.field(obj, name.strip()) for name in raw.split(",") if name.strip()]


def save_result(
    record_id: str | None, errors: list[ErrorItem] | None = None, created: bool | None = None
) -> dict[str, Any]:
    body: dict[str, Any] = {
        "id": record_id,
        "success": not errors,
        "errors": [e.as_save_result() for e in errors or []],
    }
    if created is not None:
        body["created"] = created
    return body
