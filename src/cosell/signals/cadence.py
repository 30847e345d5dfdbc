"""How long a change signal waits before its next look: fast while busy, slow while idle.

Budget arithmetic (Salesforce, the metered side). An org's daily allocation starts at 100,000
API calls. An idle poll costs one query call, so an idle tenant polling every ``t`` seconds
spends ``86,400 / t`` calls a day. Keeping that under 3 % of 100,000 (3,000 calls) needs
``t >= 86,400 / 3,000 = 28.8 s``. The default idle ceiling of 60 s costs 1,440 calls a day,
1.44 % of the allocation. While changes flow the poller looks again after ``min_interval``
(2 s by default); that costs more only while there is work, which itself costs far more calls.
"""

from __future__ import annotations

from dataclasses import dataclass

SECONDS_PER_DAY = 86_400
DEFAULT_DAILY_ALLOCATION = 100_000


@dataclass(frozen=True)
class Cadence:
    """Adaptive interval: ``min_interval`` after a look that found changes, then doubling
    (``factor``) each idle look up to ``max_interval``."""

    min_interval: float = 2.0
    max_interval: float = 60.0
    factor: float = 2.0

    def __post_init__(self) -> None:
        if not 0 < self.min_interval <= self.max_interval:
            raise ValueError("need 0 < min_interval <= max_interval")
        if self.factor < 1:
            raise ValueError("factor must be at least 1")

    def next_interval(self, previous: float | None, changes: int) -> float:
        """The wait after a look that found ``changes`` records; ``previous`` was the last wait."""
        if changes > 0 or previous is None:
            return self.min_interval
        return min(self.max_interval, max(previous, self.min_interval) * self.factor)

    def after_refusal(self, retry_after: float | None) -> float:
        """The wait after the API budget reserve or a throttle said "not now"."""
        return max(self.max_interval, retry_after or 0.0)


def daily_calls(interval: float, calls_per_look: int = 1) -> float:
    """API calls a day spent looking every ``interval`` seconds."""
    return SECONDS_PER_DAY / interval * calls_per_look


def budget_share(
    interval: float, daily_allocation: int = DEFAULT_DAILY_ALLOCATION, calls_per_look: int = 1
) -> float:
    """The fraction of the daily allocation an idle signal spends at ``interval``."""
    return daily_calls(interval, calls_per_look) / daily_allocation


def shortest_idle_interval(share: float, daily_allocation: int = DEFAULT_DAILY_ALLOCATION) -> float:
    """The shortest idle interval that keeps one-call looks within ``share`` of the allocation."""
    return SECONDS_PER_DAY / (share * daily_allocation)
