"""The opt-in name marker: ``Northwind renewal ✔`` / ``Northwind renewal ✖``.

Microsoft's connector shows the sync state by appending ✔ or ✖ to the opportunity name. cosell
uses a status field instead; with ``crm.name_marker: true`` it also keeps the marker for teams
used to it. A trailing marker is always stripped when the name is read, so it is never sent to
Partner Center as a name change, and the marked name is written only when it differs from the
record's (compare before write).
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from cosell.sync.audit_trail import FAIL_MARK, OK_MARK
from cosell.sync.mapping import SyncMapping

NAME_PATH = "name"
MARKS = (OK_MARK, FAIL_MARK)


def name_field(mapping: SyncMapping) -> str | None:
    """The CRM field mapped to the referral's name (``Name``), if any."""
    return next((s.crm for s in mapping.fields.values() if s.partner_center == NAME_PATH), None)


def strip(name: Any) -> Any:
    """The name without a trailing marker (other values unchanged)."""
    if not isinstance(name, str):
        return name
    text = name.rstrip()
    while text.endswith(MARKS):
        text = text[:-1].rstrip()
    return text


def unmarked(opportunity: Mapping[str, Any], mapping: SyncMapping) -> dict[str, Any]:
    """The opportunity as translation should read it: the name without its marker."""
    field = name_field(mapping)
    if field is None or field not in opportunity:
        return dict(opportunity)
    return {**opportunity, field: strip(opportunity[field])}


def marked_name(
    mapping: SyncMapping,
    current: Mapping[str, Any],
    pending: Mapping[str, Any],
    failed: bool,
) -> dict[str, Any]:
    """``{Name: "<name> ✔|✖"}`` when the marker is on and the record's name differs from it.

    ``pending`` holds the opportunity fields about to be written (a new name wins over the
    current one)."""
    field = name_field(mapping)
    if not mapping.crm.name_marker or field is None:
        return {}
    name = strip(pending.get(field, current.get(field)))
    if not name:
        return {}
    wanted = f"{name} {FAIL_MARK if failed else OK_MARK}"
    return {} if current.get(field) == wanted else {field: wanted}
