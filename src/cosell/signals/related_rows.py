"""The rows around an opportunity that the mapping reads, and the queries that poll them.

A seller who fixes the account's country, edits a contact's email, or adds or removes a
Microsoft Solution row does not move the opportunity's ``SystemModstamp``. Each related object
the mapping actually uses is therefore polled on its own stamp:

============  ==========================  ===========================  ============
signal        rows read                   stamp                        deletes seen
============  ==========================  ===========================  ============
account       Opportunity                 ``Account.SystemModstamp``   —
contact       OpportunityContactRole      ``Contact.SystemModstamp``   —
contact_role  OpportunityContactRole      ``SystemModstamp``           ``queryAll``
solution      the solutions object        ``SystemModstamp``           ``queryAll``
team          OpportunityTeamMember       ``SystemModstamp``           ``queryAll``
============  ==========================  ===========================  ============

Accounts and contacts are read through the row that ties them to an opportunity, so each row
already names its opportunity. A deleted row keeps its lookup, and ``queryAll`` returns it with
``IsDeleted = true`` and the stamp of its deletion.
"""

from __future__ import annotations

from collections.abc import Iterable, Iterator, Mapping, Sequence
from dataclasses import dataclass, replace
from datetime import datetime
from typing import TYPE_CHECKING, Any, Protocol

from cosell.clients.salesforce_limits import Priority
from cosell.signals.poller import soql_datetime

if TYPE_CHECKING:  # the sync core loads only where the service runs
    from cosell.sync.sides.salesforce.schema import CrmSchema

CONTACTS_LIST = "Contacts"


class RelatedSoqlClient(Protocol):
    """The part of the Salesforce client related polls need."""

    def query(
        self, soql: str, *, priority: Priority | None = None
    ) -> Iterable[Mapping[str, Any]]: ...

    def query_all(
        self, soql: str, *, priority: Priority | None = None
    ) -> Iterable[Mapping[str, Any]]: ...

    def query_together(
        self, reads: Sequence[tuple[str, str]], *, priority: Priority | None = None
    ) -> Sequence[Iterable[Mapping[str, Any]]]: ...


@dataclass(frozen=True)
class RelatedObject:
    """One polled object: where its rows are, their stamp and the opportunity they belong to."""

    name: str
    sobject: str
    stamp: str
    opportunity: str
    include_deleted: bool = False
    rows_are_opportunities: bool = False
    """Rows are opportunities (the account poll): the opportunity filter applies to them as it
    is; other rows take it through their opportunity (a semi-join)."""
    by: str = "LastModifiedById"
    """Who wrote the version ``stamp`` dates (to tell cosell's own writes)."""
    values: tuple[str, ...] = ()
    """The row's values the engine reads (paths from a polled row), which tell one version of
    it from another whatever its stamp (see
    :class:`cosell.sync.sides.salesforce.versions.RelatedValues`)."""


@dataclass(frozen=True)
class RelatedRow:
    """A changed related row: its id, its stamp and its opportunity's id (empty for a row of
    no opportunity cosell cares about, which a source reports only so the watermark moves past
    it)."""

    id: str
    stamp: datetime
    opportunity_id: str
    by: str | None = None
    """The user who last modified the row (``LastModifiedById`` of the stamped record)."""
    digest: str | None = None
    """The digest of the row's :attr:`RelatedObject.values` (``None`` when none are read)."""
    deleted: bool = False


ACCOUNT = RelatedObject(
    "account",
    "Opportunity",
    "Account.SystemModstamp",
    "Id",
    rows_are_opportunities=True,
    by="Account.LastModifiedById",
)
CONTACT = RelatedObject(
    "contact",
    "OpportunityContactRole",
    "Contact.SystemModstamp",
    "OpportunityId",
    by="Contact.LastModifiedById",
)
CONTACT_ROLE = RelatedObject(
    "contact_role", "OpportunityContactRole", "SystemModstamp", "OpportunityId", True
)
TEAM = RelatedObject("team", "OpportunityTeamMember", "SystemModstamp", "OpportunityId", True)


def solution_object(sobject: str, opportunity_field: str) -> RelatedObject:
    """The org's solutions object (its name and lookup come from ``cosell setup``)."""
    return RelatedObject("solution", sobject, "SystemModstamp", opportunity_field, True)


def watched_objects(schema: CrmSchema) -> list[RelatedObject]:
    """The related objects the fitted mapping reads, in a fixed order."""
    from cosell.sync.core.translate import SOLUTIONS_PATH
    from cosell.sync.sides.salesforce.versions import RelatedValues

    specs = schema.mapping.fields.values()
    watched = [ACCOUNT] if schema.account_fields_read else []
    if any(spec.crm == CONTACTS_LIST for spec in specs):
        watched += [CONTACT, CONTACT_ROLE]
    if schema.has_solution_object and any(s.partner_center == SOLUTIONS_PATH for s in specs):
        names = schema.names
        watched.append(solution_object(names.solution_object, names.solution_opportunity_field))
    if schema.team_synced:
        watched.append(TEAM)
    values = RelatedValues.of(schema).paths
    return [replace(w, values=values.get(w.name, ())) for w in watched]


def changed_rows_soql(watched: RelatedObject, since: datetime, where: str = "") -> str:
    """The poll query of one related object, in (stamp, Id) order."""
    conditions = [f"{watched.stamp} >= {soql_datetime(since)}"]
    if where.strip() and watched.rows_are_opportunities:
        conditions.append(f"({where})")
    elif where.strip():
        # Only the rows of opportunities the filter keeps: a semi-join, not a query to resolve
        # each look's rows (it cost a call per object that changed, mostly for rows of
        # opportunities nobody flagged).
        semi_join = f"SELECT Id FROM Opportunity WHERE {where}"  # noqa: S608 (the operator's)
        conditions.append(f"{watched.opportunity} IN ({semi_join})")
    deleted = ["IsDeleted"] if watched.include_deleted else []
    wanted = ["Id", watched.opportunity, watched.stamp, watched.by, *watched.values, *deleted]
    columns = ", ".join(dict.fromkeys(wanted))
    # Names come from the schema and the operator's filter; the date is formatted here.
    return (
        f"SELECT {columns} FROM {watched.sobject} "  # noqa: S608
        f"WHERE {' AND '.join(conditions)} ORDER BY {watched.stamp}, Id"
    )


class RelatedRows:
    """A source of changed rows of one related object (background priority: the poll yields
    to the API budget reserve like the opportunity poll)."""

    def __init__(self, client: RelatedSoqlClient, watched: RelatedObject, where: str = "") -> None:
        self._client = client
        self.watched = watched
        self._where = where

    def __call__(self, since: datetime) -> Iterator[RelatedRow]:
        soql = changed_rows_soql(self.watched, since, self._where)
        read = self._client.query_all if self.watched.include_deleted else self._client.query
        return self.parse(read(soql, priority="background"))

    def read(self, since: datetime) -> tuple[str, str]:
        """The ``(resource, soql)`` of this object's poll from ``since``, for a read made
        together with other objects' (``query_together``)."""
        resource = "queryAll" if self.watched.include_deleted else "query"
        return resource, changed_rows_soql(self.watched, since, self._where)

    def parse(self, records: Iterable[Mapping[str, Any]]) -> Iterator[RelatedRow]:
        """The changed rows in the records of this object's poll query."""
        from cosell.sync.sides.salesforce.versions import values_digest

        watched = self.watched
        for row in records:
            stamp = _path(row, watched.stamp)
            opportunity = _path(row, watched.opportunity)
            if stamp and opportunity:
                when = datetime.fromisoformat(str(stamp))
                by = _path(row, watched.by)
                digest = values_digest(watched.values, row)
                deleted = row.get("IsDeleted") is True
                yield RelatedRow(str(row["Id"]), when, opportunity, by, digest, deleted)


def _path(row: Mapping[str, Any], path: str) -> str | None:
    value: Any = row
    for part in path.split("."):
        value = value.get(part) if isinstance(value, Mapping) else None
    return str(value) if value else None
