"""Plain value types shared by translation and planning.

A *canonical record* is a mapping from the mapping's field names to JSON-serialisable values in
one canonical form per transform (see ``docs/mapping.md``), so the engine can store it as the base
snapshot and compare values with ``==``. Canonical values use Partner Center's vocabulary
(assistance codes, ``Status/Substatus``); the mapping converts to CRM labels at the edge.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any, Literal, TypeAlias

Value: TypeAlias = "str | bool | list[Value] | dict[str, Value] | None"
"""A canonical field value: JSON-serialisable, normalised per transform."""

CanonicalRecord: TypeAlias = Mapping[str, Value]
"""Field name → canonical value. A missing key and ``None`` both mean "no value"."""

Side = Literal["partner_center", "crm"]
"""The two systems a field lives in."""


@dataclass(frozen=True)
class CrmRelated:
    """Rows related to an opportunity, fetched by the engine however it likes (plain dicts).

    ``account`` is the opportunity's account fields; ``contacts`` the customer contacts (keys
    ``FirstName``, ``LastName``, ``Email``, ``Phone``); ``team`` the opportunity team members in
    the same shape; ``solutions`` the related solution rows (the mapping's solution id field).
    ``None`` for a list means "not fetched", which translation treats as "no value".
    """

    account: Mapping[str, Any] = field(default_factory=dict)
    contacts: Sequence[Mapping[str, Any]] | None = None
    team: Sequence[Mapping[str, Any]] | None = None
    solutions: Sequence[Mapping[str, Any]] | None = None


@dataclass(frozen=True)
class CrmWrite:
    """What to write to the CRM: opportunity fields plus intents for related objects.

    ``opportunity`` and ``account`` hold CRM field name → CRM value. ``contacts``, ``team`` and
    ``solutions`` are the complete desired sets when they changed, ``None`` when untouched; the
    engine reconciles rows (match contacts by email, solutions by id).
    """

    opportunity: dict[str, Any] = field(default_factory=dict)
    account: dict[str, Any] = field(default_factory=dict)
    contacts: list[dict[str, Any]] | None = None
    team: list[dict[str, Any]] | None = None
    solutions: list[str] | None = None
    note: str | None = None
    """The notes Note's body, when ``note_changed``: a CRM that writes it with the rest does
    so, the engine's note mirror then finding nothing left to send."""
    note_changed: bool = False
    solution_names: dict[str, str] = field(default_factory=dict)
    """Solution id → its name in Partner Center, for the rows a write adds."""

    def is_empty(self) -> bool:
        """True when there is nothing to write."""
        lists = (self.contacts, self.team, self.solutions)
        return not self.opportunity and not self.account and all(x is None for x in lists)


@dataclass(frozen=True)
class CreateContext:
    """Facts a referral create needs that are not field values."""

    opportunity_id: str
    """The CRM record id, sent as ``externalReferenceId`` (idempotent create, DESIGN.md §4)."""
