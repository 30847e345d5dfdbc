"""What the signal sources (webhooks, pollers, sweeps, ``cosell retry``) need from a queue."""

from __future__ import annotations

from collections.abc import Sequence
from datetime import datetime
from typing import Literal, Protocol

from cosell.store.records import SignalScope, TenantId

KeyKind = Literal["referral", "opportunity"]


class WorkQueue(Protocol):
    """Mark a key dirty; a worker reconciles it once, however often it was marked. ``scope``
    names the side whose signal it is (see :data:`~cosell.store.records.SignalScope`);
    ``change_time`` the change a Partner Center webhook named (see
    :attr:`~cosell.store.records.Job.change_time`)."""

    def enqueue(
        self,
        tenant: TenantId,
        key: str,
        due_at: datetime | None = None,
        *,
        scope: SignalScope = "both",
        change_time: str | None = None,
    ) -> None: ...

    def enqueue_many(
        self,
        tenant: TenantId,
        keys: Sequence[str],
        due_at: datetime | None = None,
        *,
        scope: SignalScope = "both",
    ) -> None:
        """``enqueue`` each key, in one write where the queue can."""
        ...


def queue_key(kind: KeyKind, record_id: str) -> str:
    """The queue key for a record: ``referral:<id>`` or ``opportunity:<id>``."""
    return f"{kind}:{record_id}"


def parse_key(key: str) -> tuple[KeyKind, str]:
    """The kind and id of a queue key; ``ValueError`` for anything else."""
    kind, sep, record_id = key.partition(":")
    if not sep or not record_id or kind not in ("referral", "opportunity"):
        raise ValueError(f"not a queue key: {key!r}")
    return ("referral" if kind == "referral" else "opportunity"), record_id
