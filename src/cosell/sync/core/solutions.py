"""Solutions on the CRM side: the Microsoft Solutions related list and the ``Products__c`` text.

The seller may add a solution in either place, so the CRM's value is every id in either place
(typing an id into ``Products__c`` adds it), minus ids whose row was deleted since the last sync.
The link's base remembers the related list's ids under :data:`ROWS_KEY` for that; without the
memory (a first sync) nothing counts as deleted. Editing the text only adds.

After a sync both places are written to hold the same ids (:func:`out_of_step`).
"""

from __future__ import annotations

from collections.abc import Collection, Iterable, Mapping, Sequence
from typing import Any

from cosell.sync.core.mapping import FieldSpec, SyncMapping
from cosell.sync.core.records import Value
from cosell.sync.core.translate import SOLUTIONS_PATH, products_text

ROWS_KEY = "solutions@rows"
"""The base key remembering the related list's ids at the last sync (not a mapped field)."""


def field_name(mapping: SyncMapping) -> str | None:
    """The mapped field holding the referral's solution ids, if any."""
    return next((n for n, s in mapping.fields.items() if s.partner_center == SOLUTIONS_PATH), None)


def listed(text: object) -> list[str]:
    """The ids in a ``Products__c`` text (``;`` or ``,`` separated)."""
    parts = str(text or "").replace(",", ";").split(";")
    return list(dict.fromkeys(p.strip() for p in parts if p.strip()))


def crm_ids(
    rows: Iterable[str] | None, typed: Collection[str], rows_before: Collection[str] | None
) -> list[str]:
    """The CRM's solution ids: every id in either place, minus ids deleted from the related
    list since the last sync (``rows_before``; ``None`` when unknown). ``rows`` is ``None``
    without the related list."""
    if rows is None:
        return list(typed)
    in_rows = [r.strip() for r in rows if r and r.strip()]
    removed = set(rows_before or ()) - set(in_rows)
    return [i for i in dict.fromkeys([*in_rows, *typed]) if i not in removed]


def rows_after(
    before: Value, agreed: bool, written: Collection[str] | None, rows: Iterable[str] | None
) -> Value:
    """The related list's ids to remember with the base: what it holds after this sync, when the
    solutions were agreed (else the old memory, so a held-back deletion is not forgotten)."""
    if not agreed:
        return before
    if written is not None:
        return list[Value](sorted(written))
    return None if rows is None else list[Value](sorted(r for r in rows if r))


def out_of_step(
    rows: Iterable[str] | None, typed: Collection[str], value: Sequence[str], spec: FieldSpec
) -> bool:
    """Whether the related list or the text holds other ids than ``value`` (the text holds as
    many as fit, see :func:`~cosell.sync.core.translate.products_text`)."""
    wanted = set(value)
    fitting = set(listed(products_text(value, spec)))
    return (rows is not None and set(rows) != wanted) or set(typed) != fitting


def titles(referral: Mapping[str, Any]) -> dict[str, str]:
    """Solution id → name as the referral carries them (``details.requirements.solutions``)."""
    details = referral.get("details")
    requirements = details.get("requirements") if isinstance(details, Mapping) else None
    listed = requirements.get("solutions") if isinstance(requirements, Mapping) else None
    found: dict[str, str] = {}
    for item in listed if isinstance(listed, list) else []:
        if isinstance(item, Mapping) and item.get("id") and item.get("name"):
            found[str(item["id"])] = str(item["name"])
    return found
