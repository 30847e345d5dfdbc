"""HubSpot change signals: the deal poll over the search API.

Deals whose ``hs_lastmodifieddate`` moved are marked dirty as ``opportunity:<deal id>``, through
the same :class:`~cosell.signals.feed.ChangeFeed` as the Salesforce poll: a stored watermark,
an overlap window re-read on every look (HubSpot's search index is eventually consistent, so a
change can surface with a stamp older than ones already seen), the ``(id, stamp)`` pairs
already enqueued remembered inside it, and our own write-backs recognised from the link's stored
stamp. Webhook deliveries are the other signal (:mod:`cosell.web.hubspot_receiver`).
"""

from __future__ import annotations

from collections.abc import Iterator
from datetime import datetime
from typing import TYPE_CHECKING

from cosell.clients.hubspot import HubSpotClient
from cosell.signals.feed import Change, ChangeFeed, FeedWiring, Synced
from cosell.sync.sides.hubspot.changes import changed_since

if TYPE_CHECKING:
    pass

CURSOR_NAME = "hubspot.deal.hs_lastmodifieddate"
KEY_PREFIX = "opportunity"


class DealChanges:
    """A ``ChangeSource`` over a HubSpot client."""

    def __init__(self, client: HubSpotClient) -> None:
        self._client = client

    def __call__(self, since: datetime | None) -> Iterator[Change]:
        for deal_id, stamp in changed_since(self._client, since):
            yield Change(deal_id, stamp)


def deal_poller(
    client: HubSpotClient,
    wiring: FeedWiring,
    *,
    synced: Synced | None = None,
) -> ChangeFeed:
    """The feed that enqueues ``opportunity:<deal id>`` for each changed deal."""
    return ChangeFeed(
        source=DealChanges(client),
        wiring=wiring,
        cursor_name=CURSOR_NAME,
        key_prefix=KEY_PREFIX,
        synced=synced,
    )
