"""Fault injection and call counting shared by both emulators.

A fault rule says *what* goes wrong (``kind`` plus its parameters), *where* (an optional HTTP
method and path prefix) and *how often*: for the next ``count`` matching calls, or at a
``rate`` in [0, 1]. Each emulator decides what a kind means (an HTTP 429, an HTML 503, a dropped
webhook …); this module only stores rules and picks the one that fires.
"""

from __future__ import annotations

import itertools
import random
import threading
from collections import Counter
from dataclasses import dataclass, field
from typing import Any


class FaultSpecError(ValueError):
    """A fault rule is malformed; the message names the field."""


@dataclass
class FaultRule:
    kind: str
    params: dict[str, Any] = field(default_factory=dict)
    method: str | None = None
    path: str | None = None
    count: int | None = None
    rate: float | None = None
    after: int = 0
    """Matching calls let through untouched before the rule starts to fire."""
    id: int = 0
    fired: int = 0

    def matches(self, method: str, path: str) -> bool:
        if self.method and self.method.upper() != method.upper():
            return False
        return not self.path or path.startswith(self.path)

    def as_dict(self) -> dict[str, Any]:
        return {
            "id": self.id,
            "kind": self.kind,
            "params": self.params,
            "method": self.method,
            "path": self.path,
            "count": self.count,
            "rate": self.rate,
            "after": self.after,
            "fired": self.fired,
        }


class FaultBook:
    """Thread-safe store of active fault rules."""

    def __init__(self, kinds: frozenset[str], rng: random.Random | None = None) -> None:
        self.kinds = kinds
        self._rules: list[FaultRule] = []
        self._ids = itertools.count(1)
        self._rng = rng or random.Random()
        self._lock = threading.Lock()

    def add(self, spec: dict[str, Any]) -> FaultRule:
        """Add a rule from a JSON body; raises ``FaultSpecError`` naming the bad field."""
        rule = _parse_rule(spec, self.kinds)
        with self._lock:
            rule.id = next(self._ids)
            self._rules.append(rule)
        return rule

    def clear(self, kind: str | None = None) -> int:
        with self._lock:
            before = len(self._rules)
            self._rules = [r for r in self._rules if kind is not None and r.kind != kind]
            return before - len(self._rules)

    def rules(self) -> list[dict[str, Any]]:
        with self._lock:
            return [r.as_dict() for r in self._rules]

    def take(self, method: str, path: str, kinds: frozenset[str] | None = None) -> FaultRule | None:
        """The first matching rule that fires for this call (consuming one of its ``count``)."""
        with self._lock:
            for rule in self._rules:
                if kinds is not None and rule.kind not in kinds:
                    continue
                if not rule.matches(method, path):
                    continue
                if rule.after > 0:
                    rule.after -= 1
                    continue
                if not self._fires(rule):
                    continue
                rule.fired += 1
                if rule.count is not None:
                    rule.count -= 1
                    if rule.count <= 0:
                        self._rules.remove(rule)
                return rule
        return None

    def _fires(self, rule: FaultRule) -> bool:
        if rule.rate is None:
            return True
        return self._rng.random() < rule.rate


def _parse_rule(spec: dict[str, Any], kinds: frozenset[str]) -> FaultRule:
    if not isinstance(spec, dict):
        raise FaultSpecError("body: expected a JSON object")
    kind = spec.get("kind")
    if kind not in kinds:
        raise FaultSpecError(f"kind: must be one of {sorted(kinds)}, got {kind!r}")
    count, rate = spec.get("count"), spec.get("rate")
    if count is None and rate is None:
        count = 1
    if count is not None and (not isinstance(count, int) or isinstance(count, bool) or count < 1):
        raise FaultSpecError("count: must be a positive integer")
    if rate is not None and (not isinstance(rate, int | float) or not 0 <= rate <= 1):
        raise FaultSpecError("rate: must be a number between 0 and 1")
    after = spec.get("after", 0)
    if not isinstance(after, int) or isinstance(after, bool) or after < 0:
        raise FaultSpecError("after: must be a whole number of calls, 0 or more")
    params = spec.get("params", {})
    if not isinstance(params, dict):
        raise FaultSpecError("params: expected a JSON object")
    for key in ("method", "path"):
        if spec.get(key) is not None and not isinstance(spec[key], str):
            raise FaultSpecError(f"{key}: expected a string")
    return FaultRule(
        kind=kind,
        params=params,
        method=spec.get("method"),
        path=spec.get("path"),
        count=count,
        rate=None if rate is None else float(rate),
        after=after,
    )


class CallLog:
    """Counts API calls by method and route template (``GET /v1.0/engagements/referrals/{id}``).

    With ``tracks_writes``, the emulator also says which calls wrote data (``wrote``), listed
    under ``writes``: a ``POST`` may only read (a composite of queries), so the method alone
    does not tell a write."""

    def __init__(self, *, tracks_writes: bool = False) -> None:
        self._counts: Counter[str] = Counter()
        self._writes: Counter[str] | None = Counter() if tracks_writes else None
        self._lock = threading.Lock()

    def record(self, method: str, route: str) -> None:
        with self._lock:
            self._counts[f"{method.upper()} {route}"] += 1

    def wrote(self, method: str, route: str) -> None:
        """The call just recorded changed data."""
        with self._lock:
            if self._writes is not None:
                self._writes[f"{method.upper()} {route}"] += 1

    def snapshot(self) -> dict[str, Any]:
        with self._lock:
            shown: dict[str, Any] = {
                "total": sum(self._counts.values()),
                "calls": dict(sorted(self._counts.items())),
            }
            if self._writes is not None:
                shown["writes"] = dict(sorted(self._writes.items()))
            return shown

    def reset(self) -> None:
        with self._lock:
            self._counts.clear()
            if self._writes is not None:
                self._writes.clear()
