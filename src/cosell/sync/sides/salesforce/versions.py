"""One version of an opportunity's own fields told from another by their values.

``SystemModstamp`` has one-second precision and a write does not return it, so the stamp alone
cannot say whether a polled opportunity is the version cosell last read or an edit made since
in the same second. Its values can: the poll selects the same opportunity columns the engine
reads (``AccountId`` and the fitted mapping's fields, cosell's own included), and a row whose
values are those of the read the link was committed with is that version, whatever its stamp
(see :func:`cosell.signals.synced.opportunity_synced`). The link keeps a digest of them, not the
values. Related rows (account, contacts, solutions, team) are the related-row poll's: their
changes do not move these values; each is told by its own (:class:`RelatedValues`).
"""

from __future__ import annotations

import hashlib
import json
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import Any

from cosell.sync.core.contacts import CONTACT_FIELDS
from cosell.sync.core.paths import read as paths_read
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


@dataclass(frozen=True)
class RelatedValues:
    """The values each related row's version is told by, per related-row signal: the columns
    the engine reads of it, as paths from a row of the object the related-row poll queries
    (an account's through its opportunity, a contact's through its contact role).

    ``SystemModstamp`` has one-second precision, so the related-row poll cannot tell a row a
    person saved before cosell's read from an edit in the same second by the stamp alone. The
    link keeps the digest of each related row's values as its committed read saw them (beside
    the stamp), the poll selects the same values, and a row holding them is that version:
    nothing in it is new to the pair, whoever saved it and whatever its stamp. A deleted row
    (``queryAll``) is never that version."""

    paths: Mapping[str, tuple[str, ...]]

    @classmethod
    def of(cls, schema: CrmSchema) -> RelatedValues:
        names = schema.names
        return cls(
            {
                "account": tuple(f"Account.{name}" for name in schema.account_fields_read),
                "contact": tuple(f"Contact.{name}" for name in CONTACT_FIELDS),
                "contact_role": ("ContactId",),
                "solution": (names.solution_id_field,),
                "team": ("UserId",),
            }
        )

    def digest(self, signal: str, row: Mapping[str, Any]) -> str | None:
        """The digest of ``row``'s values for ``signal`` (a row a query returned)."""
        return values_digest(self.paths.get(signal, ()), row)


def values_digest(paths: Sequence[str], row: Mapping[str, Any]) -> str | None:
    """The digest of ``row``'s values at ``paths`` (``None`` for no paths: nothing to tell a
    version by)."""
    if not paths:
        return None
    values = [paths_read(row, path) for path in paths]
    text = json.dumps(values, separators=(",", ":"), sort_keys=True, default=str)
    return hashlib.blake2b(text.encode(), digest_size=8).hexdigest()
