"""A change feed: read what changed since the watermark (minus an overlap), mark it dirty.

Rows are read in ascending stamp order starting ``overlap`` before the stored watermark, because
a remote transaction can commit late with an earlier stamp. The overlap re-reads recent rows;
the feed remembers the versions it already enqueued inside that window (``(id, stamp)``, and the
version token where the source has one), so a row is enqueued again only when its stamp or its
values move. Duplicates would be harmless anyway: the queue dedupes and the engine is
level-triggered.

Stamps have one-second precision, so a second edit in the same second as the first carries the
same stamp. A pair is therefore remembered only once its stamp is ``settle`` older than our
clock: until then the row is enqueued on every look, and an edit made in the same second as our
own write-back is never lost. A version token tells such an edit even from a remembered
version: a row re-checked later is looked at again at once when its values have moved.

A row the engine already reconciled at this very version (``synced``, checked against the
store's link: no remote call) is not enqueued, so our own writes coming back cost nothing. In an
unsettled second a later edit may share the stamp: such a row is enqueued once, due when its
second has settled (one reconcile instead of one per look).
"""

from __future__ import annotations

from collections.abc import Callable, Iterable
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from typing import TYPE_CHECKING, Literal, Protocol

from cosell.clock import Clock, SystemClock

if TYPE_CHECKING:  # the store and queue load only where they run
    from cosell.queue.protocol import WorkQueue
    from cosell.store.records import SignalScope, TenantId


@dataclass(frozen=True)
class Change:
    """One remote record and the stamp of its latest change."""

    id: str
    stamp: datetime
    version: str | None = None
    """The record's version token when the source has one (a referral's eTag, the digest of an
    opportunity's values)."""


class CursorStore(Protocol):
    """Where a feed keeps its watermark between runs."""

    def get_cursor(self, tenant: TenantId, name: str) -> str | None: ...

    def set_cursor(self, tenant: TenantId, name: str, value: str) -> None: ...


@dataclass(frozen=True)
class Watermark:
    """A feed's newest stamp seen, kept as a store cursor between runs."""

    cursors: CursorStore
    tenant: TenantId
    name: str

    def get(self) -> datetime | None:
        value = self.cursors.get_cursor(self.tenant, self.name)
        return datetime.fromisoformat(value) if value else None

    def set(self, stamp: datetime) -> None:
        self.cursors.set_cursor(self.tenant, self.name, stamp.isoformat())


@dataclass(frozen=True)
class FeedWiring:
    """What every feed is wired to: the queue it marks keys on, where it keeps its watermark,
    for which tenant, how far before the watermark it re-reads (``overlap``), its clock, and how
    long a one-second stamp takes to settle (``settle``, see above)."""

    queue: WorkQueue
    cursors: CursorStore
    tenant: TenantId
    overlap: timedelta
    clock: Clock = field(default_factory=SystemClock)
    settle: timedelta = timedelta(seconds=10)

    def watermark(self, cursor_name: str) -> Watermark:
        return Watermark(self.cursors, self.tenant, cursor_name)


ChangeSource = Callable[[datetime | None], Iterable[Change]]
"""Yields changes with ``stamp >= since`` in ascending (stamp, id) order; ``None``: everything."""

Verdict = Literal["new", "synced", "recheck"]
"""``synced``: the very version the engine last reconciled, nothing to do; ``recheck``: the same
stamp, but in a second an edit may still share, so look once more when it settles."""

Synced = Callable[[Change, bool], Verdict]
"""``synced(change, settled)``: how a change relates to what the engine last reconciled (see
:mod:`cosell.signals.synced`)."""


Seen = tuple[datetime, str | None]
"""A version a feed has handled: its stamp and, where the source tells one, its version token
(a referral's eTag, the digest of an opportunity's values). Two edits in one second share the
stamp; their values tell them apart."""


@dataclass
class _Round:
    """What one look found: keys due now, keys to re-check at a time, and versions seen."""

    now: dict[str, None] = field(default_factory=dict)
    later: dict[str, datetime] = field(default_factory=dict)
    seen: dict[str, Seen] = field(default_factory=dict)


class ChangeFeed:
    """Turns a ``ChangeSource`` into enqueued keys ``<prefix>:<id>`` and an advancing cursor."""

    def __init__(
        self,
        *,
        source: ChangeSource,
        wiring: FeedWiring,
        cursor_name: str,
        key_prefix: str,
        synced: Synced | None = None,
        scope: SignalScope = "both",
    ) -> None:
        self._source = source
        self._scope = scope
        self._queue = wiring.queue
        self._tenant = wiring.tenant
        self._watermark = wiring.watermark(cursor_name)
        self._prefix = key_prefix
        self._overlap = wiring.overlap
        self._seen: dict[str, Seen] = {}
        self._clock = wiring.clock
        self._settle = wiring.settle
        self._synced = synced

    @property
    def watermark(self) -> datetime | None:
        """The newest stamp seen so far (persisted), or ``None`` before the first run."""
        return self._watermark.get()

    def look(self) -> int:
        """Read one round of changes; returns how many keys were enqueued.

        The keys of a round are enqueued together, in one write, before the watermark moves
        past them and before they count as seen: a look that fails to enqueue them leaves both
        where they were, so the next look reads them again."""
        start = self.watermark
        since = start - self._overlap if start is not None else None
        newest = start
        round_ = _Round()
        try:
            for change in self._source(since):
                self._mark(change, round_)
                newest = change.stamp if newest is None else max(newest, change.stamp)
        finally:
            self._enqueue(round_)
            self._seen.update(round_.seen)
            self._advance(start, newest)
            self._forget_before(since)
        return len(round_.now)

    def _mark(self, change: Change, round_: _Round) -> None:
        version = (change.stamp, change.version)
        if round_.seen.get(change.id, self._seen.get(change.id)) == version:
            return
        settled = change.stamp <= self._clock.now() - self._settle
        if settled:
            round_.seen[change.id] = version
        verdict = self._synced(change, settled) if self._synced is not None else "new"
        key = f"{self._prefix}:{change.id}"
        if verdict == "recheck":
            round_.later[key] = change.stamp + self._settle
            round_.seen[change.id] = version
        if verdict == "new":
            round_.now[key] = None

    def _enqueue(self, round_: _Round) -> None:
        if round_.now:
            self._queue.enqueue_many(self._tenant, list(round_.now), scope=self._scope)
        for key, due in round_.later.items():
            if key not in round_.now:
                self._queue.enqueue(self._tenant, key, due_at=due, scope=self._scope)

    def _advance(self, start: datetime | None, newest: datetime | None) -> None:
        if newest is not None and newest != start:
            self._watermark.set(newest)

    def _forget_before(self, since: datetime | None) -> None:
        if since is None:
            return
        self._seen = {key: seen for key, seen in self._seen.items() if seen[0] >= since}
