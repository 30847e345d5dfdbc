"""A queue stand-in that records what signals enqueue."""

from __future__ import annotations

from collections.abc import Sequence
from datetime import datetime

from cosell.store.records import SignalScope, TenantId


class RecordingQueue:
    """Keeps every enqueue in order; ``pending`` dedupes like the real queue."""

    def __init__(self) -> None:
        self.calls: list[tuple[TenantId, str]] = []
        self.due: list[datetime | None] = []
        self.scopes: list[SignalScope] = []
        self.change_times: list[str | None] = []
        self.writes = 0
        """``enqueue_many`` calls (one write each)."""

    def enqueue(
        self,
        tenant: TenantId,
        key: str,
        due_at: datetime | None = None,
        *,
        scope: SignalScope = "both",
        change_time: str | None = None,
    ) -> None:
        self.calls.append((tenant, key))
        self.due.append(due_at)
        self.scopes.append(scope)
        self.change_times.append(change_time)

    def enqueue_many(
        self,
        tenant: TenantId,
        keys: Sequence[str],
        due_at: datetime | None = None,
        *,
        scope: SignalScope = "both",
    ) -> None:
        self.writes += 1
        for key in keys:
            self.enqueue(tenant, key, due_at, scope=scope)

    @property
    def keys(self) -> list[str]:
        return [key for _, key in self.calls]
