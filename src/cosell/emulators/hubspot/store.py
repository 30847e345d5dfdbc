"""The CRM's records: create, read, update and archive with HubSpot's validation rules, unique
values, derived deal properties, and a change feed for webhook events."""

from __future__ import annotations

import itertools
from collections.abc import Callable
from dataclasses import dataclass
from datetime import datetime, timedelta
from decimal import Decimal
from typing import Any

from cosell.clock import Clock
from cosell.emulators.hubspot.associations import AssociationBook
from cosell.emulators.hubspot.catalog import Catalog
from cosell.emulators.hubspot.pipelines import Pipelines
from cosell.emulators.hubspot.records import Record, Source
from cosell.emulators.hubspot.schema import ValueProblem, normalise
from cosell.emulators.hubspot.types import TYPES, ObjectType
from cosell.emulators.hubspot.wire import (
    HubSpotError,
    PropertyProblem,
    format_time,
    invalid_properties,
    not_found,
    validation,
)

REQUIRED = {"deals": ("dealname", "dealstage"), "notes": ("hs_timestamp",)}


@dataclass(frozen=True)
class Change:
    """One change for webhook subscribers: ``creation``, ``propertyChange`` or ``deletion``."""

    kind: ObjectType
    object_id: str
    event: str
    source: Source
    occurred_at: datetime
    property_name: str | None = None
    property_value: str | None = None


class Store:
    """Every record of one portal, keyed by type name and id."""

    def __init__(self, clock: Clock, search_lag: float, notify: Callable[[Change], None]) -> None:
        self.clock = clock
        self.search_lag = timedelta(seconds=search_lag)
        self.notify = notify
        stamp = format_time(clock.now())
        self.catalog = Catalog.seeded(stamp)
        self.pipelines = Pipelines(stamp, self._deals_in)
        self.associations = AssociationBook()
        self.records: dict[str, dict[str, Record]] = {t.name: {} for t in TYPES}
        self._ids = itertools.count(10_000_001)

    # --- reads ------------------------------------------------------------------------------
    def get(
        self,
        kind: ObjectType,
        object_id: str,
        id_property: str | None = None,
        archived: bool = False,
    ) -> Record:
        found = self.find(kind, object_id, id_property, archived)
        if found is None:
            raise not_found(object_id)
        return found

    def find(
        self, kind: ObjectType, value: str, id_property: str | None = None, archived: bool = False
    ) -> Record | None:
        if id_property and id_property != "hs_object_id":
            prop = self.catalog.get(kind, id_property)
            if prop is None or not prop.has_unique_value:
                raise validation(f"{id_property} is not a unique property of {kind.name}.")
            return next(
                (
                    r
                    for r in self.records[kind.name].values()
                    if r.archived == archived and r.properties.get(id_property) == value
                ),
                None,
            )
        found = self.records[kind.name].get(str(value))
        return found if found is not None and found.archived == archived else None

    def listing(self, kind: ObjectType, archived: bool = False) -> list[Record]:
        rows = (r for r in self.records[kind.name].values() if r.archived == archived)
        return sorted(rows, key=lambda r: int(r.id))

    def known(self, kind: ObjectType, names: list[str]) -> list[str]:
        """The names that are live properties of ``kind`` (unknown ones are ignored on reads)."""
        return [n for n in names if self.catalog.get(kind, n) is not None]

    # --- writes -----------------------------------------------------------------------------
    def create(self, kind: ObjectType, raw: Any, source: Source) -> Record:
        values = self.check(kind, raw, None)
        missing = [n for n in REQUIRED.get(kind.name, ()) if values.get(n) is None]
        if missing:
            raise invalid_properties(
                [PropertyProblem(n, "REQUIRED_PROPERTY", f"{n} is required") for n in missing]
            )
        now = self.clock.now()
        record = Record(str(next(self._ids)), kind, {}, now, now)
        automatic = {
            "hs_object_id": record.id,
            "createdate": format_time(now),
            "hs_object_source": source.object_source(),
        }
        if source.user_id is not None:
            automatic["hs_created_by_user_id"] = str(source.user_id)
        if kind.name == "deals":
            values.setdefault("pipeline", "default")
        for name, value in {**automatic, **values}.items():
            record.set(name, value, now, source)
        self._stamp(record, now, source)
        self.records[kind.name][record.id] = record
        self.notify(Change(kind, record.id, "creation", source, now))
        return record

    def update(self, record: Record, raw: Any, source: Source) -> Record:
        values = self.check(record.kind, raw, record)
        now = self.clock.now()
        changed = [n for n, v in values.items() if record.set(n, v, now, source)]
        if changed:
            self._stamp(record, now, source)
            for name in changed:
                change = Change(
                    record.kind,
                    record.id,
                    "propertyChange",
                    source,
                    now,
                    name,
                    record.properties.get(name, ""),
                )
                self.notify(change)
        return record

    def archive(self, record: Record, source: Source) -> None:
        if record.archived:
            return
        now = self.clock.now()
        record.archived, record.archived_at, record.updated_at = True, now, now
        record.index(now, self.search_lag)
        self.notify(Change(record.kind, record.id, "deletion", source, now))

    def restore(self, record: Record, source: Source) -> None:
        now = self.clock.now()
        record.archived, record.archived_at = False, None
        self._stamp(record, now, source)
        self.notify(Change(record.kind, record.id, "restore", source, now))

    def check(self, kind: ObjectType, raw: Any, record: Record | None) -> dict[str, str | None]:
        """Normalised values from a ``properties`` object, or the 400 HubSpot answers."""
        if not isinstance(raw, dict):
            raise validation("properties: expected a JSON object of property names to values.")
        values: dict[str, str | None] = {}
        problems: list[PropertyProblem] = []
        for name, value in raw.items():
            prop = self.catalog.get(kind, name)
            if prop is None:
                problems.append(_missing(name))
            elif prop.read_only:
                message = f"{name} is a read only property; its value cannot be set."
                problems.append(PropertyProblem(name, "READ_ONLY_VALUE", message))
            else:
                try:
                    values[name] = normalise(prop, value)
                except ValueProblem as exc:
                    problems.append(exc.problem)
        if kind.name == "deals" and not problems:
            problems += self._check_stage(values, record)
        if problems:
            raise invalid_properties(problems)
        self._check_unique(kind, values, record)
        return values

    # --- helpers ----------------------------------------------------------------------------
    def _check_stage(
        self, values: dict[str, str | None], record: Record | None
    ) -> list[PropertyProblem]:
        if "pipeline" not in values and "dealstage" not in values:
            return []
        held = record.properties if record else {}
        pipeline = values["pipeline"] if "pipeline" in values else held.get("pipeline")
        stage = values["dealstage"] if "dealstage" in values else held.get("dealstage")
        return self.pipelines.check_deal(pipeline, stage)

    def _check_unique(
        self, kind: ObjectType, values: dict[str, str | None], record: Record | None
    ) -> None:
        for name, value in values.items():
            prop = self.catalog.get(kind, name)
            if (
                value is None
                or prop is None
                or not (prop.has_unique_value or _is_email(kind, name))
            ):
                continue
            holder = next(
                (
                    r
                    for r in self.records[kind.name].values()
                    if not r.archived and r is not record and r.properties.get(name) == value
                ),
                None,
            )
            if holder is None:
                continue
            if _is_email(kind, name) and record is None:  # a new contact: a conflict
                raise HubSpotError(
                    409, "CONFLICT", f"Contact already exists. Existing ID: {holder.id}"
                )
            target = record.id if record else "a new object"
            raise validation(
                f"Cannot set PropertyValueCoordinates{{propertyName={name}, value={value}}} "
                f"on {target}. {holder.id} already has that value.",
                context={"id": [holder.id], "propertyName": [name]},
            )

    def _stamp(self, record: Record, now: datetime, source: Source) -> None:
        record.updated_at = now
        record.set("hs_lastmodifieddate", format_time(now), now, source)
        if record.kind.name == "contacts":
            record.set("lastmodifieddate", format_time(now), now, source)
        if source.user_id is not None:
            record.set("hs_updated_by_user_id", str(source.user_id), now, source)
        self._derive(record, now, source)
        record.index(now, self.search_lag)

    def _derive(self, record: Record, now: datetime, source: Source) -> None:
        props = record.properties
        if record.kind.name == "deals" and props.get("dealstage"):
            stage = self.pipelines.get(props.get("pipeline", "default")).stage(props["dealstage"])
            if stage is not None:
                won = stage.closed and stage.probability >= 1.0
                record.set(
                    "hs_deal_stage_probability",
                    format(Decimal(str(stage.probability)).normalize(), "f"),
                    now,
                    source,
                )
                record.set("hs_is_closed", "true" if stage.closed else "false", now, source)
                record.set("hs_is_closed_won", "true" if won else "false", now, source)
        if record.kind.name == "line_items" and props.get("quantity") and props.get("price"):
            amount = Decimal(props["quantity"]) * Decimal(props["price"])
            record.set("amount", format(amount.normalize(), "f"), now, source)

    def _deals_in(self, pipeline_id: str, stage_id: str | None) -> list[str]:
        return [
            r.id
            for r in self.records["deals"].values()
            if not r.archived
            and r.properties.get("pipeline") == pipeline_id
            and (stage_id is None or r.properties.get("dealstage") == stage_id)
        ]


def _missing(name: str) -> PropertyProblem:
    return PropertyProblem(name, "PROPERTY_DOESNT_EXIST", f'Property "{name}" does not exist')


def _is_email(kind: ObjectType, name: str) -> bool:
    return kind.name == "contacts" and name == "email"
