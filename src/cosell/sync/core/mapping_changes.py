"""What a mapping change does to existing links: the fields whose target or transform moved.

A field whose CRM field, Partner Center path or transform changes reads a different value on
that side than the one the link's base was agreed on. Syncing the difference would send the new
field's (often empty) value to the other side as if someone had edited it. Such a field is
*moved*: each existing link is re-based for it (see :mod:`cosell.sync.engine.rebase`), so
nothing is written until someone edits it on either side. Pure: fingerprints and differences.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any, Literal

from cosell.sync.core.mapping import SyncMapping

ChangeKind = Literal["added", "removed", "crm", "partner_center", "transform", "rules"]
TARGET_KEYS: tuple[ChangeKind, ...] = ("crm", "partner_center", "transform")
"""A change of one of these moves the field (existing links are re-based for it)."""
EFFECT = {
    "added": "new field: existing links sync it on their next reconcile (a side's value fills "
    "the other; different values on both sides are a conflict)",
    "removed": "no longer synced: nothing written; the link forgets the field",
    "crm": "re-based: each existing link takes both sides' values as agreed; nothing is written "
    "until someone edits the field on either side",
    "partner_center": "re-based: each existing link takes both sides' values as agreed; nothing is "
    "written until someone edits the field on either side",
    "transform": "re-based: each existing link takes both sides' values as agreed; nothing is "
    "written until someone edits the field on either side",
    "rules": "applies from the next change of the field (direction, owner or values)",
}

Fingerprint = dict[str, dict[str, Any]]


@dataclass(frozen=True)
class FieldChange:
    """One field's difference between two mappings."""

    field: str
    kind: ChangeKind
    old: Any
    new: Any

    @property
    def moves(self) -> bool:
        """Existing links must be re-based for this field."""
        return self.kind in TARGET_KEYS

    @property
    def effect(self) -> str:
        return EFFECT[self.kind]


def fingerprint(mapping: SyncMapping) -> Fingerprint:
    """What of each field decides the values a side reads and how they compare."""
    return {
        name: {
            "crm": spec.crm,
            "partner_center": spec.partner_center,
            "transform": spec.transform,
            "rules": {
                "direction": spec.direction,
                "owner": spec.owner,
                "values": spec.values,
                "max_length": spec.max_length,
            },
        }
        for name, spec in mapping.fields.items()
    }


def changes(old: Fingerprint, new: Fingerprint) -> list[FieldChange]:
    """Every field that was added, removed, moved or whose rules changed, by field name."""
    found: list[FieldChange] = []
    for name in sorted(set(old) | set(new)):
        before, after = old.get(name), new.get(name)
        if before is None:
            assert after is not None
            found.append(FieldChange(name, "added", None, after["crm"]))
        elif after is None:
            found.append(FieldChange(name, "removed", before["crm"], None))
        else:
            found += [
                FieldChange(name, key, before.get(key), after.get(key))
                for key in (*TARGET_KEYS, "rules")
                if before.get(key) != after.get(key)
            ]
    return found


def moved_fields(old: Fingerprint, new: Fingerprint) -> set[str]:
    """Fields existing links must be re-based for (their target or transform changed)."""
    return {c.field for c in changes(old, new) if c.kind in TARGET_KEYS}
