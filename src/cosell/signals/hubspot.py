"""HubSpot change signals: the deal poll over the search API.

Deals whose ``hs_lastmodifieddate`` moved are marked dirty as ``opportunity:<deal id>``, through
the same :class:`~cosell.signals.feed.ChangeFeed` as the Salesforce poll: a stored watermark,
an overlap window re-read on every look (HubSpot's search index is eventually consistent, so a
change can surface with a stamp older than ones already seen), the ``(id, stamp)`` pairs
already enqueued remembered inside it, and cosell's own writes recognised by the digest of the
deal's values stored with the link (or its stamp). Webhook deliveries are the other signal
(:mod:`cosell.web.hubspot_receiver`).
"""

from __future__ import annotations

from collections.abc import Callable, Iterator
from datetime import datetime

from cosell.clients.hubspot import HubSpotClient
from cosell.signals.feed import Change, ChangeFeed, FeedWiring, Synced
from cosell.sync.sides.hubspot.changes import changed_rows
from cosell.sync.sides.hubspot.versions import DealVersion

CURSOR_NAME = "hubspot.deal.hs_lastmodifieddate"
KEY_PREFIX = "opportunity"


class DealChanges:
    """A ``ChangeSource`` over a HubSpot client. With ``version`` (asked at the first look, so
    the portal is described only when first polled), each change carries the digest of the
    deal's values the engine reads: the search asks for them (see
    :mod:`cosell.sync.sides.hubspot.versions`)."""

    def __init__(
        self, client: HubSpotClient, version: Callable[[], DealVersion] | None = None
    ) -> None:
        self._client = client
        self._ask_version = version
        self._version: DealVersion | None = None

    def __call__(self, since: datetime | None) -> Iterator[Change]:
        if self._version is None and self._ask_version is not None:
            self._version = self._ask_version()
        version = self._version
        names = version.properties if version is not None else ()
        for deal_id, stamp, properties in changed_rows(self._client, since, "deals", names):
            yield Change(deal_id, stamp, version(properties) if version is not None else None)


def deal_poller(
    client: HubSpotClient,
    wiring: FeedWiring,
    *,
    synced: Synced | None = None,
    version: Callable[[], DealVersion] | None = None,
) -> ChangeFeed:
    """The feed that enqueues ``opportunity:<deal id>`` for each changed deal (except
    ``synced`` ones, see :mod:`cosell.signals.synced`; ``version`` names the values a deal's
    version is told by)."""
    return ChangeFeed(
        source=DealChanges(client, version),
        wiring=wiring,
        cursor_name=CURSOR_NAME,
        key_prefix=KEY_PREFIX,
        synced=synced,
    )
