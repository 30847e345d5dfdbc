"""Both sides changed a list of people (a ``members`` field): merge it person by person.

Field by field, a change on both sides goes to the field's owner and the other side's change is
lost. A list of people changes one person at a time: Microsoft adds a contact to the referral
while the seller corrects another contact's phone. Those are changes to two people, and both are
kept. Each member is matched by who they are (:func:`~cosell.sync.core.contacts.member_key`):

- a person one side changed (added, edited or removed) and the other left as the base had them
  takes that side's change;
- a person both sides changed alike takes that change;
- a person both sides edited is merged detail by detail: Microsoft's corrected phone and the
  seller's corrected first name are both kept; a detail both changed differently is a conflict
  of that person, which the field's owner wins;
- a person one side removed and the other edited is a conflict of that person alone, which the
  field's owner wins.

A person is matched by email, so a corrected email reads as someone gone and someone new. When
the one gone and the one new have the same name (and nobody else changed has it,
:func:`~cosell.sync.core.contacts.renamed`), they are one person whose email changed: the other
side's edit of them is merged with it, instead of the list ending with both.

A side's change is read against the base as that side reads it back (``base_pc``, ``base_crm``:
:func:`~cosell.sync.core.transforms.project`), as the planner reads a field's.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field

from cosell.sync.core.contacts import member_key, member_name, member_order, renamed
from cosell.sync.core.records import Side, Value

Row = Mapping[str, Value]


@dataclass(frozen=True)
class RowConflict:
    """One person both sides changed differently (``None``: removed on that side)."""

    key: str
    base: Value
    partner_center: Value
    crm: Value


@dataclass
class MemberMerge:
    """The merged list, and the base with one side's changes alone (what is agreed when only
    that side's changes reach the other)."""

    merged: list[Value] = field(default_factory=list)
    from_partner_center: list[Value] = field(default_factory=list)
    from_crm: list[Value] = field(default_factory=list)
    conflicts: list[RowConflict] = field(default_factory=list)


def listed(rows: list[Value]) -> Value:
    """Members as the field holds them: one row a person, in the members' order, no list for
    no one."""
    people: dict[str, dict[str, Value]] = {}
    for row in rows:
        if isinstance(row, dict):
            people.setdefault(member_key(row), row)
    ordered = sorted(people.values(), key=member_order)
    return list[Value](ordered) or None


def merge_members(
    base: Value,
    pc: Value,
    crm: Value,
    *,
    base_pc: Value,
    base_crm: Value,
    winner: Side,
) -> MemberMerge | None:
    """``pc`` and ``crm`` merged over ``base`` person by person; ``None`` when a value is not a
    list of people (the field is then merged whole)."""
    indexed = [_by_person(v) for v in (base, base_pc, base_crm, pc, crm)]
    if any(rows is None for rows in indexed):
        return None
    b, bp, bc, p, c = (rows or {} for rows in indexed)
    p, c = _as_before(p, bp), _as_before(c, bc)
    out = MemberMerge()
    for key in dict.fromkeys([*b, *p, *c]):
        pc_row, crm_row, base_row = p.get(key), c.get(key), b.get(key)
        pc_changed = pc_row != bp.get(key)
        crm_changed = crm_row != bc.get(key)
        chosen: Value
        if pc_changed and crm_changed and pc_row != crm_row:
            chosen, conflicted = _person(
                (base_row, bp.get(key), bc.get(key)), pc_row, crm_row, winner
            )
            if conflicted:
                out.conflicts.append(RowConflict(key, base_row, pc_row, crm_row))
        elif pc_changed:
            chosen = pc_row
        elif crm_changed:
            chosen = crm_row
        else:
            chosen = base_row
        _keep(out.merged, chosen)
        _keep(out.from_partner_center, pc_row if pc_changed else base_row)
        _keep(out.from_crm, crm_row if crm_changed else base_row)
    return out


def _as_before(rows: dict[str, Value], before: dict[str, Value]) -> dict[str, Value]:
    """A side's people by the key the base knew them by: a person whose email this side
    corrected is found under their old email (see :func:`~cosell.sync.core.contacts.renamed`)."""
    gone = {k: v for k, v in before.items() if k not in rows and isinstance(v, Mapping)}
    added = {k: v for k, v in rows.items() if k not in before and isinstance(v, Mapping)}
    was = renamed(gone, added, member_name)
    return {was.get(key, key): row for key, row in rows.items()}


def _person(
    bases: tuple[Value, Value, Value], pc_row: Value, crm_row: Value, winner: Side
) -> tuple[Value, bool]:
    """One person both sides changed, and whether a change of theirs conflicted: merged detail
    by detail when both edited them; removed on one side and edited on the other, the owner's.
    ``bases``: the base's row, and as each side reads it back."""
    owners = pc_row if winner == "partner_center" else crm_row
    base, base_pc, base_crm = (row if isinstance(row, Mapping) else {} for row in bases)
    if not isinstance(pc_row, Mapping) or not isinstance(crm_row, Mapping):
        return owners, True
    merged: dict[str, Value] = {}
    conflicted = False
    for name in dict.fromkeys([*base, *pc_row, *crm_row]):
        pc_value, crm_value = pc_row.get(name), crm_row.get(name)
        pc_changed, crm_changed = pc_value != base_pc.get(name), crm_value != base_crm.get(name)
        if pc_changed and crm_changed and pc_value != crm_value:
            conflicted = True
            value = pc_value if winner == "partner_center" else crm_value
        elif pc_changed:
            value = pc_value
        elif crm_changed:
            value = crm_value
        else:
            value = base.get(name)
        if value is not None:
            merged[name] = value
    return merged, conflicted


def _by_person(value: Value) -> dict[str, Value] | None:
    if value is None:
        return {}
    if not isinstance(value, Sequence) or isinstance(value, str):
        return None
    rows: dict[str, Value] = {}
    for row in value:
        if not isinstance(row, Mapping):
            return None
        rows.setdefault(member_key(row), row)
    return rows


def _keep(rows: list[Value], row: Value) -> None:
    if row is not None:
        rows.append(row)
