"""The expiry watch: linked referrals nearing their expiry are reconciled, so their records say so.

An incoming referral nobody accepts is closed as expired by Partner Center 14 days after it was
shared. In its last days its opportunity shows ``⚠ Expires in N days — accept or decline``,
written by a reconcile of the pair; but an unanswered referral is one nothing touches, so no
signal would bring that reconcile. The watch lists the incoming referrals not yet accepted
(one listing, paged) every ``sync.expiry_watch_interval`` and queues each linked one whose
warning is due or has changed (the day count moves), once per change: the warning appears on
the record within one interval of being due, and counts down a day at a time.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable
from typing import TYPE_CHECKING, Any, Protocol

from cosell.clock import Clock
from cosell.sync.core.lifecycle import expiry_notice

if TYPE_CHECKING:  # the store and queue load only where they run
    from cosell.queue.protocol import WorkQueue
    from cosell.store.records import TenantId

INCOMING_NEW = "direction eq 'Incoming' and status eq 'New'"
KEY_PREFIX = "referral"


class WireReferral(Protocol):
    """A listed referral: its id and its JSON body."""

    @property
    def id(self) -> str | None: ...

    def to_wire(self) -> dict[str, Any]: ...


class UnansweredLister(Protocol):
    """The part of the Partner Center client the watch needs."""

    def list_referrals(self, filter: str | None = None) -> Iterable[WireReferral]: ...


class ExpiryWatch:
    """Queues each linked, unanswered referral whose expiry warning is due or has changed."""

    def __init__(
        self,
        client: UnansweredLister,
        queue: WorkQueue,
        tenant: TenantId,
        linked: Callable[[str], bool],
        clock: Clock,
    ) -> None:
        self._client = client
        self._queue = queue
        self._tenant = tenant
        self._linked = linked
        self._clock = clock
        self._shown: dict[str, str] = {}
        """The warning each referral was queued for (one entry per referral still listed)."""

    def look(self) -> int:
        """List the unanswered referrals once; returns how many keys were queued."""
        now = self._clock.now()
        due: dict[str, str] = {}
        for referral in self._client.list_referrals(filter=INCOMING_NEW):
            warning = expiry_notice(referral.to_wire(), now)
            if referral.id and warning and self._linked(referral.id):
                due[referral.id] = warning
        changed = [i for i, warning in due.items() if self._shown.get(i) != warning]
        if changed:
            self._queue.enqueue_many(self._tenant, [f"{KEY_PREFIX}:{i}" for i in changed])
        self._shown = due
        return len(changed)
