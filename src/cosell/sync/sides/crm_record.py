"""An opportunity as the CRM side read it: its fields, account and related rows.

:meth:`CrmRecord.related` is what translation reads: contacts in the row shape of
:data:`~cosell.sync.core.contacts.CONTACT_FIELDS`, the team, and the solutions from the Microsoft
Solutions rows and ``Products__c`` together (see :mod:`cosell.sync.core.solutions`).
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from datetime import datetime
from functools import cached_property
from typing import Any

from cosell.clients.salesforce_records import parse_datetime
from cosell.sync.core import solutions
from cosell.sync.core.contacts import CONTACT_FIELDS
from cosell.sync.core.names import CrmNames
from cosell.sync.core.records import CrmRelated

Row = dict[str, Any]


def clean_row(row: Mapping[str, Any]) -> Row:
    """A queried row without its ``attributes``."""
    return {k: v for k, v in row.items() if k != "attributes"}


@dataclass(frozen=True)
class CrmRecord:
    """An opportunity as read now: its fields, account, contact roles and solution rows."""

    opportunity: Row
    account: Row = field(default_factory=dict)
    contacts: list[Row] = field(default_factory=list)
    solutions: list[Row] | None = None
    team: list[Row] | None = None
    """Opportunity team members (``MemberId``, ``UserId`` and the user's names and email)."""
    versions: dict[str, str] = field(default_factory=dict)
    """The related rows' versions as read (``SystemModstamp``, and the digest of the values
    read, see :func:`row_version`), by ``<signal>:<row id>`` (the names of
    :mod:`cosell.signals.related_rows`); stored with the link, so the related-row poll knows a
    version already reconciled. Empty for a CRM without such a poll."""
    load_users: Callable[[], dict[str, str]] | None = field(default=None, compare=False)
    """Reads the active users; called at most once, and only when a team needs matching."""
    served_at: datetime | None = field(default=None, compare=False)
    """The CRM's own time (whole seconds) on the response that read this version, when known:
    a guarded write is exact only if the read came after the second of the last edit."""
    fingerprint: str | None = field(default=None, compare=False)
    """The digest of the opportunity's own values (see
    :mod:`cosell.sync.sides.salesforce.versions`), stored with the link so the poll knows this
    version by its values. ``None`` for a CRM whose poll does not need it."""
    read_at: datetime | None = field(default=None, compare=False)
    """When cosell asked for this version (its clock, before the request): an edit after the
    read shares the version's ``SystemModstamp`` only if the read came within that second
    (see :func:`cosell.signals.synced.opportunity_synced`). ``None`` where not known."""
    raw: Mapping[str, Any] | None = field(default=None, compare=False)
    """The CRM's own row as it was read, where a write's answer is laid over it to know the
    version the write made (HubSpot: the deal's property strings). ``None`` elsewhere."""

    @cached_property
    def users(self) -> dict[str, str]:
        """Active users by lower-case email (read on first use)."""
        return self.load_users() if self.load_users is not None else {}

    @property
    def id(self) -> str:
        return str(self.opportunity["Id"])

    @property
    def last_modified(self) -> datetime | None:
        return parse_datetime(self.opportunity.get("LastModifiedDate"))

    @property
    def modstamp(self) -> str | None:
        stamp = self.opportunity.get("SystemModstamp")
        return str(stamp) if stamp else None

    def related(self, names: CrmNames, rows_before: list[str] | None = None) -> CrmRelated:
        """What translation reads. Solutions come from the rows and ``Products__c`` together
        (see :mod:`cosell.sync.core.solutions`)."""
        typed = self.typed_solutions(names)
        ids = solutions.crm_ids(self.solution_ids(names), typed, rows_before)
        rows = [{names.solution_id_field: i} for i in ids]
        contacts = [{k: row.get(k) for k in CONTACT_FIELDS} for row in self.contacts]
        team = None
        if self.team is not None:
            team = [{k: row.get(k) for k in CONTACT_FIELDS} for row in self.team]
        return CrmRelated(account=self.account, contacts=contacts, team=team, solutions=rows)

    def solution_ids(self, names: CrmNames) -> list[str] | None:
        """The ids in the Microsoft Solutions related list (``None`` without that list)."""
        if self.solutions is None:
            return None
        return [str(row.get(names.solution_id_field) or "") for row in self.solutions]

    def typed_solutions(self, names: CrmNames) -> list[str]:
        """The ids typed into ``Products__c``."""
        return solutions.listed(self.opportunity.get(names.products_field or ""))


@dataclass(frozen=True)
class Made:
    """A create's answer: the new record's id, and the record as the create read it back in the
    same request (``None`` where it did not: the engine reads it as usual)."""

    id: str
    read: CrmRecord | None = None


@dataclass(frozen=True)
class Written:
    """An update's answer: whether anything was sent, and the record as the update read it
    back in the same request (``None`` where it did not)."""

    sent: bool
    read: CrmRecord | None = None

    def __bool__(self) -> bool:
        return self.sent


ROW_VERSION_MARK = "#"
"""Between a related row's stamp and the digest of its values in :attr:`CrmRecord.versions`
(and a link's ``crm_rows``)."""


def row_version(stamp: str, digest: str | None) -> str:
    """A related row's version as a record and its link keep it: its stamp, and the digest of
    the values the engine reads of it (see
    :class:`cosell.sync.sides.salesforce.versions.RelatedValues`)."""
    return stamp if digest is None else f"{stamp}{ROW_VERSION_MARK}{digest}"


def split_row_version(version: str) -> tuple[str, str | None]:
    """``(stamp, digest)`` of a kept version (links committed before digests: no digest)."""
    stamp, mark, digest = version.partition(ROW_VERSION_MARK)
    return stamp, (digest if mark else None)


REFUSED_PREFIX = "refused:"


def written_fingerprint(made: str, read: str | None) -> str:
    """The fingerprint of a version a write made, followed by the one it was planned on (the
    poll knows either; the second only when older than the write, see
    :func:`cosell.signals.synced.opportunity_synced`)."""
    return f"{made} {read}" if read else made


def refused_cursor(opportunity_id: str) -> str:
    """The store cursor holding the version (:attr:`CrmRecord.fingerprint`) of an opportunity a
    reconcile refused before it had a link (Partner Center could not take it yet: a customer
    country missing, say). With no link to hold that version, the poll could not tell it from
    a new edit, and reconciled, refused and dead-lettered it again on every look inside its
    overlap window (seven times in three seconds in the sandbox). Any edit of a value the
    engine reads changes the digest, so the seller's fix is seen at once; an edit of the
    account comes by the related-row poll. The row goes when the referral is created."""
    return f"{REFUSED_PREFIX}{opportunity_id}"
