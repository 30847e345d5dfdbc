"""One version of a deal told from another by its values.

The deal poll finds deals whose ``hs_lastmodifieddate`` moved, and cosell's own writes move it
too: a write-back of the referral id and status, the properties a create's second round sets.
Told by the stamp alone, each comes back as a change and costs a reconcile that reads the deal,
its company and contacts, and the referral, only to plan nothing. Told by the values, it does
not: the poll asks the search for the same properties the engine reads, and a deal holding the
values of the version the link was committed with is that version, whatever its stamp (see
:func:`cosell.signals.synced.opportunity_synced`). The link keeps a digest of them, not the
values.

Only the deal's own properties make its version: HubSpot does not move ``hs_lastmodifieddate``
when an association (its company, its contacts) changes, so the poll never saw those; the
app's ``deal.associationChange`` webhook and the drift check do. Nor does it move when the
deal's company or a contact is edited: the related-record poll finds those
(:mod:`cosell.signals.hubspot_related`), and tells each company and contact version by the
digest of the values the engine reads of it (:func:`related_digest`), kept with the link as
the Salesforce related rows' are.
"""

from __future__ import annotations

import hashlib
import json
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import Any

STAMP = "hs_lastmodifieddate"


@dataclass(frozen=True)
class DealVersion:
    """The deal properties that make a deal's version, and the digest of a deal's values."""

    properties: tuple[str, ...]

    @classmethod
    def of(cls, names: Sequence[str]) -> DealVersion:
        """The properties the engine reads, less the stamp (which every write moves)."""
        return cls(tuple(n for n in dict.fromkeys(names) if n != STAMP))

    def __call__(self, properties: Mapping[str, Any]) -> str:
        """The digest of a deal's property strings (as a read or a search returns them; an
        empty string and an absent value are the same: HubSpot's cleared value)."""
        values = [properties.get(name) or None for name in self.properties]
        text = json.dumps(values, separators=(",", ":"), default=str)
        return hashlib.blake2b(text.encode(), digest_size=16).hexdigest()


ACCOUNT = "account"
CONTACT = "contact"
"""The related-record signals, named as the Salesforce ones are (a link's ``crm_rows`` keys)."""


def related_digest(names: Sequence[str], properties: Mapping[str, Any]) -> str:
    """The digest of a company's or contact's values of ``names`` (property strings as a read
    or a search returns them; empty and absent alike)."""
    values = [properties.get(name) or None for name in names]
    text = json.dumps(values, separators=(",", ":"), default=str)
    return hashlib.blake2b(text.encode(), digest_size=8).hexdigest()
