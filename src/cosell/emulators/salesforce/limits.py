"""The daily API allowance: a rolling 24-hour count of calls, on the emulator's clock."""

from __future__ import annotations

import threading
from collections import deque
from datetime import datetime, timedelta
from typing import Any

from cosell.clock import Clock
from cosell.emulators.salesforce.wire import SalesforceError

WINDOW = timedelta(hours=24)


class UsageMeter:
    """Counts API calls in the last 24 hours against the org's daily maximum."""

    def __init__(self, maximum: int, clock: Clock) -> None:
        self.maximum = maximum
        self._clock = clock
        self._calls: deque[datetime] = deque()
        self._lock = threading.Lock()

    def used(self) -> int:
        cutoff = self._clock.now() - WINDOW
        with self._lock:
            while self._calls and self._calls[0] <= cutoff:
                self._calls.popleft()
            return len(self._calls)

    def spend(self) -> None:
        """Count one call, or raise ``REQUEST_LIMIT_EXCEEDED`` when the allowance is used up."""
        if self.used() >= self.maximum:
            raise exceeded()
        with self._lock:
            self._calls.append(self._clock.now())

    def header(self) -> str:
        return f"api-usage={self.used()}/{self.maximum}"

    def limits_body(self) -> dict[str, Any]:
        remaining = max(self.maximum - self.used(), 0)
        return {
            "DailyApiRequests": {"Max": self.maximum, "Remaining": remaining},
            "DailyBulkApiBatches": {"Max": 15000, "Remaining": 15000},
            "DataStorageMB": {"Max": 1024, "Remaining": 1024},
            "ConcurrentSyncReportRuns": {"Max": 20, "Remaining": 20},
        }


def exceeded() -> SalesforceError:
    return SalesforceError(403, "REQUEST_LIMIT_EXCEEDED", "TotalRequests Limit exceeded.", None)
