"""Is a change signal about the version the engine already reconciled? Answered from the store.

Every reconcile commits the versions it read (or wrote) with the link: the referral's eTag and
the opportunity's ``SystemModstamp``. A sweep row carrying that same eTag, or a poll row carrying
that same stamp, is our own write (or a version already agreed) coming back: reconciling it would
read both sides in full only to plan nothing. These checks cost no remote call.

- **Referral** (sweep): the eTag is a version token, unique per write, so equality is exact.
- **Opportunity** (poll): ``SystemModstamp`` has one-second precision, so an edit made in the
  same second as our read carries the same stamp. While that second is unsettled an equal stamp
  skips the row; the feed's look after it settles enqueues it once more unless the link was
  committed ``settle`` after the stamp (then any later edit has a later stamp).
"""

from __future__ import annotations

from datetime import datetime, timedelta
from typing import TYPE_CHECKING, Protocol

from cosell.signals.feed import Change, Synced

if TYPE_CHECKING:  # the store loads only where it runs
    from cosell.store.records import Link, TenantId


class LinkLookup(Protocol):
    """The part of the store the checks read."""

    def link_by_referral(self, tenant: TenantId, referral_id: str) -> Link | None: ...

    def link_by_opportunity(self, tenant: TenantId, opportunity_id: str) -> Link | None: ...


def referral_synced(links: LinkLookup, tenant: TenantId) -> Synced:
    """A sweep row whose eTag is the one stored with its link."""

    def synced(change: Change, settled: bool) -> bool:
        if not change.version:
            return False
        link = links.link_by_referral(tenant, change.id)
        return link is not None and link.pc_etag == change.version

    return synced


def opportunity_synced(
    links: LinkLookup, tenant: TenantId, settle: timedelta = timedelta(seconds=10)
) -> Synced:
    """A poll row whose stamp is the one stored with its link. While the stamp's second is not
    settled, an equal stamp is enough (the feed looks again once it is); once settled, the link
    must also have been committed ``settle`` after the stamp, so no edit can share it."""

    def synced(change: Change, settled: bool) -> bool:
        link = links.link_by_opportunity(tenant, change.id)
        if link is None or not link.crm_modstamp or _parsed(link.crm_modstamp) != change.stamp:
            return False
        return not settled or change.stamp <= link.updated_at - settle

    return synced


def _parsed(stamp: str) -> datetime | None:
    try:
        return datetime.fromisoformat(stamp)
    except ValueError:
        return None
