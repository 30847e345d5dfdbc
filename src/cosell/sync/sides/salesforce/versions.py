"""One version of an opportunity's own fields told from another by their values.

``SystemModstamp`` has one-second precision and a write does not return it, so the stamp alone
cannot say whether a polled opportunity is the version cosell last read or an edit made since
in the same second. Its values can: the poll selects the same opportunity columns the engine
reads (``AccountId`` and the fitted mapping's fields, cosell's own included), and a row whose
values are those of the read the link was committed with is that version, whatever its stamp
(see :func:`cosell.signals.synced.opportunity_synced`). The link keeps a digest of them, not the
values. Related rows (account, contacts, solutions, team) are the related-row poll's: their
changes do not move these values.
"""

from __future__ import annotations

import hashlib
import json
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

from cosell.sync.sides.salesforce.schema import CrmSchema


@dataclass(frozen=True)
class OpportunityVersion:
    """The columns that make an opportunity's own version, and the digest of a row of them."""

    columns: tuple[str, ...]

    @classmethod
    def of(cls, schema: CrmSchema) -> OpportunityVersion:
        return cls(tuple(dict.fromkeys(["AccountId", *schema.read_fields])))

    def __call__(self, row: Mapping[str, Any]) -> str:
        """The digest of ``row``'s values of :attr:`columns` (as a query returns them)."""
        values = [row.get(column) for column in self.columns]
        text = json.dumps(values, separators=(",", ":"), sort_keys=True, default=str)
        return hashlib.blake2b(text.encode(), digest_size=16).hexdigest()
