"""HubSpot's related-record poll: an edited company or contact marks its deals dirty.

A seller who fixes a company's country, renames it, or edits a contact's email does not move
the deal's ``hs_lastmodifieddate``, and HubSpot's webhooks for the deal (``deal.*``) say nothing
of it either. Told by the deal poll alone, such an edit waited for the next edit of the deal, or
for the drift check, which compares linked pairs a few at a time and never a deal that is not
linked yet: a country fixed on the company of a deal cosell refused for want of one stayed
unsynced. This poll is the Salesforce related-row poll's counterpart
(:mod:`cosell.signals.related_feed`, whose machinery it runs on):

- Each watched object (companies when the mapping reads company properties, contacts when it
  syncs contacts) is searched on ``hs_lastmodifieddate`` from its watermark minus the overlap,
  with the properties the engine reads (one search a look while idle).
- The changed records are resolved to their deals in one v4 associations batch read (1,000 a
  call), and kept only for the deals cosell cares about: linked in the store, or else flagged
  or holding a referral id (one batch read of those deals, 100 a call). A contact on a deal
  nobody flagged costs nothing more.
- A version is known by its values: the link keeps the digest of the company's and each
  contact's values as its committed read saw them (``crm_rows``, see
  :meth:`cosell.sync.sides.hubspot.side.HubSpotSide.read`), the poll computes the same, and a
  record holding them is that version (cosell's own create, a seller's edit of a property
  nobody syncs). Another version is enqueued once, at once: a version is taken only once it
  has settled (see :class:`RelatedRecords`).

A record's removal from a deal is an association change: the app's ``deal.associationChange``
webhook and the drift check see it, not this poll.
"""

from __future__ import annotations

from collections.abc import Callable, Iterator, Sequence
from datetime import datetime, timedelta

from cosell.clients.hubspot import HubSpotClient
from cosell.clock import Clock
from cosell.signals.feed import FeedWiring
from cosell.signals.related_feed import Known, RelatedFeed, RelatedPoll
from cosell.signals.related_rows import RelatedObject, RelatedRow
from cosell.sync.sides.hubspot.changes import changed_rows
from cosell.sync.sides.hubspot.versions import ACCOUNT, CONTACT, STAMP, related_digest

CURSOR_PREFIX = "hubspot.related."


def watched_records(company_properties: Sequence[str], syncs_contacts: bool) -> list[RelatedObject]:
    """The related objects a mapping reads: companies (with the properties read), contacts."""
    from cosell.sync.sides.hubspot.related import CONTACT_NAMES

    watched = []
    if company_properties:
        watched.append(_object(ACCOUNT, "companies", tuple(company_properties)))
    if syncs_contacts:
        watched.append(_object(CONTACT, "contacts", CONTACT_NAMES))
    return watched


def _object(name: str, object_type: str, values: tuple[str, ...]) -> RelatedObject:
    return RelatedObject(name, object_type, STAMP, "deals", by="", values=values)


class Cared:
    """Which deals cosell cares about: linked in the store (no call), else flagged or holding a
    referral id (a batch read of the rest, 100 a call)."""

    def __init__(
        self,
        client: HubSpotClient,
        linked: Callable[[str], bool],
        flag_property: str,
        referral_property: str,
    ) -> None:
        self._client = client
        self._linked = linked
        self._flag = flag_property
        self._referral = referral_property

    def __call__(self, deal_ids: Sequence[str]) -> set[str]:
        cared = {deal for deal in deal_ids if self._linked(deal)}
        rest = [deal for deal in dict.fromkeys(deal_ids) if deal not in cared]
        if rest:
            found = self._client.batch_read("deals", rest, [self._flag, self._referral])
            for deal in found.results:
                props = deal.get("properties") or {}
                if props.get(self._flag) == "true" or props.get(self._referral):
                    cared.add(str(deal["id"]))
        return cared


class RelatedRecords:
    """The changed records of one watched object as related rows, one per deal cosell cares
    about that it is on (a record on none: one row of no deal, which moves the watermark).

    - **A version is taken once it has settled** (its stamp ``settle`` old), and until then
      left for a later look (``pending``; the watermark does not pass it, so the overlap
      reads it again). A record cosell itself just made or wrote is then known by the link
      its reconcile has committed meanwhile, instead of costing a reconcile of its own, and
      its deals are not resolved for nothing. (Taken at once, a shared referral's new deal,
      company and contact cost 3.5 more HubSpot calls and one more Partner Center call a
      record.)
    - **A version already resolved to its deals is not resolved again**: the overlap re-reads
      recent records on every look, which would cost two calls a look for as long as an edit
      stays in the window. A deal flagged or linked after its company's version was resolved
      is read with that company by its own reconcile."""

    def __init__(
        self,
        client: HubSpotClient,
        watched: RelatedObject,
        cared: Callable[[Sequence[str]], set[str]],
        clock: Clock,
        settle: timedelta,
    ) -> None:
        self._client = client
        self.watched = watched
        self._cared = cared
        self._clock = clock
        self._settle = settle
        self._resolved: dict[str, tuple[datetime, str, list[str]]] = {}
        """Record id -> the version last resolved (stamp, digest) and its cared deals."""
        self.settles_at: datetime | None = None
        """When the first version the last look left waiting has settled (``None``: none)."""

    def __call__(self, since: datetime) -> Iterator[RelatedRow]:
        watched, settled = self.watched, self._clock.now() - self._settle
        changed = [
            (record_id, stamp, related_digest(watched.values, properties))
            for record_id, stamp, properties in changed_rows(
                self._client, since, watched.sobject, watched.values
            )
        ]
        ready = [c for c in changed if c[1] <= settled]  # a prefix: rows come in stamp order
        waiting = changed[len(ready) :]
        self.settles_at = waiting[0][1] + self._settle if waiting else None
        self._resolve([c for c in ready if self._resolved.get(c[0], (None, None))[:2] != c[1:]])
        self._resolved = {k: v for k, v in self._resolved.items() if v[0] >= since}
        for record_id, stamp, digest in ready:
            deals = self._resolved.get(record_id, (stamp, digest, []))[2]
            for deal in deals or [""]:
                yield RelatedRow(record_id, stamp, deal, None, digest)

    def _resolve(self, changed: Sequence[tuple[str, datetime, str]]) -> None:
        if not changed:
            return
        ids = [record_id for record_id, _, _ in changed]
        deals = self._client.batch_associations(self.watched.sobject, "deals", ids)
        cared = self._cared([deal for linked in deals.values() for deal in linked])
        for record_id, stamp, digest in changed:
            kept = [deal for deal in deals.get(record_id, []) if deal in cared]
            self._resolved[record_id] = (stamp, digest, kept)


class RecordsPoll(RelatedPoll):
    """The feeds of the watched records; :meth:`due_in` tells the signal loop when the first
    version left waiting will have settled, so it looks then rather than at its idle pace."""

    def __init__(
        self,
        watched: Callable[[], Sequence[RelatedObject]],
        feed: Callable[[RelatedObject], RelatedFeed],
        sources: list[RelatedRecords],
        clock: Clock,
    ) -> None:
        super().__init__(watched, feed)
        self._sources = sources
        self._clock = clock

    def due_in(self) -> float | None:
        """Seconds until the first waiting version has settled, or ``None`` when none waits."""
        waiting = [s.settles_at for s in self._sources if s.settles_at is not None]
        if not waiting:
            return None
        return max(0.0, (min(waiting) - self._clock.now()).total_seconds())


def hubspot_related_poller(
    client: HubSpotClient,
    watched: Callable[[], Sequence[RelatedObject]],
    wiring: FeedWiring,
    cared: Callable[[Sequence[str]], set[str]],
    *,
    known: Known,
) -> RecordsPoll:
    """One signal over the companies and contacts ``watched()`` names (asked at the first look,
    so the portal is described only when first polled)."""
    sources: list[RelatedRecords] = []

    def feed(related: RelatedObject) -> RelatedFeed:
        source = RelatedRecords(client, related, cared, wiring.clock, wiring.settle)
        sources.append(source)
        return RelatedFeed(
            source=source,
            wiring=wiring,
            cursor_name=f"{CURSOR_PREFIX}{related.name}.{STAMP}",
            watched=related,
            known=known,
        )

    return RecordsPoll(watched, feed, sources, wiring.clock)
