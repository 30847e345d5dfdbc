"""The opt-in name marker: ``Northwind renewal ✔`` / ``Northwind renewal ✖``.

Microsoft's connector shows the sync state by appending ✔ or ✖ to the opportunity name. cosell
uses a status field instead; with ``crm.name_marker: true`` it also keeps the marker for teams
used to it. A trailing marker is always stripped when the name is read, so it is never sent to
Partner Center as a name change, and the marked name is written only when it differs from the
record's (compare before write).

``Opportunity.Name`` holds 120 characters, so a long name is trimmed to leave room for the
marker. Reading such a record gives back the agreed (untrimmed) name whenever the stripped name
is exactly the trimmed form of it: a trim cosell made is never mistaken for a user's edit.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from cosell.sync.core.audit_trail import FAIL_MARK, OK_MARK
from cosell.sync.core.mapping import SyncMapping

NAME_PATH = "name"
MARKS = (OK_MARK, FAIL_MARK)
NAME_LENGTH = 120
"""``Opportunity.Name`` length, used when the mapping sets no ``max_length`` for the name."""


def name_key(mapping: SyncMapping) -> str | None:
    """The mapping's key of the field mapped to the referral's name (``name``), if any."""
    return next((k for k, s in mapping.fields.items() if s.partner_center == NAME_PATH), None)


def name_field(mapping: SyncMapping) -> str | None:
    """The CRM field mapped to the referral's name (``Name``), if any."""
    key = name_key(mapping)
    return mapping.fields[key].crm if key else None


def name_length(mapping: SyncMapping) -> int:
    """How many characters the CRM name field holds."""
    key = name_key(mapping)
    spec = mapping.fields[key] if key else None
    return (spec.max_length if spec and spec.max_length else None) or NAME_LENGTH


def strip(name: Any) -> Any:
    """The name without a trailing marker (other values unchanged)."""
    if not isinstance(name, str):
        return name
    text = name.rstrip()
    while text.endswith(MARKS):
        text = text[:-1].rstrip()
    return text


def fitted(name: str, length: int) -> str:
    """``name`` cut so that ``name + " ✔"`` fits in ``length`` characters."""
    room = length - len(f" {OK_MARK}")
    return name if len(name) <= room else name[:room].rstrip()


def unmarked(
    opportunity: Mapping[str, Any],
    mapping: SyncMapping,
    agreed: Mapping[str, Any] | None = None,
) -> dict[str, Any]:
    """The opportunity as translation should read it: the name without its marker.

    ``agreed`` is the last agreed canonical record (the link's base): when the stripped name is
    the trimmed form of the agreed name, the agreed name is read instead."""
    field = name_field(mapping)
    if field is None or field not in opportunity:
        return dict(opportunity)
    raw = opportunity[field]
    name = strip(raw)
    before = (agreed or {}).get(name_key(mapping) or "")
    if _trimmed_for_marker(raw, name, before, name_length(mapping)):
        name = before
    return {**opportunity, field: name}


def _trimmed_for_marker(raw: Any, name: Any, agreed: Any, length: int) -> bool:
    if not isinstance(raw, str) or not isinstance(agreed, str) or raw == name:
        return False
    return len(agreed) > len(name) and fitted(agreed, length) == name


def marked_name(
    mapping: SyncMapping,
    current: Mapping[str, Any],
    pending: Mapping[str, Any],
    failed: bool,
) -> dict[str, Any]:
    """``{Name: "<name> ✔|✖"}`` when the marker is on and the record's name differs from it.

    ``pending`` holds the opportunity fields about to be written (a new name wins over the
    current one). A name too long to carry the marker is trimmed to fit."""
    field = name_field(mapping)
    if not mapping.crm.name_marker or field is None:
        return {}
    name = strip(pending.get(field, current.get(field)))
    if not name:
        return {}
    wanted = f"{fitted(name, name_length(mapping))} {FAIL_MARK if failed else OK_MARK}"
    return {} if current.get(field) == wanted else {field: wanted}
