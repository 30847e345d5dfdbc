"""Telling a pair that keeps writing without converging from one that is simply busy (pure).

A reconcile that writes to a side is followed, when the write sticks, by one that finds nothing
to write (the echo agrees with the base). A pair in a loop never gets there: something answers
every write of ours with a change (a CRM trigger or flow that rewrites a synced field, an
integration putting its own value back, a transform that does not round-trip), so every
reconcile of it writes again, forever, at API cost.

The detector counts the reconciles of a pair that wrote the same synced field (in the same
direction), in a row, with no quiet one between them (a quiet one resets the count) and no pause
longer than ``gap_seconds`` (a person editing once an hour is not a loop). A round that writes
none of the fields every earlier round of the streak wrote starts a new streak: people editing
a busy deal touch different fields, a loop rewrites the same ones. cosell's own status, error
and audit fields do not count (they are written only when their value changes). When ``writes``
such reconciles have run and the next one wants to write again, the pair is parked instead:
nothing is written or read for it until a person resumes it. The reason names the fields and
whether their values flip-flop (the same values coming back) or keep changing.
"""

from __future__ import annotations

import hashlib
import json
from collections.abc import Mapping
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any

HISTORY = 6
"""Values remembered per field (enough to see a flip-flop)."""


@dataclass(frozen=True)
class LoopLimits:
    """When a pair's writing streak is a loop (``sync.loop_writes``, ``sync.loop_gap_seconds``)."""

    writes: int = 20
    gap_seconds: float = 900.0


@dataclass
class Streak:
    """Reconciles of one pair that wrote, in a row."""

    count: int = 0
    first: datetime | None = None
    last: datetime | None = None
    written: dict[str, list[str]] = field(default_factory=dict)
    """Per written field (``name → side``), digests of the values written, oldest first."""
    steady: list[str] = field(default_factory=list)
    """The fields every one of them wrote."""
    parked: str | None = None
    """Why the pair is parked (None while it is not)."""
    parked_at: datetime | None = None

    def to_json(self) -> dict[str, Any]:
        return {
            "count": self.count,
            "first": self.first.isoformat() if self.first else None,
            "last": self.last.isoformat() if self.last else None,
            "written": self.written,
            "steady": self.steady,
            "parked": self.parked,
            "parked_at": self.parked_at.isoformat() if self.parked_at else None,
        }

    @classmethod
    def from_json(cls, data: Mapping[str, Any]) -> Streak:
        return cls(
            count=int(data.get("count") or 0),
            first=_when(data.get("first")),
            last=_when(data.get("last")),
            written={str(k): [str(v) for v in vs] for k, vs in (data.get("written") or {}).items()},
            steady=[str(v) for v in data.get("steady") or []],
            parked=data.get("parked"),
            parked_at=_when(data.get("parked_at")),
        )


def wrote(
    streak: Streak | None, written: Mapping[str, object], now: datetime, limits: LoopLimits
) -> Streak:
    """The streak after a reconcile that wrote ``written`` (``field → side`` to the value)."""
    steady = sorted(written)
    if streak is not None and streak.last is not None:
        recent = (now - streak.last).total_seconds() <= limits.gap_seconds
        if recent and set(streak.steady) & set(written):
            steady = sorted(set(streak.steady) & set(written))
        else:
            streak = None
    base = Streak(first=now) if streak is None else streak
    history = {name: list(values) for name, values in base.written.items() if name in steady}
    for name in steady:
        history[name] = [*history.get(name, []), _digest(written[name])][-HISTORY:]
    return Streak(
        count=base.count + 1,
        first=base.first or now,
        last=now,
        written=history,
        steady=steady,
    )


def is_loop(streak: Streak | None, now: datetime, limits: LoopLimits) -> bool:
    """The pair wrote ``limits.writes`` times in a row (no quiet reconcile, no long pause) and a
    reconcile wants to write again now."""
    if streak is None or streak.last is None:
        return False
    recent = (now - streak.last).total_seconds() <= limits.gap_seconds
    return recent and streak.count >= limits.writes


def flip_flops(streak: Streak) -> list[str]:
    """Fields written with a value they had already been written with in the streak."""
    return sorted(name for name, values in streak.written.items() if len(set(values)) < len(values))


def reason(streak: Streak, now: datetime) -> str:
    """Why the pair is parked, in a person's words."""
    minutes = max(1, round(((now - (streak.first or now)).total_seconds()) / 60))
    names = streak.steady or sorted(streak.written)
    shown = ", ".join(names[:6]) + (f" and {len(names) - 6} more" if len(names) > 6 else "")
    flipping = flip_flops(streak)
    how = (
        f"the same values keep coming back ({', '.join(flipping[:3])})"
        if flipping
        else "something changes them again after every write"
    )
    return (
        f"kept writing without converging: {streak.count} reconciles in a row within "
        f"{minutes} min each wrote {shown}, and {how}"
    )


def _digest(value: object) -> str:
    text = json.dumps(value, sort_keys=True, default=str)
    return hashlib.sha256(text.encode()).hexdigest()[:12]


def _when(value: object) -> datetime | None:
    return datetime.fromisoformat(str(value)) if value else None
