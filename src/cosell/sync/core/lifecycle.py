"""Lifecycle notices: what a seller should read on the record besides "✔ Synced".

A notice is a line for the status field, chosen from the referral and the plan (pure):

- Microsoft closed the referral (Expired after 14 days unanswered, Declined, Lost): the
  opportunity moves to the mapped stage and the notice says why.
- An edit that may not flow: the referral is Closed ("not syncable"), or a shared referral would
  be made private again (Partner Center forbids it). The notice names the edited values, so
  each new edit is shown (and audited) once, and an unchanged record is never written again.
- Edits held while an incoming referral is on hold (they wait for accept): the notice names
  them, so the record never says "✔ Synced" while a seller's edit has not reached Partner Center.
- A field both sides changed differently that waits for a person (a manual conflict): the
  record never says "✔ Synced" while the sides are kept apart.
- An incoming referral nearing its 14-day expiry: ``⚠ Expires in 2 days — accept or decline``.

The record itself is the memory: a notice equal to the status field already shown is not
written again, so notices cause no write loop (compare before write).
"""

from __future__ import annotations

import math
from collections.abc import Mapping
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any

from cosell.sync.core.audit_trail import show
from cosell.sync.core.plan import NO_UNSHARE, NOT_SYNCABLE, ON_HOLD, Plan, Skip
from cosell.sync.core.stages import is_closed

WARN_BEFORE = timedelta(days=3)
"""Incoming referrals are flagged this long before Partner Center expires them."""
EXPIRES = "Expires in {days} — accept or decline"
EXPIRED_WHY = "not accepted within 14 days"
CLOSED_BY_MICROSOFT = "Closed by Microsoft: {substatus}"
NOT_SYNCABLE_NOTICE = "Not syncable: the referral is Closed; kept in the CRM only: {edits}"
CONFLICT_NOTICE = (
    "Conflict: {fields} changed differently on both sides; kept apart until someone decides "
    "in cosell (Conflicts)"
)
HELD_NOTICE = "Held: the referral is on hold; these edits wait for accept: {edits}"
NO_UNSHARE_NOTICE = (
    "Not syncable: Partner Center does not let a shared referral be made private again "
    "({field} stays shared)"
)


@dataclass(frozen=True)
class Facts:
    """What a notice is decided from."""

    referral: Mapping[str, Any]
    decided: Plan
    crm_values: Mapping[str, Any]
    stage_field: str | None
    now: datetime


def notice(facts: Facts) -> str | None:
    """The status line this reconcile should show, or ``None`` for the usual ✔ / ✖."""
    return (
        closed_by_microsoft(facts)
        or refused_edits(facts)
        or waiting_for_a_person(facts)
        or expiry_warning(facts)
        or held_edits(facts)
    )


def closed_by_microsoft(facts: Facts) -> str | None:
    """A close that came from Partner Center in this reconcile, with the reason."""
    stage = facts.stage_field
    closes = [
        d
        for d in facts.decided.decisions
        if d.field == stage and d.source == "partner_center" and is_closed(d.new)
    ]
    if not closes:
        return None
    substatus = str(facts.referral.get("substatus") or "Closed")
    reason = facts.referral.get("statusReason") or (EXPIRED_WHY if substatus == "Expired" else "")
    text = CLOSED_BY_MICROSOFT.format(substatus=substatus)
    return f"{text} ({reason})" if reason else text


def refused_edits(facts: Facts) -> str | None:
    """Edits that cannot reach Partner Center, named with their values."""
    closed = [s for s in facts.decided.skipped if s.reason == NOT_SYNCABLE]
    if closed:
        edits = ", ".join(_edit(s, facts.crm_values) for s in sorted(closed, key=_field))
        return NOT_SYNCABLE_NOTICE.format(edits=edits)
    unshare = next((s for s in facts.decided.skipped if s.reason.endswith(NO_UNSHARE)), None)
    return NO_UNSHARE_NOTICE.format(field=unshare.field) if unshare else None


def waiting_for_a_person(facts: Facts) -> str | None:
    """Fields both sides changed that no owner rule decides: a person chooses."""
    fields = sorted({c.field for c in facts.decided.conflicts if c.resolution == "manual"})
    return CONFLICT_NOTICE.format(fields=", ".join(fields)) if fields else None


def held_edits(facts: Facts) -> str | None:
    """CRM edits kept back while the incoming referral is on hold (they flow on accept)."""
    held = [s for s in facts.decided.skipped if s.reason == ON_HOLD]
    if not held:
        return None
    edits = ", ".join(_edit(s, facts.crm_values) for s in sorted(held, key=_field))
    return HELD_NOTICE.format(edits=edits)


def expiry_warning(facts: Facts) -> str | None:
    """An incoming referral not yet accepted whose expiry is near."""
    return expiry_notice(facts.referral, facts.now)


def expiry_notice(referral: Mapping[str, Any], now: datetime) -> str | None:
    """The expiry warning a referral (wire form) shows at ``now``: incoming, not yet accepted,
    and expiring within :data:`WARN_BEFORE`; ``None`` otherwise."""
    if referral.get("direction") != "Incoming" or referral.get("status") != "New":
        return None
    expires = _parse_datetime(referral.get("expirationDateTime"))
    if expires is None:
        return None
    left = expires - now
    if left <= timedelta() or left > WARN_BEFORE:
        return None
    days = math.ceil(left / timedelta(days=1))
    return EXPIRES.format(days="1 day" if days == 1 else f"{days} days")


def is_expiry_warning(status: str | None) -> bool:
    """Whether a status field text is the expiry warning (``cosell status`` lists these)."""
    return bool(status) and "Expires in" in str(status) and "accept or decline" in str(status)


def _field(skip: Skip) -> str:
    return skip.field


def _edit(skip: Skip, values: Mapping[str, Any]) -> str:
    return f"{skip.field} {show(values.get(skip.field))}"


def _parse_datetime(value: Any) -> datetime | None:
    """An ISO 8601 datetime as Partner Center sends it (the clients' parser, kept free of I/O)."""
    return datetime.fromisoformat(value) if isinstance(value, str) and value else None
