"""Is a change signal about the version the engine already reconciled? Answered from the store.

Every reconcile commits the versions it read (or wrote) with the link: the referral's eTag and
the opportunity's ``SystemModstamp``. A sweep row carrying that same eTag, or a poll row carrying
that same stamp, is our own write (or a version already agreed) coming back: reconciling it would
read both sides in full only to plan nothing. These checks cost no remote call.

- **Referral** (sweep): the eTag is a version token, unique per write, so equality is exact.
- **Referral** (webhook): an event carries no eTag, only ``ResourceChangeUtcDate``, the time of
  the change in 100-nanosecond ticks. The link keeps the ``updatedDateTime`` Partner Center
  returned for the version it holds; an event naming that very tick is that write coming back
  (two writes of one referral do not share a tick). Where Partner Center's two times differ,
  no event matches and each is read as before; an event missed this way would still be found
  by the sweep, which compares eTags.
- **Opportunity** (poll), by values: the poll row carries the digest of the opportunity's own
  values (:mod:`cosell.sync.sides.salesforce.versions`); the digest the link was committed with
  is that very version, whatever the stamp (cosell's own write read back, or an edit of no
  read value). Any edit of a value the engine reads changes it, in the same second or not.
- **Opportunity** (poll), a version older than cosell's write: where a write's version is
  kept (a HubSpot deal's), the link also keeps the digest of the version the write was planned
  on. A row holding those values with a stamp before the write's is that version, shown late by
  an index that lags (or found by the poll after a webhook's reconcile answered it): nothing in
  it is new. A person setting a value back after cosell's write stamps it later, and is new.
- **Opportunity** (poll) with no link: a reconcile that refused it (Partner Center could not
  take it yet) kept the digest of the values it read (see
  :func:`cosell.sync.sides.crm_record.refused_cursor`); a row carrying that digest is the
  refused version again.
- **Opportunity** (poll), by stamp where the values differ or no digest is known:
  ``SystemModstamp`` has one-second precision, so an edit made in the same second as our read
  carries the same stamp. An equal stamp is exact only when the read
  that saw it was asked for ``settle`` after it (any later edit then has a later stamp): the
  link keeps when (``crm_read_at``; its commit time where not known, which may come long after
  the read: a reconcile can wait out a ``Retry-After`` between them); otherwise the feed
  enqueues the key once, due when the second has settled, instead of on every look.
"""

from __future__ import annotations

from collections.abc import Callable
from datetime import datetime, timedelta
from typing import TYPE_CHECKING, Protocol

from cosell.clients.referral import same_change
from cosell.signals.feed import Change, Synced, Verdict
from cosell.sync.sides.crm_record import refused_cursor, split_row_version

if TYPE_CHECKING:  # the store loads only where it runs
    from cosell.signals.related_rows import RelatedObject, RelatedRow
    from cosell.store.records import Link, TenantId


class LinkLookup(Protocol):
    """The part of the store the checks read."""

    def link_by_referral(self, tenant: TenantId, referral_id: str) -> Link | None: ...

    def link_by_opportunity(self, tenant: TenantId, opportunity_id: str) -> Link | None: ...

    def get_cursor(self, tenant: TenantId, name: str) -> str | None: ...


def referral_synced(links: LinkLookup, tenant: TenantId) -> Synced:
    """A sweep row whose eTag is the one stored with its link."""

    def synced(change: Change, settled: bool) -> Verdict:
        if not change.version:
            return "new"
        link = links.link_by_referral(tenant, change.id)
        return "synced" if link is not None and link.pc_etag == change.version else "new"

    return synced


def referral_event_synced(links: LinkLookup, tenant: TenantId) -> Callable[[str, str], bool]:
    """``synced(referral_id, change_time)``: a webhook naming the change time stored with the
    referral's link (``ResourceChangeUtcDate`` against ``updatedDateTime``, to the tick)."""

    def synced(referral_id: str, change_time: str) -> bool:
        link = links.link_by_referral(tenant, referral_id)
        return link is not None and same_change(change_time, link.pc_changed_at)

    return synced


def opportunity_synced(
    links: LinkLookup, tenant: TenantId, settle: timedelta = timedelta(seconds=10)
) -> Synced:
    """A poll row whose values' digest is the one stored with its link: ``synced``. Else one
    whose stamp is: ``synced`` when the committed read was asked for ``settle`` after the stamp
    (no edit can share it), else ``recheck`` while the second is unsettled and ``new`` once
    it is."""

    def synced(change: Change, settled: bool) -> Verdict:
        link = links.link_by_opportunity(tenant, change.id)
        if link is not None and link.crm_fingerprint and change.version:
            made, _, read = split_fingerprint(link.crm_fingerprint)
            if change.version == made:
                return "synced"
            stamp = _parsed(link.crm_modstamp) if link.crm_modstamp else None
            if change.version == read and stamp is not None and change.stamp < stamp:
                return "synced"  # the version cosell read before its write, seen late
        if link is None and change.version:
            # Refused before it had a link: the version the refusal read.
            refused = links.get_cursor(tenant, refused_cursor(change.id))
            return "synced" if refused == change.version else "new"
        if link is None or not link.crm_modstamp or _parsed(link.crm_modstamp) != change.stamp:
            return "new"
        if change.stamp <= (link.crm_read_at or link.updated_at) - settle:
            return "synced"
        return "new" if settled else "recheck"

    return synced


def split_fingerprint(kept: str) -> tuple[str, str, str]:
    """A link's ``crm_fingerprint``: the digest of the version cosell's last commit holds and,
    after a write, the digest of the version it read before writing (see
    :func:`cosell.sync.sides.crm_record.written_fingerprint`)."""
    return kept.partition(" ")


def related_synced(
    links: LinkLookup, tenant: TenantId, own_user: Callable[[], str | None]
) -> Callable[[RelatedObject, RelatedRow], bool]:
    """A related row version the last committed read of its opportunity saw: the values it
    read (their digest in the link's ``crm_rows``), whoever saved the row and whatever its
    stamp; where the link keeps no digest, the stamp it read, when cosell's own user wrote
    the row (see :mod:`cosell.signals.related_feed`)."""

    def known(watched: RelatedObject, row: RelatedRow) -> bool:
        link = links.link_by_opportunity(tenant, row.opportunity_id)
        kept = link.crm_rows.get(f"{watched.name}:{row.id}") if link is not None else None
        if kept is None:
            return False
        stamp, digest = split_row_version(kept)
        if digest is not None and row.digest is not None:
            return digest == row.digest and not row.deleted
        user = own_user()
        if not user or not row.by or row.by[:15] != user[:15]:
            return False
        return _parsed(stamp) == row.stamp

    return known


def _parsed(stamp: str) -> datetime | None:
    try:
        return datetime.fromisoformat(stamp)
    except ValueError:
        return None
