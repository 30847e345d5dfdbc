"""Change signals: the Salesforce polls and the Partner Center sweeper only mark keys dirty."""

from cosell.signals.cadence import Cadence
from cosell.signals.feed import Change, ChangeFeed, FeedWiring
from cosell.signals.loop import LookReport, SignalLoop
from cosell.signals.poller import opportunity_poller
from cosell.signals.related_feed import RelatedFeed, RelatedPoll, related_poller
from cosell.signals.related_rows import RelatedObject, watched_objects
from cosell.signals.sweeper import referral_sweeper

__all__ = [
    "Cadence",
    "Change",
    "ChangeFeed",
    "FeedWiring",
    "LookReport",
    "RelatedFeed",
    "RelatedObject",
    "RelatedPoll",
    "SignalLoop",
    "opportunity_poller",
    "referral_sweeper",
    "related_poller",
    "watched_objects",
]
