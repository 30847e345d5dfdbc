"""The doctor's verdicts: one ``Check`` per part, ok / warn / fail (or skip), with the fix."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from typing import Literal

Level = Literal["ok", "warn", "fail", "skip"]


@dataclass(frozen=True)
class Check:
    """One check's verdict; ``fix`` says what to do when it is not ``ok``."""

    name: str
    level: Level
    detail: str
    fix: str = ""


def exit_status(checks: Sequence[Check]) -> int:
    """1 when any check failed, else 0."""
    return 1 if any(c.level == "fail" for c in checks) else 0
