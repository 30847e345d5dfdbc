"""An emulated org as a versioned JSON document, and an org rebuilt from one.

The document holds data, never the emulator's classes, so a newer cosell can read what an older
one saved:

- ``format``: the layout version (``FORMAT``); a newer one is refused, never guessed at;
- ``settings``: the org-level settings the schema depends on (multi-currency, currencies, the
  custom object key prefix, strict field access);
- ``clock_offset_seconds``: how far the emulator clock had been advanced;
- ``definitions``: what Tooling and the control surface created (custom objects, custom fields,
  the Opportunity stages, validation rules), replayed through the Tooling code on load so the
  schema objects are built by the version that loads them;
- ``tooling``: the Tooling rows themselves (ids and dates as clients saw them);
- ``records``: every row per object, recycle-bin rows included, as Salesforce JSON values;
- ``recycle_bin``: when each row was deleted, and when the bin was last emptied;
- ``next_id_number``: where the id sequence continues, so new ids never collide.

Sessions are not kept: a client whose token is unknown gets 401 and signs in again.
"""

from __future__ import annotations

import copy
from dataclasses import asdict
from datetime import datetime
from typing import TYPE_CHECKING, Any

from cosell.clock import OffsetClock
from cosell.emulators.salesforce.oauth import TokenIssuer
from cosell.emulators.salesforce.objects import Stage
from cosell.emulators.salesforce.validation import ValidationRule
from cosell.emulators.salesforce.wire import SalesforceError, format_datetime, parse_datetime
from cosell.errors import ConfigError

if TYPE_CHECKING:
    from cosell.emulators.salesforce.emulator import SalesforceEmulator
    from cosell.emulators.salesforce.org import Org, Record
    from cosell.emulators.salesforce.schema import ObjectDef

FORMAT = 2
KIND = "cosell-salesforce-emulator-org"
SETTINGS: dict[str, type] = {
    "multi_currency": bool,
    "currencies": list,
    "corporate_currency": str,
    "custom_object_prefix": str,
    "fls_strict": bool,
}


def org_document(emulator: SalesforceEmulator) -> dict[str, Any]:
    """The emulator's org as a JSON-ready document (records are shared, not copied: the org
    never changes a stored record in place, so serialise the result outside the lock)."""
    with emulator.lock, emulator.org.lock:
        org = emulator.org
        records, _ = org.snapshot()
        header = org_header(emulator)
        return {
            **header,
            "saved_at": format_datetime(org.now()),
            "tooling": copy.deepcopy(header["tooling"]),
            "records": {name: list(rows.values()) for name, rows in records.items() if rows},
        }


def org_header(emulator: SalesforceEmulator) -> dict[str, Any]:
    """Every part of the document but ``records`` and ``saved_at``; shares the Tooling rows, so
    callers hold the emulator's and the org's lock until it is serialised."""
    org, tooling = emulator.org, emulator.tooling
    return {
        "format": FORMAT,
        "kind": KIND,
        "clock_offset_seconds": _offset(emulator),
        "settings": _settings(emulator),
        "started": format_datetime(org.started),
        "integration_user_id": org.integration_user_id,
        "next_id_number": org.ids.next_number,
        "definitions": _definitions(org, tooling.tables),
        "tooling": tooling.tables,
        "recycle_bin": {
            "deleted": {key: format_datetime(at) for key, at in org.deleted.items()},
            "emptied_at": _stamp(org.bin_emptied_at),
        },
    }


def _offset(emulator: SalesforceEmulator) -> float:
    clock = emulator.clock
    return clock.offset.total_seconds() if isinstance(clock, OffsetClock) else 0.0


def _settings(emulator: SalesforceEmulator) -> dict[str, Any]:
    values = {name: getattr(emulator.config, name) for name in SETTINGS}
    return {**values, "currencies": list(values["currencies"])}


def _definitions(org: Org, tables: dict[str, list[dict[str, Any]]]) -> dict[str, Any]:
    picklist = org.object_def("Opportunity").field("StageName")
    names = picklist.picklist if picklist is not None else list(org.stages)
    return {
        "custom_objects": [_definition(r) for r in tables.get("CustomObject", [])],
        "custom_fields": [_definition(r) for r in tables.get("CustomField", [])],
        "stages": [asdict(org.stages[n]) for n in names if n in org.stages],
        "validation_rules": [asdict(rule) for rule in org.rules],
        "modified": {
            o.name: format_datetime(o.modified) for o in org.schema.objects() if o.modified
        },
    }


def _definition(row: dict[str, Any]) -> dict[str, Any]:
    return {"full_name": row["FullName"], "metadata": copy.deepcopy(row["Metadata"])}


def _stamp(moment: datetime | None) -> str | None:
    return None if moment is None else format_datetime(moment)


def load_org_document(emulator: SalesforceEmulator, doc: Any) -> None:
    """Replace the emulator's org with the one ``doc`` describes (sessions start empty).

    ``ConfigError`` (key: the part of the document at fault) when it cannot be read.
    """
    _check_format(doc)
    with emulator.lock:
        _apply_settings(emulator, _part(doc, "settings", dict))
        _restore_clock(emulator, doc.get("clock_offset_seconds", 0.0))
        emulator.reset()
        org = emulator.org
        with org.lock:
            _replay(emulator, _part(doc, "definitions", dict))
            emulator.tooling.tables = _tooling_tables(doc)
            _restore_records(org, doc)
            _restore_identity(emulator, doc)


def _check_format(doc: Any) -> None:
    found = doc.get("format") if isinstance(doc, dict) else None
    if not isinstance(found, int) or (isinstance(doc, dict) and doc.get("kind") != KIND):
        raise ConfigError("format", "not a saved Salesforce emulator org")
    if found > FORMAT:
        raise ConfigError(
            "format",
            f"saved by a newer cosell (format {found}; this version reads up to {FORMAT}); "
            "upgrade cosell or delete the sandbox's state directory",
        )
    if found < FORMAT:
        raise ConfigError("format", f"format {found} is no longer read; start a new org")


def _part(doc: dict[str, Any], key: str, kind: type) -> Any:
    value = doc.get(key)
    if not isinstance(value, kind):
        raise ConfigError(key, f"missing or not a JSON {kind.__name__}")
    return value


def _apply_settings(emulator: SalesforceEmulator, settings: dict[str, Any]) -> None:
    for name, kind in SETTINGS.items():
        value = settings.get(name, getattr(emulator.config, name))
        if kind is list and isinstance(value, list | tuple):
            value = tuple(str(v) for v in value)
        elif not isinstance(value, kind):
            raise ConfigError(f"settings.{name}", f"must be a JSON {kind.__name__}")
        setattr(emulator.config, name, value)


def _restore_clock(emulator: SalesforceEmulator, seconds: Any) -> None:
    if not isinstance(seconds, int | float):
        raise ConfigError("clock_offset_seconds", "must be a number of seconds")
    clock = emulator.clock
    if isinstance(clock, OffsetClock):
        clock.reset()
        clock.advance(float(seconds))


def _replay(emulator: SalesforceEmulator, definitions: dict[str, Any]) -> None:
    """Custom objects before custom fields (a field may be on one), in their creation order, so
    each custom object gets the key prefix its saved records carry."""
    tooling, org = emulator.tooling, emulator.org
    for kind, create in (
        ("custom_objects", tooling.create_object),
        ("custom_fields", tooling.create_field),
    ):
        for item in definitions.get(kind, []):
            try:
                create(str(item["full_name"]), dict(item["metadata"]))
            except (SalesforceError, KeyError, TypeError) as exc:
                raise ConfigError(f"definitions.{kind}", _why(item, exc)) from exc
    for stage in definitions.get("stages", []):
        org.add_stage(Stage(**stage))
    org.rules = [ValidationRule(**rule) for rule in definitions.get("validation_rules", [])]
    for name, stamp in definitions.get("modified", {}).items():
        obj = org.schema.get(name)
        if obj is not None:
            obj.modified = parse_datetime(stamp)


def _why(item: Any, exc: Exception) -> str:
    name = item.get("full_name") if isinstance(item, dict) else None
    detail = str(exc) if isinstance(exc, SalesforceError) else f"malformed ({exc!r})"
    return f"{name or 'a definition'} cannot be created again: {detail}"


def _tooling_tables(doc: dict[str, Any]) -> dict[str, list[dict[str, Any]]]:
    saved = _part(doc, "tooling", dict)
    return {
        kind: list(saved.get(kind, []))
        for kind in ("CustomField", "CustomObject", "StandardValueSet")
    }


def _restore_records(org: Org, doc: dict[str, Any]) -> None:
    """Rows go back under the objects the schema now has; fields a newer schema added get their
    defaults, fields it no longer has are dropped, objects it no longer has are left out."""
    saved, user = _part(doc, "records", dict), str(doc.get("integration_user_id") or "")
    tables: dict[str, dict[str, Record]] = {o.name: {} for o in org.schema.objects()}
    for name, rows in saved.items():
        obj = org.schema.get(name)
        if obj is not None:
            tables[obj.name] = {row["Id"]: _fitted(obj, row, user) for row in _rows(obj, rows)}
    bin_ = _part(doc, "recycle_bin", dict)
    deleted = {key: parse_datetime(at) for key, at in dict(bin_.get("deleted") or {}).items()}
    org.load(tables, deleted)
    emptied = bin_.get("emptied_at")
    org.bin_emptied_at = parse_datetime(emptied) if emptied else None


def _rows(obj: ObjectDef, rows: Any) -> list[Record]:
    if not isinstance(rows, list) or not all(isinstance(r, dict) and "Id" in r for r in rows):
        raise ConfigError(f"records.{obj.name}", "must be a list of records with an Id")
    stray = next((r["Id"] for r in rows if str(r["Id"])[:3] != obj.key_prefix), None)
    if stray is not None:
        raise ConfigError(
            f"records.{obj.name}", f"{stray} does not carry the key prefix {obj.key_prefix}"
        )
    return rows


def _fitted(obj: ObjectDef, row: Record, user: str) -> Record:
    return {
        f.name: row.get(f.name, user if f.default == "$user" else f.default)
        for f in obj.fields.values()
    }


def _restore_identity(emulator: SalesforceEmulator, doc: dict[str, Any]) -> None:
    org = emulator.org
    started, user = doc.get("started"), doc.get("integration_user_id")
    if isinstance(started, str):
        org.started = parse_datetime(started)
    if isinstance(user, str) and user:
        org.integration_user_id = user
    number = doc.get("next_id_number")
    if not isinstance(number, int) or number < 1:
        raise ConfigError("next_id_number", "must be a positive whole number")
    org.ids.resume_at(number)
    emulator.issuer = TokenIssuer(
        emulator.config, emulator.clock, emulator.sessions, org.integration_user_id
    )
