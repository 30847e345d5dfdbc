"""One record's three versions, field by field: Partner Center and the CRM as read now, and the
base both last agreed on, with each difference marked and, when the mapping's rules keep the
sides apart, the engine's reason.

The engine is built on first use (it describes the org once); reading costs one Partner Center
and a few CRM calls, so the console reads only when a person opens a record.
"""

from __future__ import annotations

import threading
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any, Protocol

from cosell.errors import CosellError
from cosell.queue.protocol import KeyKind
from cosell.store.records import Link
from cosell.sync.core.drift import compare

if TYPE_CHECKING:
    from cosell.sync.engine.engine import Engine


@dataclass(frozen=True)
class FieldRow:
    """One mapped field: the three values and whether the sides (or a side and the base)
    differ."""

    name: str
    partner_center: Any
    crm: Any
    base: Any
    sides_differ: bool
    held_reason: str = ""

    @property
    def pc_changed(self) -> bool:
        return bool(self.partner_center != self.base)

    @property
    def crm_changed(self) -> bool:
        return bool(self.crm != self.base)


@dataclass(frozen=True)
class SideBySide:
    """The record on both sides now (``error`` says why a side could not be read)."""

    fields: list[FieldRow] = field(default_factory=list)
    pc_found: bool = False
    crm_found: bool = False
    error: str | None = None

    @property
    def differences(self) -> int:
        return sum(1 for f in self.fields if f.sides_differ)


class SideReader(Protocol):
    """Reads one record's sides (the console's seam; tests pass a fake)."""

    def read(self, kind: KeyKind, record_id: str, link: Link | None) -> SideBySide: ...


class RecordSides:
    """Reads both sides of a record through the sync engine (built once, lazily)."""

    def __init__(self, engine_factory: Callable[[], Engine]) -> None:
        self._factory = engine_factory
        self._engine: Engine | None = None
        self._lock = threading.Lock()

    def read(self, kind: KeyKind, record_id: str, link: Link | None) -> SideBySide:
        try:
            engine = self.engine()
            snap = engine.read(kind, record_id, link)
        except CosellError as exc:
            return SideBySide(error=str(exc))
        pc, crm = snap.pc_values or {}, snap.crm_values or {}
        base = link.base if link is not None else {}
        held: dict[str, str] = {}
        drift: set[str] = set()
        if pc and crm:
            compared = compare(pc, crm, engine.mapping)
            held = {h.field: h.reason for h in compared.held}
            drift = {d.field for d in compared.drift}
        rows = [
            FieldRow(
                name,
                pc.get(name),
                crm.get(name),
                base.get(name),
                name in drift or name in held,
                held.get(name, ""),
            )
            for name in sorted(engine.mapping.fields)
        ]
        return SideBySide(rows, snap.pc is not None, snap.crm is not None)

    def engine(self) -> Engine:
        """The engine, built on first use."""
        with self._lock:
            if self._engine is None:
                self._engine = self._factory()
            return self._engine
