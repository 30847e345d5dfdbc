"""Solutions on the CRM side: the Microsoft Solutions related list and the ``Products__c`` text.

The seller may add a solution in either place, so the CRM's value is read from both, against
the base (the ids both sides last agreed on):

- every id in either place (typing an id into ``Products__c`` adds it), except
- ids the base has that were removed from the related list while ``Products__c`` still holds
  exactly the base: removing a row removes the solution. Editing the text only adds.

The round right after a create reads with no base (the two places are not yet in step).

After a sync both places are written to hold the same ids (:func:`out_of_step`), so a later
removal in either place is seen as one.
"""

from __future__ import annotations

from collections.abc import Collection, Iterable

from cosell.sync.mapping import SyncMapping
from cosell.sync.translate import SOLUTIONS_PATH


def field_name(mapping: SyncMapping) -> str | None:
    """The mapped field holding the referral's solution ids, if any."""
    return next((n for n, s in mapping.fields.items() if s.partner_center == SOLUTIONS_PATH), None)


def listed(text: object) -> list[str]:
    """The ids in a ``Products__c`` text (``;`` or ``,`` separated)."""
    parts = str(text or "").replace(",", ";").split(";")
    return list(dict.fromkeys(p.strip() for p in parts if p.strip()))


def crm_ids(
    rows: Iterable[str] | None, typed: Collection[str], base: Collection[str] | None
) -> list[str]:
    """The CRM's solution ids (see the module docstring); ``rows`` is ``None`` without the
    related list."""
    if rows is None:
        return list(typed)
    in_rows = [r.strip() for r in rows if r and r.strip()]
    union = list(dict.fromkeys([*in_rows, *typed]))
    if base is None:
        return union
    agreed = set(base)
    removed: set[str] = set()
    if set(typed) == agreed:  # the text is as agreed: the list speaks
        removed = agreed - set(in_rows)
    return [i for i in union if i not in removed]


def out_of_step(rows: Iterable[str] | None, typed: Collection[str], value: Collection[str]) -> bool:
    """Whether the related list or the text holds other ids than ``value``."""
    wanted = set(value)
    return (rows is not None and set(rows) != wanted) or set(typed) != wanted
