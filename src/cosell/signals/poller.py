"""The Salesforce poller: opportunities whose ``SystemModstamp`` moved are marked dirty.

``SystemModstamp`` (not ``LastModifiedDate``) moves on every change, including ones made by
automation, and is indexed. By default only opportunities that are flagged for sync or already
linked to a referral are read (``sync.poll_filter``): that keeps an org with many unrelated
opportunities from waking the engine on every edit, while a linked record whose flag was just
switched off is still seen. Set ``poll_filter = ""`` to poll every opportunity and let the engine
decide.

The poll also selects the opportunity's own values the engine reads (``version``, see
:mod:`cosell.sync.sides.salesforce.versions`): each row carries their digest, and a row whose
digest is the one committed with its link is the version cosell already holds, whatever its
stamp says. Cosell's own writes coming back, and the second they were made in, then cost no
read (see :func:`cosell.signals.synced.opportunity_synced`).
"""

from __future__ import annotations

from collections.abc import Callable, Iterable, Iterator, Mapping, Sequence
from datetime import UTC, datetime, timedelta
from typing import TYPE_CHECKING, Any, Protocol

from cosell.clients.salesforce_limits import Priority
from cosell.signals.feed import Change, ChangeFeed, FeedWiring, Synced

if TYPE_CHECKING:  # the store and queue load only where they run
    pass

CURSOR_NAME = "salesforce.opportunity.systemmodstamp"
KEY_PREFIX = "opportunity"


FRESH_LIMIT = 200
"""Opportunities a look reads in full at most: one page of rows with subqueries."""


class SoqlClient(Protocol):
    """The part of the Salesforce client the poller needs: every row of a query, page by page,
    or of several queries whose first pages come in one call."""

    def query(
        self, soql: str, *, priority: Priority | None = None
    ) -> Iterable[Mapping[str, Any]]: ...

    def query_together(
        self, reads: Sequence[tuple[str, str]], *, priority: Priority | None = None
    ) -> Sequence[Iterator[Mapping[str, Any]]]: ...

    def served_at(self) -> datetime | None: ...


class FullRead(Protocol):
    """How the engine reads an opportunity (``read_select``: its columns, parent fields and
    subqueries), and where a poll leaves the rows it read that way (``offer``, see
    :mod:`cosell.clients.fresh_rows`)."""

    @property
    def read_select(self) -> str: ...

    def offer(self, row: Mapping[str, Any], asked: datetime, served: datetime | None) -> None: ...


def soql_datetime(moment: datetime) -> str:
    """A SOQL dateTime literal in UTC, floored to the second (the overlap covers the rest)."""
    return moment.astimezone(UTC).strftime("%Y-%m-%dT%H:%M:%SZ")


class RowVersion(Protocol):
    """The opportunity columns that make a version, and the digest of a row of them."""

    @property
    def columns(self) -> tuple[str, ...]: ...

    def __call__(self, row: Mapping[str, Any]) -> str: ...


def changed_opportunities_soql(
    since: datetime | None, where: str = "", columns: Sequence[str] = ()
) -> str:
    """The poll query: ids, stamps and ``columns`` in (SystemModstamp, Id) order."""
    selected = ", ".join(dict.fromkeys(["Id", "SystemModstamp", *columns]))
    conditions = [f"({where})"] if where.strip() else []
    if since is not None:
        conditions.append(f"SystemModstamp >= {soql_datetime(since)}")
    clause = f" WHERE {' AND '.join(conditions)}" if conditions else ""
    # The filter is the operator's own configuration and the date is formatted here: no user input.
    return f"SELECT {selected} FROM Opportunity{clause} ORDER BY SystemModstamp, Id"  # noqa: S608


class OpportunityChanges:
    """A ``ChangeSource`` over a Salesforce client. Polling is background work: the client
    refuses it (``LimitReserveReached``) once the API budget reserve is reached, and the signal
    loop then waits at least an hour before it looks again."""

    def __init__(
        self,
        client: SoqlClient,
        where: str = "",
        version: Callable[[], RowVersion] | None = None,
        full_read: Callable[[], FullRead] | None = None,
        now: Callable[[], datetime] | None = None,
        overlap: timedelta = timedelta(0),
    ) -> None:
        self._client = client
        self._where = where
        self._ask_version = version
        self._version: RowVersion | None = None
        self._ask_full_read = full_read
        self._full_read: FullRead | None = None
        self._now = now or (lambda: datetime.now(UTC))
        self._overlap = overlap

    def __call__(self, since: datetime | None) -> Iterator[Change]:
        if self._version is None and self._ask_version is not None:
            self._version = self._ask_version()  # the org is described on the first look
        if self._full_read is None and self._ask_full_read is not None:
            self._full_read = self._ask_full_read()
        version = self._version
        columns = version.columns if version is not None else ()
        soql = changed_opportunities_soql(since, self._where, columns)
        watermark = since + self._overlap if since is not None else None
        for row in self._rows(soql, watermark):
            stamp = datetime.fromisoformat(str(row["SystemModstamp"]))
            yield Change(str(row["Id"]), stamp, version(row) if version is not None else None)

    def _rows(self, soql: str, watermark: datetime | None) -> Iterable[Mapping[str, Any]]:
        """The poll's rows. With a full read and a watermark (the newest stamp looks have
        seen), the opportunities changed since it are also read as the engine reads them, in
        the same call, and offered to the reconciles that follow."""
        full, newest = self._full_read, watermark
        if full is None or newest is None:
            return self._client.query(soql, priority="background")
        conditions = [f"({self._where})"] if self._where.strip() else []
        conditions.append(f"SystemModstamp >= {soql_datetime(newest)}")
        recent = (
            f"SELECT {full.read_select} FROM Opportunity WHERE {' AND '.join(conditions)} "  # noqa: S608
            f"ORDER BY SystemModstamp, Id LIMIT {FRESH_LIMIT}"
        )
        asked = self._now()
        polled, read = self._client.query_together(
            [("query", soql), ("query", recent)], priority="background"
        )
        served = self._client.served_at()
        for row in read:
            full.offer(row, asked, served)
        return polled


def opportunity_poller(
    client: SoqlClient,
    wiring: FeedWiring,
    *,
    where: str = "",
    synced: Synced | None = None,
    version: Callable[[], RowVersion] | None = None,
    full_read: Callable[[], FullRead] | None = None,
) -> ChangeFeed:
    """The feed that enqueues ``opportunity:<Id>`` for each changed opportunity (except
    ``synced`` ones, see :mod:`cosell.signals.synced`); ``version`` (asked at the first look,
    so the org is described only when first polled) names the values a row's version is told
    by; ``full_read``, how the engine reads one, so a look reads what changed since the last
    one that way for the reconciles it wakes."""
    return ChangeFeed(
        source=OpportunityChanges(
            client, where, version, full_read, wiring.clock.now, wiring.overlap
        ),
        wiring=wiring,
        cursor_name=CURSOR_NAME,
        key_prefix=KEY_PREFIX,
        synced=synced,
        scope="crm",
    )
