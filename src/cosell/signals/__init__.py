"""Change signals: the Salesforce poller and the Partner Center sweeper only mark keys dirty."""

from cosell.signals.cadence import Cadence
from cosell.signals.feed import Change, ChangeFeed
from cosell.signals.loop import LookReport, SignalLoop
from cosell.signals.poller import opportunity_poller
from cosell.signals.sweeper import referral_sweeper

__all__ = [
    "Cadence",
    "Change",
    "ChangeFeed",
    "LookReport",
    "SignalLoop",
    "opportunity_poller",
    "referral_sweeper",
]
