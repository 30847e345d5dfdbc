"""The stage table: Partner Center ``Status/Substatus`` ⇄ CRM stage names.

Canonical stage values are Partner Center's ``"Status/Substatus"`` pairs. Several pairs may
share one CRM stage (New/Pending and New/Received are both on hold; Expired may share Closed Lost),
so reading a stage back picks the first pair in :data:`READ_ORDER` whose stage matches.
"""

from __future__ import annotations

from typing import Literal

from cosell.sync.core.mapping import StageSettings

StageRole = Literal["on_hold", "active", "declined", "won", "lost", "expired"]

ROLE_OF_STATUS: dict[str, StageRole] = {
    "New/Pending": "on_hold",
    "New/Received": "on_hold",
    "Active/Accepted": "active",
    "Closed/Declined": "declined",
    "Closed/Won": "won",
    "Closed/Lost": "lost",
    "Closed/Expired": "expired",
}
"""Every valid Partner Center status pair and the stage role it maps to."""

READ_ORDER: tuple[tuple[StageRole, str], ...] = (
    ("on_hold", "New/Pending"),
    ("active", "Active/Accepted"),
    ("won", "Closed/Won"),
    ("lost", "Closed/Lost"),
    ("declined", "Closed/Declined"),
    ("expired", "Closed/Expired"),
)
"""CRM stage → status: the first role whose stage name matches wins."""

ALLOWED_NEXT: dict[str, frozenset[str]] = {
    "New": frozenset({"New", "Active", "Closed"}),
    "Active": frozenset({"Active", "Closed"}),
    "Closed": frozenset(),
}
"""Partner Center's status state machine: which status may follow which."""


def stage_to_crm(status: str, stages: StageSettings) -> str:
    """The CRM stage for a ``Status/Substatus`` pair (unknown pairs: the active stage)."""
    role = ROLE_OF_STATUS.get(status, "active")
    return str(getattr(stages, role))


def stage_from_crm(stage: str, stages: StageSettings) -> str:
    """The ``Status/Substatus`` pair for a CRM stage; unknown stages count as open (active)."""
    folded = stage.casefold()
    for role, status in READ_ORDER:
        if str(getattr(stages, role)).casefold() == folded:
            return status
    return "Active/Accepted"


def status_of(pair: str | None) -> str | None:
    """The status half of a ``Status/Substatus`` pair."""
    return pair.split("/", 1)[0] if pair else None


def is_on_hold(pair: object) -> bool:
    """Whether a canonical stage value means "shared with us, not yet accepted"."""
    return isinstance(pair, str) and ROLE_OF_STATUS.get(pair) == "on_hold"


def is_closed(pair: object) -> bool:
    """Whether a canonical stage value is terminal (Closed/*)."""
    return isinstance(pair, str) and status_of(pair) == "Closed"


def transition_allowed(current: str | None, new: str) -> bool:
    """Whether Partner Center accepts moving a referral from ``current`` to ``new``."""
    if current is None:
        return True
    allowed = ALLOWED_NEXT.get(status_of(current) or "", frozenset())
    return status_of(new) in allowed and new in ROLE_OF_STATUS
