"""Associations between records: HubSpot-defined type ids, labels, and both directions.

Every link is stored from each side with its own type id (deal→company 341 and company→deal
342). A primary link (5) brings the unlabeled one (341) with it; removing the unlabeled type
removes every label between the pair.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from cosell.emulators.hubspot.wire import HubSpotError, validation


@dataclass(frozen=True)
class AssociationType:
    from_type: str
    to_type: str
    type_id: int
    inverse_id: int
    label: str | None
    name: str
    category: str = "HUBSPOT_DEFINED"


# (from, to, typeId, inverse typeId, label, v3 name of the forward type, v3 name of the inverse)
_TABLE = (
    (
        "deals",
        "companies",
        341,
        342,
        None,
        "deal_to_company_unlabeled",
        "company_to_deal_unlabeled",
    ),
    ("deals", "companies", 5, 6, "Primary", "deal_to_company", "company_to_deal"),
    ("deals", "contacts", 3, 4, None, "deal_to_contact", "contact_to_deal"),
    ("notes", "deals", 214, 213, None, "note_to_deal", "deal_to_note"),
    ("notes", "companies", 190, 189, None, "note_to_company", "company_to_note"),
    ("notes", "contacts", 202, 201, None, "note_to_contact", "contact_to_note"),
    ("deals", "line_items", 19, 20, None, "deal_to_line_item", "line_item_to_deal"),
    (
        "contacts",
        "companies",
        279,
        280,
        None,
        "contact_to_company_unlabeled",
        "company_to_contact_unlabeled",
    ),
    ("contacts", "companies", 1, 2, "Primary", "contact_to_company", "company_to_contact"),
    ("deals", "deals", 451, 451, None, "deal_to_deal", "deal_to_deal"),
)
TYPES: dict[int, AssociationType] = {}
for _from, _to, _fwd, _back, _label, _name, _inverse in _TABLE:
    TYPES[_fwd] = AssociationType(_from, _to, _fwd, _back, _label, _name)
    TYPES.setdefault(_back, AssociationType(_to, _from, _back, _fwd, _label, _inverse))
# a primary type implies its unlabeled sibling
_UNLABELED = {5: 341, 6: 342, 1: 279, 2: 280}
BY_NAME = {t.name: t for t in TYPES.values()}


def default_type(from_type: str, to_type: str) -> AssociationType:
    for kind in TYPES.values():
        if (kind.from_type, kind.to_type) == (from_type, to_type) and kind.label is None:
            return kind
    raise validation(f"No default association type from {from_type} to {to_type}.")


def resolve(from_type: str, to_type: str, raw: Any, category: str | None = None) -> AssociationType:
    """The type a request names (a number or v3 name) between the two object types."""
    kind = BY_NAME.get(raw) if isinstance(raw, str) and not raw.isdigit() else None
    if kind is None:
        try:
            kind = TYPES.get(int(raw))
        except (TypeError, ValueError):
            kind = None
    if kind is None or (kind.from_type, kind.to_type) != (from_type, to_type):
        raise HubSpotError(
            400,
            "VALIDATION_ERROR",
            f"{raw} is not a valid association type between {from_type} and {to_type}.",
        )
    if category is not None and category != kind.category:
        raise validation(f"associationCategory {category} does not match type {kind.type_id}.")
    return kind


Key = tuple[str, str, str, str]  # from type, from id, to type, to id


class AssociationBook:
    """The links between records, with the type ids on each (one entry per direction)."""

    def __init__(self) -> None:
        self._links: dict[Key, set[int]] = {}

    def add(self, from_type: str, from_id: str, to_type: str, to_id: str, kinds: list[int]) -> bool:
        """Add types to a pair (and their inverses); True when anything was new."""
        wanted = set(kinds) | {_UNLABELED[k] for k in kinds if k in _UNLABELED}
        forward = self._links.setdefault((from_type, from_id, to_type, to_id), set())
        backward = self._links.setdefault((to_type, to_id, from_type, from_id), set())
        before = len(forward)
        forward |= wanted
        backward |= {TYPES[k].inverse_id for k in wanted}
        return len(forward) != before

    def replace(
        self, from_type: str, from_id: str, to_type: str, to_id: str, kinds: list[int]
    ) -> None:
        self.remove(from_type, from_id, to_type, to_id)
        self.add(from_type, from_id, to_type, to_id, kinds)

    def remove(
        self, from_type: str, from_id: str, to_type: str, to_id: str, kinds: list[int] | None = None
    ) -> bool:
        """Remove some types (None: all) from a pair; True when a link was removed."""
        key, back = (from_type, from_id, to_type, to_id), (to_type, to_id, from_type, from_id)
        held = self._links.get(key, set())
        dropped = (
            set(held) if kinds is None or set(kinds) & set(_UNLABELED.values()) else set(kinds)
        )
        dropped &= held
        held -= dropped
        if back in self._links:
            self._links[back] -= {TYPES[k].inverse_id for k in dropped}
        for k in (key, back):
            if not self._links.get(k, True):
                del self._links[k]
        return bool(dropped)

    def between(self, from_type: str, from_id: str, to_type: str, to_id: str) -> set[int]:
        return set(self._links.get((from_type, from_id, to_type, to_id), set()))

    def of(self, from_type: str, from_id: str, to_type: str) -> list[tuple[str, set[int]]]:
        """The records of ``to_type`` linked to one record, ordered by id, with their types."""
        found = [
            (to_id, kinds)
            for (ft, fid, tt, to_id), kinds in self._links.items()
            if (ft, fid, tt) == (from_type, from_id, to_type) and kinds
        ]
        return sorted(found, key=lambda item: (len(item[0]), item[0]))

    def forget(self, object_type: str, object_id: str) -> None:
        """Drop every link of a record (it was archived)."""
        for key in [k for k in self._links if (k[0], k[1]) == (object_type, object_id)]:
            self.remove(*key)


def spec(type_id: int) -> dict[str, Any]:
    return {"associationCategory": TYPES[type_id].category, "associationTypeId": type_id}


def labelled(type_id: int) -> dict[str, Any]:
    kind = TYPES[type_id]
    return {"category": kind.category, "typeId": type_id, "label": kind.label}
