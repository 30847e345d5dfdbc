"""The emulated org's data: records stored as wire values, system fields, the recycle bin.

Every write goes through ``create``, ``update`` or ``delete``, which keep ``CreatedDate``,
``LastModifiedDate``, ``SystemModstamp`` (second precision) and the audit user ids, run the
validation of ``validation.py``, and never mutate a stored record in place. An all-or-none
request runs in a ``transaction``: each row and recycle-bin entry it replaces is logged with its
prior value, so a rollback costs the rows the request wrote, not the size of the org.
"""

from __future__ import annotations

import bisect
import threading
from collections.abc import Callable, Iterable, Iterator, Mapping, Sequence
from contextlib import contextmanager
from datetime import datetime, timedelta
from typing import Any

from cosell.clock import Clock
from cosell.emulators.created import CreatedMoments
from cosell.emulators.salesforce import ids
from cosell.emulators.salesforce.config import SalesforceEmulatorConfig
from cosell.emulators.salesforce.objects import STAGE_BY_NAME, Stage, standard_objects
from cosell.emulators.salesforce.permissions import (
    PERMISSION_OBJECTS,
    Grants,
    permission_checks,
)
from cosell.emulators.salesforce.schema import FieldDef, ObjectDef, Schema
from cosell.emulators.salesforce.soql_eval import (
    GRAMS,
    ORDERED,
    UNGRAMMED,
    Span,
    index_keys,
    normal_value,
)
from cosell.emulators.salesforce.validation import (
    FieldTrigger,
    ValidationRule,
    coerce,
    field_checks,
    rule_checks,
    unique_check,
)
from cosell.emulators.salesforce.wire import SalesforceError, format_datetime, not_found

Record = dict[str, Any]
Undo = tuple[str, str, Any]
"""One logged change: (object name, id, the row before or None), or ("", id, the recycle-bin
moment before or None)."""
RECYCLE_BIN_DAYS = 15
SEED_USERS = (
    ("Integration", "User", "integration"),
    ("Avery", "Stone", "astone"),
    ("Blake", "Rivera", "brivera"),
    ("Casey", "Nguyen", "cnguyen"),
)


class Org:
    """In-memory records of one org, keyed by object name and 18-character id."""

    def __init__(self, config: SalesforceEmulatorConfig, clock: Clock) -> None:
        self.config = config
        self.clock = clock
        self.ids = ids.IdFactory()
        self.schema = Schema(
            standard_objects(config.multi_currency, config.currencies, config.corporate_currency)
        )
        self.started = self.now()
        self._records: dict[str, dict[str, Record]] = {o.name: {} for o in self.schema.objects()}
        self.deleted: dict[str, datetime] = {}
        self._purged_at: datetime | None = None
        """The second the recycle bin was last looked at for records past their days."""
        self.bin_emptied_at: datetime | None = None
        self.rules: list[ValidationRule] = []
        self.triggers: list[FieldTrigger] = []
        self.stages: dict[str, Stage] = dict(STAGE_BY_NAME)
        self.lock = threading.RLock()
        self._indexes: dict[tuple[str, str, str], dict[Any, set[str]]] = {}
        """(object, field, kind) → comparable value → ids: built by the first query that can
        use it, kept current by every write (see ``matching``)."""
        self.changes = 0
        """Records and metadata written so far (a call that moved it wrote data)."""
        self.touched: set[str] = set()
        """Ids of the rows stored, replaced or removed since the owner last took them (see
        ``take_touched``): a superset of what changed, rollbacks included."""
        self._undo: list[Undo] | None = None
        """The open transaction's log of prior values (None outside one)."""
        self.integration_user_id = self._seed_users()
        self.created = CreatedMoments()
        """When each record was created (see :mod:`cosell.emulators.created`)."""

    # -- time and lookup -------------------------------------------------------------------
    def now(self) -> datetime:
        return self.clock.now().replace(microsecond=0)

    def object(self, name: str) -> ObjectDef:
        """The object as the integration user sees it (hidden ones answer ``NOT_FOUND``)."""
        obj = self.schema.get(name)
        if obj is None or not self.visible(obj):
            raise SalesforceError(404, "NOT_FOUND", "The requested resource does not exist", None)
        return obj

    def object_def(self, name: str) -> ObjectDef:
        """The object whether or not the integration user may see it (admin and setup paths)."""
        obj = self.schema.get(name)
        if obj is None:
            raise SalesforceError(404, "NOT_FOUND", "The requested resource does not exist", None)
        return obj

    def field(self, obj: ObjectDef, name: str) -> FieldDef:
        f = obj.field(name)
        if f is None or not self.readable(obj, f):
            raise SalesforceError(
                400, "INVALID_FIELD", f"No such column '{name}' on sobject of type {obj.name}", None
            )
        return f

    def add_object(self, obj: ObjectDef) -> None:
        self.changes += 1
        self.schema.add(obj)
        self._records.setdefault(obj.name, {})

    def add_stage(self, stage: Stage) -> None:
        """An admin adds (or redefines) an Opportunity stage."""
        self.changes += 1
        picklist = self.object("Opportunity").field("StageName")
        assert picklist is not None
        if stage.name not in picklist.picklist:
            picklist.picklist.append(stage.name)
        self.stages[stage.name] = stage

    def add_field(self, obj: ObjectDef, f: FieldDef) -> None:
        """A new custom field: in describe at once, existing records get its default."""
        self.changes += 1
        obj.add(f)
        obj.modified = self.now()
        default = self._default(f, self.integration_user_id)
        table = self._records[obj.name]
        for record_id, record in list(table.items()):
            table[record_id] = {**record, f.name: record.get(f.name, default)}
        self._indexes = {k: v for k, v in self._indexes.items() if k[0] != obj.name}

    def table(self, obj: ObjectDef) -> dict[str, Record]:
        self._purge()
        return self._records[obj.name]

    def live(self, obj: ObjectDef) -> list[Record]:
        return [r for r in self.table(obj).values() if not r["IsDeleted"]]

    def every(self, obj: ObjectDef) -> list[Record]:
        return list(self.table(obj).values())

    def matching(
        self, obj: ObjectDef, field: str, kind: str, keys: Sequence[Any], *, deleted: bool
    ) -> list[Record]:
        """The records whose ``field`` in comparable form is one of ``keys``, in the order the
        table holds them (ids are minted in ascending order), deleted ones only with
        ``deleted``: a lookup by value without reading every record of the object."""
        index = self._index(obj, field, kind)
        table = self.table(obj)
        if kind == GRAMS:
            ids_found = set(index.get(UNGRAMMED, ()))
            for grams in keys:
                ids_found |= _holding_all(index, grams)
        elif isinstance(index, OrderedIndex) and any(isinstance(k, Span) for k in keys):
            ids_found = set[str]()
            for key in keys:
                ids_found |= index.spanning(key) if isinstance(key, Span) else index.get(key, set())
        else:
            ids_found = set[str]().union(*(index.get(key, ()) for key in keys))
        found = [table[i] for i in sorted(ids_found) if i in table]
        return found if deleted else [r for r in found if not r["IsDeleted"]]

    def _index(self, obj: ObjectDef, field: str, kind: str) -> dict[Any, set[str]]:
        index = self._indexes.get((obj.name, field, kind))
        if index is None:
            index = OrderedIndex() if kind in ORDERED else {}
            for record in self._records[obj.name].values():
                _add(index, kind, record.get(field), str(record["Id"]))
            self._indexes[(obj.name, field, kind)] = index
        return index

    def _put(self, obj: ObjectDef, record: Record) -> None:
        """Store ``record`` in its table, keeping the indexes of its object current."""
        self._store(obj.name, str(record["Id"]), record)

    def _store(self, name: str, record_id: str, record: Record | None) -> None:
        """Put ``record`` (None: remove the row), logging the row before in an open
        transaction and keeping the object's indexes current."""
        table = self._records[name]
        old = table.get(record_id)
        if self._undo is not None:
            self._undo.append((name, record_id, old))
        for (indexed, field, kind), index in self._indexes.items():
            if indexed != name:
                continue
            if old is not None:
                _drop(index, kind, old.get(field), record_id)
            if record is not None:
                _add(index, kind, record.get(field), record_id)
        if record is None:
            table.pop(record_id, None)
        else:
            table[record_id] = record
        self.touched.add(record_id)

    def _bin(self, record_id: str, moment: datetime | None) -> None:
        """Put (None: take out) a recycle-bin entry, logged in an open transaction."""
        if self._undo is not None:
            self._undo.append(("", record_id, self.deleted.get(record_id)))
        if moment is None:
            self.deleted.pop(record_id, None)
        else:
            self.deleted[record_id] = moment

    def find(self, record_id: str) -> tuple[ObjectDef, Record] | None:
        canonical = ids.normalize(record_id)
        obj = self.schema.by_prefix(record_id[:3]) if canonical else None
        if obj is None or canonical is None:
            return None
        record = self.table(obj).get(canonical)
        return None if record is None else (obj, record)

    def get(self, obj: ObjectDef, record_id: str, writing: bool = False) -> Record:
        """The live record, or ``MALFORMED_ID`` / ``NOT_FOUND`` as the REST API answers.

        Writing to a record in the recycle bin answers ``ENTITY_IS_DELETED`` instead.
        """
        canonical = ids.normalize(record_id)
        if canonical is None:
            raise SalesforceError(
                400, "MALFORMED_ID", f"{obj.name} ID: id value of incorrect type: {record_id}", None
            )
        record = self.table(obj).get(canonical)
        if record is not None and record["IsDeleted"] and writing:
            raise SalesforceError(404, "ENTITY_IS_DELETED", "entity is deleted", [])
        if record is None or record["IsDeleted"]:
            raise not_found()
        return record

    # -- object and field access (see permissions.py) -------------------------------------
    @property
    def grants(self) -> Grants:
        """What the integration user's permission sets grant now."""
        return Grants(self._records, self.integration_user_id)

    def visible(self, obj: ObjectDef) -> bool:
        return self._object_granted(obj, "PermissionsRead")

    def readable(self, obj: ObjectDef, f: FieldDef) -> bool:
        return self.visible(obj) and self._granted(obj, f, "PermissionsRead")

    def editable(self, obj: ObjectDef, f: FieldDef) -> bool:
        return self._granted(obj, f, "PermissionsEdit")

    def _object_granted(self, obj: ObjectDef, permission: str) -> bool:
        strict = self.config.fls_strict and obj.custom
        return not strict or self.grants.on_object(obj, permission)

    def _granted(self, obj: ObjectDef, f: FieldDef, permission: str) -> bool:
        strict = self.config.fls_strict and f.custom
        return not strict or self.grants.on_field(obj, f, permission)

    def _may(self, obj: ObjectDef, permission: str) -> None:
        if not self._object_granted(obj, permission):
            verb = permission.removeprefix("Permissions").lower()
            raise SalesforceError(
                400,
                "INSUFFICIENT_ACCESS_OR_READONLY",
                f"You do not have permission to {verb} {obj.label} records",
                [],
            )

    # -- writes ------------------------------------------------------------------------------
    def create(self, obj: ObjectDef, values: Mapping[str, Any], user_id: str) -> Record:
        if not obj.createable:
            raise SalesforceError(
                400, "INVALID_TYPE", f"Cannot create records of type {obj.name}", []
            )
        self._may(obj, "PermissionsCreate")
        record: Record = {f.name: self._default(f, user_id) for f in obj.fields.values()}
        changed = self._apply(obj, record, values, creating=True)
        now = format_datetime(self.now())
        record.update(
            Id=self.ids.new(obj.key_prefix),
            IsDeleted=False,
            CreatedDate=now,
            CreatedById=user_id,
            LastModifiedDate=now,
            LastModifiedById=user_id,
            SystemModstamp=now,
        )
        self._derive(obj, record, changed)
        self._save(obj, record, changed)
        self.created.stamp(record["Id"])
        return record

    def update(
        self, obj: ObjectDef, record_id: str, values: Mapping[str, Any], user_id: str
    ) -> Record:
        self._may(obj, "PermissionsEdit")
        record = dict(self.get(obj, record_id, writing=True))
        changed = self._apply(obj, record, values, creating=False)
        for trigger in self.triggers:
            if trigger.sobject == obj.name:
                trigger.fire(record)
                changed.append(trigger.field)
        now = format_datetime(self.now())
        record.update(LastModifiedDate=now, LastModifiedById=user_id, SystemModstamp=now)
        self._derive(obj, record, changed)
        self._save(obj, record, changed)
        return record

    def delete(self, obj: ObjectDef, record_id: str, user_id: str) -> None:
        if not obj.createable:
            raise SalesforceError(
                400,
                "INSUFFICIENT_ACCESS_OR_READONLY",
                "insufficient access rights on object id",
                [],
            )
        self._may(obj, "PermissionsDelete")
        record = dict(self.get(obj, record_id, writing=True))
        moment = self.now()
        stamp = format_datetime(moment)
        record.update(
            IsDeleted=True, LastModifiedDate=stamp, LastModifiedById=user_id, SystemModstamp=stamp
        )
        self._put(obj, record)
        self._bin(str(record["Id"]), moment)
        self.changes += 1

    def touch(self, record_id: str) -> Record:
        """A system process changed the record: only ``SystemModstamp`` moves."""
        found = self.find(record_id)
        if found is None:
            raise not_found()
        obj, record = found
        updated = {**record, "SystemModstamp": format_datetime(self.now())}
        self._put(obj, updated)
        self.changes += 1
        return updated

    def _default(self, f: FieldDef, user_id: str) -> Any:
        return user_id if f.default == "$user" else f.default

    def _apply(
        self, obj: ObjectDef, record: Record, values: Mapping[str, Any], creating: bool
    ) -> list[str]:
        changed = []
        for name, value in values.items():
            if name == "attributes" or (name.lower() == "id" and not creating):
                continue
            f = self._writable(obj, name, creating)
            record[f.name] = coerce(f, value)
            if f.type == "reference" and record[f.name] is not None:
                self._check_reference(f, record[f.name])
            changed.append(f.name)
        return changed

    def _writable(self, obj: ObjectDef, name: str, creating: bool) -> FieldDef:
        f = self.field(obj, name)
        allowed = f.createable if creating else f.updateable
        if not allowed or not self.editable(obj, f):
            verb = "create" if creating else "update"
            raise SalesforceError(
                400,
                "INVALID_FIELD_FOR_INSERT_UPDATE",
                f"Unable to {verb} fields: {f.name}. Please check the security settings of this "
                "field and verify that it is read/write for your profile or permission set.",
                [f.name],
            )
        return f

    def _check_reference(self, f: FieldDef, value: str) -> None:
        found = self.find(value)
        if found is not None and found[0].name not in f.reference_to:
            raise SalesforceError(
                400,
                "FIELD_INTEGRITY_EXCEPTION",
                f"{f.label}: id value of incorrect type: {value}",
                [f.name],
            )
        if found is None or found[1]["IsDeleted"]:
            raise SalesforceError(
                400, "INVALID_CROSS_REFERENCE_KEY", "invalid cross reference id", [f.name]
            )

    def _derive(self, obj: ObjectDef, record: Record, changed: list[str]) -> None:
        if obj.name == "Opportunity":
            # A stage added to the picklist without a definition counts as open.
            name = record.get("StageName") or ""
            stage = self.stages.get(name, Stage(name, record.get("Probability") or 0))
            record.update(IsWon=stage.won, IsClosed=stage.closed)
            if "StageName" in changed and "Probability" not in changed:
                record["Probability"] = stage.probability
        elif obj.name == "Contact":
            parts = [record.get("FirstName"), record.get("LastName")]
            record["Name"] = " ".join(p for p in parts if p) or None

    def _others(self, obj: ObjectDef, record: Record) -> list[Record]:
        """The live records a save must be compared with: those sharing a unique field's value
        (by index), or every live record of the object when a check needs them all."""
        unique = [f for f in obj.fields.values() if f.unique and record.get(f.name) is not None]
        textual = all(isinstance(record[f.name], str) for f in unique)
        if obj.name in PERMISSION_OBJECTS or not textual:
            return [r for r in self.table(obj).values() if not r["IsDeleted"]]
        found: dict[str, Record] = {}
        for f in unique:
            key = normal_value("string", record[f.name])
            for other in self.matching(obj, f.name, "string", [key], deleted=False):
                found[str(other["Id"])] = other
        return list(found.values())

    def _save(self, obj: ObjectDef, record: Record, changed: Iterable[str]) -> None:
        field_checks(obj, record, changed)
        others = self._others(obj, record)
        unique_check(obj, record, others)
        permission_checks(self.schema, obj, record, others)
        rule_checks((r for r in self.rules if r.sobject == obj.name), record)
        self._put(obj, record)
        self.changes += 1

    # -- recycle bin and transactions ------------------------------------------------------
    def _purge(self) -> None:
        """Hard-delete what has been in the recycle bin its days. Every table read asks, so it
        looks at the bin at most once a second (a bin's days are counted in days), and not at
        all while the bin is empty (a record's lookup cost more in this than in the lookup)."""
        if not self.deleted:
            return
        now = self.now()
        if now == self._purged_at:
            return
        self._purged_at = now
        cutoff = now - timedelta(days=RECYCLE_BIN_DAYS)
        for record_id, moment in list(self.deleted.items()):
            if moment < cutoff:
                self._hard_delete(record_id)

    def _hard_delete(self, record_id: str) -> None:
        self._bin(record_id, None)
        found = self.schema.by_prefix(record_id[:3])
        if found is not None and record_id in self._records[found.name]:
            self._store(found.name, record_id, None)

    def empty_recycle_bin(self) -> int:
        """Hard-delete everything in the recycle bin now (deleted-record history ends here)."""
        count = len(self.deleted)
        for record_id in list(self.deleted):
            self._hard_delete(record_id)
        self.bin_emptied_at = self.now()
        return count

    def snapshot(self) -> tuple[dict[str, dict[str, Record]], dict[str, datetime]]:
        """Every table and the recycle bin as they are now (copies of the maps, rows shared)."""
        return {k: dict(v) for k, v in self._records.items()}, dict(self.deleted)

    def load(self, tables: dict[str, dict[str, Record]], deleted: dict[str, datetime]) -> None:
        """Replace every table and the recycle bin (a state file read at start)."""
        self._records, self.deleted = tables, deleted
        self._purged_at = None
        self._indexes.clear()

    @contextmanager
    def transaction(self) -> Iterator[Callable[[], None]]:
        """Run writes that may have to be undone (an all-or-none request): calling what it
        yields puts back every row and recycle-bin entry written inside, newest first. Nested
        transactions share the outermost one's log."""
        outer = self._undo is not None
        log: list[Undo] = self._undo if self._undo is not None else []
        self._undo = log
        start = len(log)

        def rollback() -> None:
            self._undo = None  # putting rows back logs nothing
            try:
                while len(log) > start:
                    name, record_id, before = log.pop()
                    if name:
                        self._store(name, record_id, before)
                    else:
                        self._bin(record_id, before)
            finally:
                self._undo = log

        try:
            yield rollback
        finally:
            if not outer:
                self._undo = None

    def take_touched(self) -> set[str]:
        """The ids touched since the last call (callers hold ``lock``)."""
        touched, self.touched = self.touched, set()
        return touched

    # -- seed -------------------------------------------------------------------------------
    def _seed_users(self) -> str:
        obj = self.object("User")
        first_id = ""
        for first, last, alias in SEED_USERS:
            username = (
                self.config.username if alias == "integration" else f"{alias}@partner.example"
            )
            record = self.create_seed(
                obj,
                Username=username,
                FirstName=first,
                LastName=last,
                Name=f"{first} {last}",
                Email=username,
                Alias=alias[:8],
                IsActive=True,
            )
            first_id = first_id or record["Id"]
        return first_id

    def create_seed(self, obj: ObjectDef, **values: Any) -> Record:
        """A record written by setup, bypassing createable flags (seed users)."""
        stamp = format_datetime(self.now())
        record: Record = dict.fromkeys(f.name for f in obj.fields.values())
        new_id = self.ids.new(obj.key_prefix)
        creator = getattr(self, "integration_user_id", new_id)
        record.update(
            values,
            Id=new_id,
            IsDeleted=False,
            CreatedDate=stamp,
            CreatedById=creator,
            LastModifiedDate=stamp,
            LastModifiedById=creator,
            SystemModstamp=stamp,
        )
        self._put(obj, record)
        return record


class OrderedIndex(dict[Any, set[str]]):
    """A value index whose keys are also kept sorted (``order``), so the ids of every value
    inside a `Span` are found by two binary searches, not a scan (see ``_add``, ``_drop``)."""

    def __init__(self) -> None:
        super().__init__()
        self.order: list[Any] = []

    def spanning(self, span: Span) -> set[str]:
        start = 0 if span.low is None else bisect.bisect_left(self.order, span.low)
        end = len(self.order) if span.high is None else bisect.bisect_right(self.order, span.high)
        found = set[str]()
        for key in self.order[start:end]:
            found |= self[key]
        return found


def _add(index: dict[Any, set[str]], kind: str, raw: Any, record_id: str) -> None:
    for key in index_keys(kind, raw):
        ids_there = index.get(key)
        if ids_there is None:
            ids_there = index[key] = set()
            if isinstance(index, OrderedIndex):
                bisect.insort(index.order, key)
        ids_there.add(record_id)


def _drop(index: dict[Any, set[str]], kind: str, raw: Any, record_id: str) -> None:
    for key in index_keys(kind, raw):
        ids_there = index.get(key)
        if ids_there is not None:
            ids_there.discard(record_id)
            if not ids_there:
                del index[key]
                if isinstance(index, OrderedIndex):
                    del index.order[bisect.bisect_left(index.order, key)]


def _holding_all(index: dict[Any, set[str]], grams: Iterable[str]) -> set[str]:
    """The ids under every one of ``grams`` (smallest set first)."""
    sets = sorted((index.get(gram, set()) for gram in grams), key=len)
    if not sets:
        return set()
    found = set(sets[0])
    for more in sets[1:]:
        found &= more
        if not found:
            break
    return found
