"""``cosell mapping diff``: what a mapping change does to the links a store already holds.

Two files are compared field by field; with a configuration, the mapping last applied to its
store (kept by the engine, see :mod:`cosell.sync.engine.rebase`) is the old side, and the
existing links are counted. A moved field (CRM field, Partner Center path or transform) is
re-based on each existing link: nothing is written until someone edits it.
"""

from __future__ import annotations

from dataclasses import dataclass

from cosell.store import drift as pairs
from cosell.store.records import TenantId
from cosell.store.sql import Store
from cosell.sync.core.mapping import SyncMapping
from cosell.sync.core.mapping_changes import FieldChange, Fingerprint, changes, fingerprint
from cosell.sync.engine import rebase


@dataclass(frozen=True)
class MappingDiff:
    """The field changes from ``old_source`` to ``new_source`` and the links they touch."""

    old_source: str
    new_source: str
    changes: list[FieldChange]
    links: int | None = None
    """Linked pairs in the store (``None`` when no store was read)."""

    @property
    def moved(self) -> list[FieldChange]:
        return [c for c in self.changes if c.moves]

    def summary(self) -> str:
        if not self.changes:
            return f"no field changes from {self.old_source} to {self.new_source}"
        moved = sorted({c.field for c in self.moved})
        links = "existing links" if self.links is None else f"{self.links} existing link(s)"
        if not moved:
            return f"{len(self.changes)} change(s); no field moves, {links} keep their base"
        return (
            f"{len(self.changes)} change(s); {links} re-based for {', '.join(moved)} at their "
            "next reconcile: nothing is written to either side for "
            f"{'it' if len(moved) == 1 else 'them'} until someone edits the field"
        )


def diff_mappings(
    old: SyncMapping, new: SyncMapping, old_source: str, new_source: str
) -> MappingDiff:
    return MappingDiff(old_source, new_source, changes(fingerprint(old), fingerprint(new)))


def diff_against_applied(
    store: Store, tenant: TenantId, new: SyncMapping, new_source: str
) -> MappingDiff:
    """The configured (or given) mapping against the one last applied to the store."""
    applied = rebase.stored(store, tenant)
    old: Fingerprint = applied.fields if applied is not None else fingerprint(new)
    source = "the last applied mapping" if applied else "the store (no mapping applied yet)"
    links = len(pairs.linked_pairs(store, tenant))
    return MappingDiff(source, new_source, changes(old, fingerprint(new)), links)
