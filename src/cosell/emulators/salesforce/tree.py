"""``composite/tree/{SObject}``: insert trees of records, parents with their children, in one
API call.

Children sit under their child relationship name (``"Contacts": {"records": [...]}``) and get
the parent's new id in that relationship's lookup field. At most 200 records, 5 object types
and 5 levels. Records are inserted level by level (roots first; within a level, type by type)
through the same handler as ``POST sobjects/{T}``, so every single-record rule applies. All or
nothing: success is 201 ``{hasErrors: false, results: [{referenceId, id}]}`` in insertion order;
any failing record undoes the whole request and the answer is 400 ``{hasErrors: true, results:
[{referenceId, errors: [{statusCode, message, fields}]}]}`` listing the failing records only. A
request that is malformed, breaks a limit or names an unknown field or relationship fails before
anything is inserted, with the usual error array.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from typing import Any

from cosell.emulators.salesforce.gateway import ApiRoute, Call, Reply
from cosell.emulators.salesforce.org import Org
from cosell.emulators.salesforce.schema import ObjectDef
from cosell.emulators.salesforce.subrequest import dispatch
from cosell.emulators.salesforce.wire import SalesforceError

V = "/services/data/v{version}"
MAX_RECORDS = 200
MAX_TYPES = 5
MAX_LEVELS = 5
_REFERENCE_ID = re.compile(r"[A-Za-z0-9][A-Za-z0-9_]*")


@dataclass(frozen=True)
class _Record:
    """One record of the tree, flattened; `parent` indexes the flat list."""

    reference_id: str
    obj: ObjectDef
    fields: dict[str, Any]
    level: int
    parent: int | None = None
    foreign_key: str | None = None


def _bad(message: str, code: str = "JSON_PARSER_ERROR") -> SalesforceError:
    return SalesforceError(400, code, message, None)


def sobject_tree(call: Call) -> Reply:
    org = call.emulator.org
    root = org.object(call.params["sobject"])
    raw = call.body.get("records") if isinstance(call.body, dict) else None
    if not isinstance(raw, list) or not raw:
        raise _bad("records: expected a non-empty array")
    flat: list[_Record] = []
    for record in raw:
        _flatten(org, record, root, 1, None, None, flat)
    _check_limits(flat)
    return _insert(call, flat)


def _flatten(
    org: Org,
    record: Any,
    expected: ObjectDef,
    level: int,
    parent: int | None,
    foreign_key: str | None,
    flat: list[_Record],
) -> None:
    reference_id, obj = _attributes(org, record, expected)
    fields: dict[str, Any] = {}
    children: list[tuple[ObjectDef, str, list[Any]]] = []
    for key, value in record.items():
        if key == "attributes":
            continue
        if isinstance(value, dict) and "records" in value:
            children.append(_relationship(org, obj, key, value))
        else:
            fields[org.field(obj, key).name] = value
    index = len(flat)
    flat.append(_Record(reference_id, obj, fields, level, parent, foreign_key))
    for child_obj, key_field, records in children:
        for child in records:
            _flatten(org, child, child_obj, level + 1, index, key_field, flat)


def _attributes(org: Org, record: Any, expected: ObjectDef) -> tuple[str, ObjectDef]:
    attributes = record.get("attributes") if isinstance(record, dict) else None
    if not isinstance(attributes, dict) or not attributes.get("type"):
        raise _bad("Each record needs attributes with a type and a referenceId")
    reference_id = attributes.get("referenceId")
    if not isinstance(reference_id, str) or not _REFERENCE_ID.fullmatch(reference_id):
        raise _bad(
            f"referenceId '{reference_id}': required; letters, digits and '_', starting with a "
            "letter or digit"
        )
    written = str(attributes["type"])
    if written.lower() != expected.name.lower():
        raise _bad(
            f"{reference_id}: type {written} doesn't match {expected.name}, the type this "
            "record must have here",
            "INVALID_TYPE",
        )
    return reference_id, expected


def _relationship(
    org: Org, parent: ObjectDef, name: str, value: dict[str, Any]
) -> tuple[ObjectDef, str, list[Any]]:
    found = org.schema.child_relationship(parent, name)
    if found is None or not org.readable(*found):
        raise _bad(f"No such column '{name}' on sobject of type {parent.name}", "INVALID_FIELD")
    records = value["records"]
    if not isinstance(records, list):
        raise _bad(f"{name}: records must be an array")
    child, lookup = found
    return child, lookup.name, records


def _check_limits(flat: list[_Record]) -> None:
    seen: set[str] = set()
    for record in flat:
        if record.reference_id in seen:
            raise _bad(f"Duplicate referenceId '{record.reference_id}' provided in the request")
        seen.add(record.reference_id)
    if len(flat) > MAX_RECORDS:
        message = f"The request has {len(flat)} records; a tree holds at most {MAX_RECORDS}"
        raise _bad(message, "LIMIT_EXCEEDED")
    types = {r.obj.name for r in flat}
    if len(types) > MAX_TYPES:
        message = f"The request has {len(types)} object types; a tree holds at most {MAX_TYPES}"
        raise _bad(message, "LIMIT_EXCEEDED")
    if max(r.level for r in flat) > MAX_LEVELS:
        raise _bad(f"A tree is at most {MAX_LEVELS} levels deep", "LIMIT_EXCEEDED")


def _insert(call: Call, flat: list[_Record]) -> Reply:
    ids: dict[int, str] = {}
    results: list[dict[str, Any]] = []
    with call.emulator.org.transaction() as rollback:
        for group in _groups(flat):
            failures = []
            for index in group:
                outcome = _insert_one(call, flat[index], ids)
                if isinstance(outcome, str):
                    ids[index] = outcome
                    results.append({"referenceId": flat[index].reference_id, "id": outcome})
                else:
                    failures.append({"referenceId": flat[index].reference_id, "errors": outcome})
            if failures:
                rollback()
                return Reply(400, {"hasErrors": True, "results": failures})
    return Reply(201, {"hasErrors": False, "results": results})


def _groups(flat: list[_Record]) -> list[list[int]]:
    """Indexes level by level, and within a level type by type in order of first appearance."""
    groups: dict[tuple[int, str], list[int]] = {}
    for index, record in sorted(enumerate(flat), key=lambda pair: pair[1].level):
        groups.setdefault((record.level, record.obj.name), []).append(index)
    return list(groups.values())


def _insert_one(call: Call, record: _Record, ids: dict[int, str]) -> str | list[dict[str, Any]]:
    """The new record's id, or its errors in the save-result shape."""
    values = dict(record.fields)
    if record.parent is not None and record.foreign_key is not None:
        values[record.foreign_key] = ids[record.parent]
    url = f"{call.base()}/sobjects/{record.obj.name}"
    reply = dispatch(call, "POST", url, values, call.headers)
    if reply.status < 300:
        return str(reply.body["id"])
    return [
        {
            "statusCode": e.get("errorCode"),
            "message": e.get("message"),
            "fields": list(e.get("fields") or []),
        }
        for e in reply.body
    ]


def routes() -> list[ApiRoute]:
    return [ApiRoute(f"{V}/composite/tree/{{sobject}}", ("POST",), sobject_tree)]
