"""Related-row feeds: a changed account, contact, contact role, solution or team row marks its
opportunity dirty.

The machinery is the opportunity feed's (see :mod:`cosell.signals.feed`): rows are read in
ascending stamp order from ``overlap`` before the stored watermark, and the ``(row, stamp)``
pairs already handled inside that window are remembered. What differs:

- **Rows are narrowed to the opportunities cosell cares about in the poll query itself**: the
  opportunity filter applies to an account's opportunities as it is, and to other rows through
  their opportunity (``OpportunityId IN (SELECT Id FROM Opportunity WHERE <filter>)``, a
  semi-join). A contact added to an opportunity nobody flagged costs nothing (it cost a query
  to find that out).
- **A version already reconciled is skipped** (``known``): each link stores, for the related
  rows its committed read saw (``crm_rows``), their stamps and the digest of the values the
  engine reads of each (see :class:`cosell.sync.sides.salesforce.versions.RelatedValues`;
  the poll selects the same values). A row holding those values is that version, whoever
  saved it and whatever its stamp: the account, contact and role a seller saved with the
  opportunity just before cosell read it, or an edit of a field nobody syncs; a row holding
  other values is not, even in the second read and through cosell's own user. A deleted row
  never is. Where a link keeps no digest (committed before digests were kept), a row whose
  stamp is the one read *and* whose last writer is cosell's own user is that version: a
  create's rows come back this way. Both are needed there, since stamps have one-second
  precision: a person editing the row in the same second leaves the stamp equal but is the
  row's last writer. (With cosell signed in as a user people also edit through, such a
  same-second edit is missed until the next edit or full pass: give cosell its own
  integration user.)
- **Each other row version is enqueued once, due when its second has settled.** A version
  is the row's stamp and the digest of the values the engine reads of it (and whether it is
  deleted). A row is enqueued when first seen, due ``settle`` after its stamp (at once when
  that has passed), so a burst of edits costs one reconcile, and one woken by the
  opportunity poll first plans on the row that poll read. A second edit in the same second
  that changes a value read is a version of its own, enqueued when the poll sees it. (A row
  was once known by its stamp alone, relying on that settled reconcile to read a later edit
  of its second; but the queue keeps the earlier of two due times, so where the key was
  already due, that reconcile ran early and nothing read the edit: an account's country
  fixed in the second cosell refused its opportunity stayed unsynced.) Our own writes of
  rows the last read did not see (an update's) cost one reconcile that writes nothing,
  however often the overlap re-reads them.

A feed's first look, with no cursor yet, only records the current time: the opportunity poll's
first look already reads every opportunity with its related rows.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable, Iterator, Sequence
from datetime import datetime
from itertools import islice
from typing import TYPE_CHECKING

from cosell.signals.feed import FeedWiring, Seen
from cosell.signals.poller import KEY_PREFIX
from cosell.signals.related_rows import (
    RelatedObject,
    RelatedRow,
    RelatedRows,
    RelatedSoqlClient,
)

if TYPE_CHECKING:  # the store and queue load only where they run
    pass

CURSOR_PREFIX = "salesforce.related."
BATCH = 200
"""Opportunity ids per resolving query (their ``IN`` list keeps the URL well under limits)."""

RowSource = Callable[[datetime], Iterable[RelatedRow]]
"""Yields rows with ``stamp >= since`` in ascending (stamp, id) order."""

Known = Callable[[RelatedObject, RelatedRow], bool]
"""True for a row version the last committed reconcile of its opportunity already read and
cosell wrote (see :func:`cosell.signals.synced.related_synced`)."""


Stale = Callable[[str, datetime], None]
"""Told, for each opportunity enqueued, that a row of it changed as seen by that time: a full
read of it made before may not show the change (see
:meth:`cosell.clients.fresh_rows.FreshRows.stale`)."""


def _unknown(_watched: RelatedObject, _row: RelatedRow) -> bool:
    return False


def _nothing(_opportunity_id: str, _seen_by: datetime) -> None:
    return None


class RelatedFeed:
    """Turns a ``RowSource`` into enqueued ``opportunity:<id>`` keys and an advancing cursor."""

    def __init__(
        self,
        *,
        source: RowSource,
        wiring: FeedWiring,
        cursor_name: str,
        batch: int = BATCH,
        watched: RelatedObject | None = None,
        known: Known = _unknown,
        stale: Stale = _nothing,
    ) -> None:
        self._source = source
        self._stale = stale
        self._watched = watched
        self._known = known
        self._queue = wiring.queue
        self._tenant = wiring.tenant
        self._watermark = wiring.watermark(cursor_name)
        self._overlap = wiring.overlap
        self._clock = wiring.clock
        self._settle = wiring.settle
        self._batch = batch
        self._seen: dict[tuple[str, str], Seen] = {}
        """Versions handled, by row and opportunity (a HubSpot company is a row of each of its
        deals)."""

    @property
    def watched(self) -> RelatedObject | None:
        return self._watched

    @property
    def cursor_name(self) -> str:
        return self._watermark.name

    @property
    def watermark(self) -> datetime | None:
        """The newest stamp seen so far (persisted), or ``None`` before the first look."""
        return self._watermark.get()

    def since(self) -> datetime | None:
        """Where the next look reads from, or None when it is the first (which reads nothing)."""
        start = self.watermark
        return None if start is None else start - self._overlap

    def look(self, read: Iterable[RelatedRow] | None = None) -> int:
        """Read one round of changed rows (``read``: the rows from ``since()``, already asked
        for together with other feeds'); returns how many opportunity keys were enqueued."""
        start = self.watermark
        if start is None:
            self._watermark.set(self._clock.now())
            return 0
        since = start - self._overlap
        newest, enqueued = start, 0
        try:
            source = self._source(since) if read is None else read
            for rows in _batches(source, self._batch):
                fresh = [
                    row
                    for row in rows
                    if row.opportunity_id and self._fresh(row) and not self._ours(row)
                ]
                enqueued += self._enqueue(fresh)
                newest = max(newest, *(row.stamp for row in rows))
        finally:
            if newest != start:
                self._watermark.set(newest)
            self._seen = {key: seen for key, seen in self._seen.items() if seen[0] >= since}
        return enqueued

    def _ours(self, row: RelatedRow) -> bool:
        return self._watched is not None and self._known(self._watched, row)

    def _fresh(self, row: RelatedRow) -> bool:
        version, key = (row.stamp, _told_by(row)), (row.id, row.opportunity_id)
        if self._seen.get(key) == version:
            return False
        self._seen[key] = version
        return True

    def _enqueue(self, rows: list[RelatedRow]) -> int:
        newest: dict[str, datetime] = {}
        for row in rows:
            newest[row.opportunity_id] = max(row.stamp, newest.get(row.opportunity_id, row.stamp))
        now = self._clock.now()
        for opportunity_id in newest:
            self._stale(opportunity_id, now)  # a full read of it from before may miss the row
            settled_at = newest[opportunity_id] + self._settle
            due = settled_at if settled_at > now else None
            key = f"{KEY_PREFIX}:{opportunity_id}"
            self._queue.enqueue(self._tenant, key, due_at=due, scope="crm")
        return len(newest)


FeedFactory = Callable[[RelatedObject], RelatedFeed]


Together = Callable[[Sequence[tuple[RelatedObject, datetime]]], Sequence[Iterable[RelatedRow]]]
"""Reads several objects' changed rows (each from its own ``since``) in as few calls as the API
allows; the rows of each, in order."""


class RelatedPoll:
    """The feeds of every watched related object, looked at together as one signal.

    What to watch is asked once, at the first look (it describes the org, so a failure is
    retried by the signal loop like any failed look). With ``together``, the feeds' first
    pages are read in one request (a composite of their queries), so an idle look costs one
    call, not one per object."""

    def __init__(
        self,
        watched: Callable[[], Sequence[RelatedObject]],
        feed: FeedFactory,
        together: Together | None = None,
    ) -> None:
        self._watched = watched
        self._feed = feed
        self._together = together
        self.feeds: list[RelatedFeed] | None = None

    def look(self) -> int:
        if self.feeds is None:
            self.feeds = [self._feed(watched) for watched in self._watched()]
        asked = [
            (feed, feed.watched, since)
            for feed in self.feeds
            if feed.watched is not None and (since := feed.since()) is not None
        ]
        if self._together is None or len(asked) < 2:
            return sum(feed.look() for feed in self.feeds)
        read = self._together([(watched, since) for _, watched, since in asked])
        rows = {id(feed): found for (feed, _, _), found in zip(asked, read, strict=True)}
        return sum(feed.look(rows.get(id(feed))) for feed in self.feeds)


def related_poller(
    client: RelatedSoqlClient,
    watched: Callable[[], Sequence[RelatedObject]],
    wiring: FeedWiring,
    *,
    where: str = "",
    known: Known = _unknown,
    stale: Stale = _nothing,
) -> RelatedPoll:
    """One signal over the related objects ``watched()`` names (see
    :func:`cosell.signals.related_rows.watched_objects`)."""

    def together(reading: Sequence[tuple[RelatedObject, datetime]]) -> list[Iterator[RelatedRow]]:
        sources = [RelatedRows(client, related, where) for related, _ in reading]
        reads = [source.read(since) for source, (_, since) in zip(sources, reading, strict=True)]
        found = client.query_together(reads, priority="background")
        return [source.parse(rows) for source, rows in zip(sources, found, strict=True)]

    def feed(related: RelatedObject) -> RelatedFeed:
        return RelatedFeed(
            source=RelatedRows(client, related, where),
            wiring=wiring,
            cursor_name=f"{CURSOR_PREFIX}{related.name}.systemmodstamp",
            watched=related,
            known=known,
            stale=stale,
        )

    return RelatedPoll(watched, feed, together)


def _told_by(row: RelatedRow) -> str | None:
    """What tells this version of the row from another in the same second: its values'
    digest, and whether it is deleted (``None`` where no values are read: its stamp alone)."""
    if row.digest is None:
        return None
    return f"{row.digest}{' deleted' if row.deleted else ''}"


def _batches(rows: Iterable[RelatedRow], size: int) -> Iterator[list[RelatedRow]]:
    iterator = iter(rows)
    while batch := list(islice(iterator, size)):
        yield batch
