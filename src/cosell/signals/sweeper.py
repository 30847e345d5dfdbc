"""The Partner Center sweeper: referrals whose ``updatedDateTime`` moved are marked dirty.

Webhooks buy latency; the sweep buys correctness. It runs every ``sync.sweep_interval``
(5 minutes by default) and whenever a webhook hints that something changed that cannot be tied to
one of our referrals. The first sweep, with no cursor yet, reads every referral. A sweep lists
only each referral's id, ``updatedDateTime`` and ``eTag`` (``$select``): about an eighteenth of
the bytes of whole referrals.
"""

from __future__ import annotations

from collections.abc import Iterable, Iterator
from datetime import datetime
from typing import TYPE_CHECKING, Protocol

import structlog

from cosell.signals.feed import Change, ChangeFeed, FeedWiring, Synced

if TYPE_CHECKING:  # the store and queue load only where they run
    pass

CURSOR_NAME = "partner_center.referral.updated"
KEY_PREFIX = "referral"

log = structlog.get_logger(__name__)


class ReferralStamp(Protocol):
    """What the sweep reads of a referral."""

    @property
    def id(self) -> str | None: ...

    @property
    def updated_date_time(self) -> datetime | None: ...

    @property
    def e_tag(self) -> str | None: ...


class ReferralLister(Protocol):
    """The part of the Partner Center client the sweeper needs: the stamps of the referrals
    changed at or after a moment (``$select``-ed to id, updatedDateTime and eTag), oldest first."""

    def changed_since(self, since: datetime | None) -> Iterable[ReferralStamp]: ...


class ReferralChanges:
    """A ``ChangeSource`` over a Partner Center client."""

    def __init__(self, client: ReferralLister) -> None:
        self._client = client

    def __call__(self, since: datetime | None) -> Iterator[Change]:
        rows = self._client.changed_since(since)
        for referral in rows:
            if referral.id and referral.updated_date_time:
                yield Change(referral.id, referral.updated_date_time, referral.e_tag)
            else:
                log.warning("sweep.referral_without_stamp", referral_id=referral.id)


def referral_sweeper(
    client: ReferralLister,
    wiring: FeedWiring,
    *,
    synced: Synced | None = None,
) -> ChangeFeed:
    """The feed that enqueues ``referral:<id>`` for each changed referral (except ``synced``
    ones, see :mod:`cosell.signals.synced`)."""
    return ChangeFeed(
        source=ReferralChanges(client),
        wiring=wiring,
        cursor_name=CURSOR_NAME,
        key_prefix=KEY_PREFIX,
        synced=synced,
        scope="partner_center",
    )
