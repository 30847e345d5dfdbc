"""The CRM side of a reconcile: read an opportunity with its related rows, write changes back.

The record read is a :class:`~cosell.sync.sides.crm_record.CrmRecord`; related rows are written by
:class:`~cosell.sync.sides.salesforce.rows.RelatedRows`.

A read is one SOQL query: the opportunity, its account fields through ``Account.``, and each
related list (contact roles with their contacts, Microsoft Solution rows, the team, the notes
Note) as a parent-to-child subquery. An update is one ``composite`` request, all or none (see
:mod:`cosell.sync.sides.salesforce.writes`); its opportunity write carries
``If-Unmodified-Since: <LastModifiedDate read>``, so an edit made since the read answers 412
(``StaleWrite``), nothing of the request is kept, and the engine re-reads and re-plans; a write
no edit since the read can be lost to goes without it (:meth:`CrmSchema.needs_guard`). A write
to a contact read with the opportunity carries the contact's own guard (its ``SystemModstamp``
as read): a seller's edit to the contact since the read fails the request the same way. A create
is one composite graph that upserts the opportunity by the referral id field, so a repeated
create updates the one opportunity it made before.
"""

from __future__ import annotations

import re
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from datetime import datetime
from email.utils import format_datetime as http_date
from functools import cached_property
from typing import Any
from urllib.parse import quote

from cosell.clients.fresh_rows import FreshRow
from cosell.clients.salesforce import SalesforceClient
from cosell.clients.salesforce_composite import (
    COMPOSITE_LIMIT,
    GRAPH_NODE_LIMIT,
    REFERENCE,
    Graph,
    NodeResult,
)
from cosell.clients.salesforce_records import parse_datetime
from cosell.clients.soql import WHERE_LIMIT, soql_literal
from cosell.clock import Clock
from cosell.errors import APIError, NotFound, ServerError, StaleWrite
from cosell.sync.core.contacts import CONTACT_FIELDS
from cosell.sync.core.leads import LEAD_OBJECT
from cosell.sync.core.plan import default_close_date
from cosell.sync.core.records import CrmWrite
from cosell.sync.core.team import email_of
from cosell.sync.sides.crm_record import (
    CrmRecord,
    Made,
    Row,
    Written,
    clean_row,
    row_version,
)
from cosell.sync.sides.salesforce.accounts import (
    ACCOUNTS_BEGUN,
    AccountMatcher,
    Customer,
    Match,
    ReadMatch,
)
from cosell.sync.sides.salesforce.planned import Planned, rows_together, run_together
from cosell.sync.sides.salesforce.rows import NOTE_TITLE, TEAM_ROLE, Guard, RelatedRows, Target
from cosell.sync.sides.salesforce.schema import TEAM_OBJECT, CrmSchema
from cosell.sync.sides.salesforce.versions import OpportunityVersion, RelatedValues
from cosell.sync.sides.salesforce.writes import Work, send_composite, send_graph

__all__ = ["NOTE_TITLE", "TEAM_ROLE", "CrmRecord", "CrmSide"]

READ_BATCH = 150
"""Opportunity ids per ``read_many`` query: 150 quoted 18-character ids fit a 4,000-character
``WHERE``."""
ROLE_COLUMNS = ", ".join(
    ["Id", "ContactId", "SystemModstamp", "Contact.SystemModstamp"]
    + [f"Contact.{name}" for name in CONTACT_FIELDS]
)
TEAM_COLUMNS = "Id, UserId, SystemModstamp, User.FirstName, User.LastName, User.Email"
READ_BACK = "read"
"""The reference of a create's last subrequest, which reads the opportunity back."""
RECORD_ID = re.compile(r"^[A-Za-z0-9]{15}(?:[A-Za-z0-9]{3})?$")


@dataclass(frozen=True)
class Create:
    """One record's create (the arguments of :meth:`CrmSide.create`)."""

    write: CrmWrite
    referral_id: str
    extra: Mapping[str, Any]
    account_id: str | None = None


@dataclass(frozen=True)
class _PlannedCreate:
    """A create's writes before they are sent, and the notes Note's id or reference."""

    create: Create
    work: Work
    note: str | None


class CrmSide:
    """Reads and guarded writes of opportunities over a :class:`SalesforceClient`."""

    def __init__(self, client: SalesforceClient, schema: CrmSchema, clock: Clock) -> None:
        self.client = client
        self.schema = schema
        self.names = schema.names
        self._clock = clock
        self._now = clock.now
        self.rows = RelatedRows(client, schema.names)
        self._note_ref: str | None = None

    def with_client(self, client: SalesforceClient) -> CrmSide:
        """The same side over another client (a coalescing one, for a backfill)."""
        return type(self)(client, self.schema, self._clock)

    # --- reading ---------------------------------------------------------------------------------

    def read(self, opportunity_id: str) -> CrmRecord | None:
        """The opportunity and its related rows now, or ``None`` when it does not exist: one
        query, each related list a parent-to-child subquery (a list the org names no child
        relationship for is read by a query of its own)."""
        where = f"Id = {soql_literal(opportunity_id)}"
        soql = f"SELECT {self._select} FROM Opportunity WHERE {where}"  # noqa: S608
        asked = self._now()
        rows = list(self.client.query(soql))
        if not rows:
            return None
        return self._record(rows[0], asked, self.client.served_at())

    def read_fresh(self, opportunity_id: str, read_after: datetime) -> CrmRecord | None:
        """The opportunity as the poll read it in full after ``read_after``, within the last
        seconds, or ``None`` (see :mod:`cosell.clients.fresh_rows`): no call."""
        fresh = self.client.fresh.take(opportunity_id, read_after)
        if fresh is None or not _whole(fresh.row, self._nested):
            return None
        return self._record(fresh.row, fresh.asked, fresh.served)

    @property
    def read_select(self) -> str:
        """The columns, parent fields and subqueries of :meth:`read` (a poll reads with them)."""
        return self._select

    def offer(self, row: Mapping[str, Any], asked: datetime, served: datetime | None) -> None:
        """A row a poll read with :attr:`read_select`, for :meth:`read_fresh` to take."""
        self.client.fresh.offer(str(row["Id"]), FreshRow(row, asked, served))

    def read_many(self, opportunity_ids: Sequence[str]) -> dict[str, CrmRecord]:
        """Opportunities with their related rows, :data:`READ_BATCH` a query (an ``IN`` list
        within SOQL's 4,000-character ``WHERE``), five queries a call (see
        :func:`~cosell.sync.sides.salesforce.planned.rows_together`); a child list longer than
        a page is completed through its own locator. Ids that do not exist are absent."""
        ids = list(dict.fromkeys(opportunity_ids))
        soql = [
            f"SELECT {self._select} FROM Opportunity WHERE Id IN ({listed})"  # noqa: S608
            for listed in (
                ", ".join(soql_literal(i) for i in ids[start : start + READ_BATCH])
                for start in range(0, len(ids), READ_BATCH)
            )
        ]
        asked = self._now()
        together = rows_together(self.client, soql)
        records = [self._record(row, asked) for rows in together for row in rows]
        return {record.id: record for record in records}

    def write_back_many(
        self, fields_by_id: Mapping[str, Mapping[str, Any]]
    ) -> dict[str, APIError | None]:
        """cosell's own fields (status, error, audit) of many opportunities, 200 a call through
        sObject Collections, each record on its own (``allOrNone`` false). Unguarded: only for
        fields no person edits. Each id's error (a ``cosell.errors`` class), ``None`` when
        written."""
        ids = list(fields_by_id)
        records = [{"Id": i, **fields_by_id[i]} for i in ids]
        results = self.client.update_many("Opportunity", records)
        return {i: r.error() for i, r in zip(ids, results, strict=True)}

    def _record(
        self, row: Mapping[str, Any], asked: datetime | None = None, served: datetime | None = None
    ) -> CrmRecord:
        opportunity = clean_row(row)
        account = clean_row(opportunity.pop("Account", None) or {})
        account_stamp = account.pop("SystemModstamp", None)
        nested = {name: _children(opportunity.pop(name, None)) for name in self._nested}
        opportunity_id = str(opportunity["Id"])
        roles = nested.get(self._roles_list or "")
        roles = self._contact_rows(opportunity_id) if roles is None else roles
        team = None
        if self.schema.team_synced:
            members = nested.get(self._team_list or "")
            team = self._team_rows(opportunity_id) if members is None else members
        solution_rows = None
        if self.schema.has_solution_object:
            solution_rows = nested.get(self._solution_list or "")
            if solution_rows is None:
                solution_rows = self._solution_rows(opportunity_id)
        if self._notes_list is not None:
            notes = nested.get(self._notes_list) or []
            self.rows.seen_note(opportunity_id, notes[0] if notes else None)
        versions = _versions(
            self.related_values, row, opportunity_id, account_stamp, roles, solution_rows, team
        )
        return CrmRecord(
            opportunity,
            account,
            [_role(r) for r in roles],
            [clean_row(r) for r in solution_rows] if solution_rows is not None else None,
            [_member(r) for r in team] if team is not None else None,
            versions,
            load_users=self.active_users,
            served_at=served,
            fingerprint=self.version(opportunity),
            read_at=asked,
        )

    def find_by_referral(self, referral_id: str) -> str | None:
        """The opportunity holding ``referral_id`` in the referral id field, if any."""
        column = self.names.referral_id_field
        soql = f"SELECT Id FROM Opportunity WHERE {column} = {soql_literal(referral_id)}"  # noqa: S608
        return next((str(row["Id"]) for row in self.client.query(soql)), None)

    def find_deleted_by_referral(self, referral_id: str) -> str | None:
        """The deleted opportunity (in the recycle bin) holding ``referral_id``, if any."""
        column = self.names.referral_id_field
        soql = (
            f"SELECT Id FROM Opportunity WHERE {column} = {soql_literal(referral_id)}"  # noqa: S608
            " AND IsDeleted = true"
        )
        return next((str(row["Id"]) for row in self.client.query_all(soql)), None)

    def find_by_referral_matching(
        self, referral_id: str, customer: Customer
    ) -> tuple[str | None, ReadMatch]:
        """:meth:`find_by_referral`, with the customer's account match read in the same request
        (two queries, one ``composite`` call): a referral with no opportunity is about to be
        created, and its account matched. The match serves that create while no account create
        has begun in this process since (it could be the customer's): see
        :meth:`ReadMatch.serves`."""
        matcher = AccountMatcher(self.client, self.schema)
        begun = ACCOUNTS_BEGUN.count
        answers = run_together(
            self.client, self.lookup_plan([referral_id]), matcher.plan_many([customer])
        )
        found: dict[str, str] = answers[0]
        candidates: dict[Customer, list[Row]] = answers[1]
        match = matcher.match(customer, candidates.get(customer, []))
        return found.get(referral_id), ReadMatch(customer, match, begun)

    def lookup_plan(self, referral_ids: Sequence[str]) -> Planned[dict[str, str]]:
        """The queries finding the opportunities holding ``referral_ids`` (``IN`` lists within
        the ``WHERE`` limit): referral id -> opportunity id, absent when none holds it."""
        column = self.names.referral_id_field
        soql = [
            f"SELECT Id, {column} FROM Opportunity WHERE {column} IN ({chunk})"  # noqa: S608
            for chunk in in_lists(column, referral_ids)
        ]

        def finish(answers: list[list[Row]]) -> dict[str, str]:
            return {str(r[column]): str(r["Id"]) for rows in answers for r in rows}

        return Planned(soql, finish)

    def flagged_or_linked(self) -> list[str]:
        """Every opportunity flagged for sync or already holding a referral id."""
        n = self.names
        where = f"{n.sync_flag_field} = true OR {n.referral_id_field} != null"
        soql = f"SELECT Id FROM Opportunity WHERE {where}"  # noqa: S608
        return [str(r["Id"]) for r in self.client.query(soql)]

    @cached_property
    def related_values(self) -> RelatedValues:
        """What tells one version of each related row from another."""
        return RelatedValues.of(self.schema)

    @cached_property
    def version(self) -> OpportunityVersion:
        """What tells one version of the opportunity's own fields from another."""
        return OpportunityVersion.of(self.schema)

    @cached_property
    def _select(self) -> str:
        fields = ["Id", "AccountId", "LastModifiedDate", "SystemModstamp", *self.schema.read_fields]
        fields += [f"Account.{name}" for name in self.schema.account_fields_read]
        fields.append("Account.SystemModstamp")
        subqueries = [f"({sub})" for sub in self._subqueries.values()]
        return ", ".join([*dict.fromkeys(fields), *subqueries])

    @cached_property
    def _roles_list(self) -> str | None:
        return self.schema.child("OpportunityContactRole", "OpportunityId")

    @cached_property
    def _team_list(self) -> str | None:
        return self.schema.child(TEAM_OBJECT, "OpportunityId") if self.schema.team_synced else None

    @cached_property
    def _solution_list(self) -> str | None:
        n = self.names
        if not self.schema.has_solution_object:
            return None
        return self.schema.child(n.solution_object, n.solution_opportunity_field)

    @cached_property
    def _notes_list(self) -> str | None:
        return self.schema.child("Note", "ParentId")

    @cached_property
    def _nested(self) -> tuple[str, ...]:
        return tuple(self._subqueries)

    @cached_property
    def _subqueries(self) -> dict[str, str]:
        """The related lists read with the opportunity, by relationship name."""
        lists: dict[str, str] = {}
        if self._roles_list:
            lists[self._roles_list] = f"SELECT {ROLE_COLUMNS} FROM {self._roles_list}"  # noqa: S608
        if self._solution_list:
            columns = f"Id, SystemModstamp, {self.names.solution_id_field}"
            lists[self._solution_list] = f"SELECT {columns} FROM {self._solution_list}"  # noqa: S608
        if self._team_list:
            lists[self._team_list] = f"SELECT {TEAM_COLUMNS} FROM {self._team_list}"  # noqa: S608
        if self._notes_list:
            lists[self._notes_list] = (
                f"SELECT Id, Body FROM {self._notes_list} "  # noqa: S608
                f"WHERE Title = {soql_literal(NOTE_TITLE)} ORDER BY CreatedDate LIMIT 1"
            )
        return lists

    def _contact_rows(self, opportunity_id: str) -> list[Row]:
        soql = (
            f"SELECT {ROLE_COLUMNS} FROM OpportunityContactRole "  # noqa: S608
            f"WHERE OpportunityId = {soql_literal(opportunity_id)}"
        )
        return list(self.client.query(soql))

    def _team_rows(self, opportunity_id: str) -> list[Row]:
        soql = (
            f"SELECT {TEAM_COLUMNS} FROM {TEAM_OBJECT} "  # noqa: S608
            f"WHERE OpportunityId = {soql_literal(opportunity_id)}"
        )
        return list(self.client.query(soql))

    def _team(self, opportunity_id: str) -> list[Row]:
        return [_member(row) for row in self._team_rows(opportunity_id)]

    def _solution_rows(self, opportunity_id: str) -> list[Row]:
        n = self.names
        soql = (
            f"SELECT Id, SystemModstamp, {n.solution_id_field} FROM {n.solution_object} "  # noqa: S608
            f"WHERE {n.solution_opportunity_field} = {soql_literal(opportunity_id)}"
        )
        return list(self.client.query(soql))

    def match_account(self, customer: Customer) -> Match:
        """The customer's account by the rules of :class:`AccountMatcher`."""
        return AccountMatcher(self.client, self.schema).match(customer)

    def is_record_id(self, text: str) -> bool:
        """A Salesforce record id (15 or 18 characters)."""
        return bool(RECORD_ID.match(text))

    def import_lead(self, referral_id: str, fields: Mapping[str, Any]) -> str:
        """Upsert the ``Lead`` by the referral id (idempotent); its id."""
        key = self.names.referral_id_field
        result = self.client.upsert(LEAD_OBJECT, key, referral_id, fields)
        if result.id:
            return result.id
        soql = f"SELECT Id FROM {LEAD_OBJECT} WHERE {key} = {soql_literal(referral_id)}"  # noqa: S608
        for row in self.client.query(soql):
            return str(row["Id"])
        raise NotFound(f"lead for referral {referral_id} not found after upsert")

    def active_users(self) -> dict[str, str]:
        """Active users' ids by lower-case email."""
        soql = "SELECT Id, Email FROM User WHERE IsActive = true"
        return {email_of(row): str(row["Id"]) for row in self.client.query(soql) if email_of(row)}

    # --- writing ---------------------------------------------------------------------------------

    def update(self, record: CrmRecord, write: CrmWrite, extra: Mapping[str, Any]) -> Written:
        """Write field changes (guarded) and related rows in one ``composite`` request, all or
        none; whether anything was sent. One record's update (not gathered with others', and
        with room in the request) reads the opportunity back in its last subrequest, as
        :meth:`read` does: the link keeps the versions it wrote, so the polls know them."""
        fields = self._changed(record.opportunity, {**write.opportunity, **extra})
        work = Work()
        account_id = record.opportunity.get("AccountId")
        target = Target(record.id, str(account_id) if account_id else None)
        if write.account:
            target = self._account_writes(work, record, write.account, fields, target)
        if fields:
            guard = record.last_modified
            if not self.schema.needs_guard(fields, record.opportunity):
                # nobody's edit can be overwritten (see CrmSchema.needs_guard): no guard, so
                # the write can share a collections call with other records' (see _send)
                guard = None
            headers = self._unmodified_since(guard, record, f"opportunity {record.id}")
            work.update("Opportunity", record.id, fields, headers)
        note = self._related(work, target, record, write)
        if not work:
            return Written(False)
        read_back = self._reads_back(work)
        asked = self._now()
        if read_back:
            where = f"Id = {soql_literal(record.id)}"
            self._add_read(work, where)
        results = self._send(work, record.id)
        self._remember_note(record.id, write, note, results)
        read = self._read_back(results.get(f"{READ_BACK}0"), asked) if read_back else None
        return Written(True, read)

    def _unmodified_since(
        self, edited: datetime | None, record: CrmRecord, what: str
    ) -> dict[str, str] | None:
        """The ``If-Unmodified-Since`` of a write to a row of ``record`` last edited at
        ``edited`` (``None``: unguarded).

        A row read in the second of its last edit is read again once that second is over
        (``StaleWrite``, after a second's wait): the guard compares whole seconds, so another
        edit after the read, in that second, would pass it."""
        if edited is None:
            return None
        if _same_second(edited, record.served_at):
            self._clock.sleep(1.0)
            raise StaleWrite(f"{what} was read in the second of its last edit")
        return {"If-Unmodified-Since": http_date(edited, usegmt=True)}

    def _contact_guard(self, record: CrmRecord) -> Guard:
        """The guard of a write to one of ``record``'s contacts: its stamp as read with the
        opportunity (``SystemModstamp``, never before its ``LastModifiedDate``, so an edit
        since the read always fails it)."""

        def guard(row: Mapping[str, Any]) -> dict[str, str] | None:
            stamp = parse_datetime(row.get("ContactStamp"))
            return self._unmodified_since(stamp, record, f"contact {row.get('ContactId')}")

        return guard

    def _reads_back(self, work: Work) -> bool:
        """One record's writes with room left in one ``composite``: a read rides along."""
        return not self.client.coalesces and len(work.nodes) < COMPOSITE_LIMIT

    def _add_read(self, work: Work, where: str) -> None:
        work.add(READ_BACK, "GET", f"query?q={self._quoted_read}{quote(where, safe='')}")

    @cached_property
    def _quoted_read(self) -> str:
        """The read's SOQL up to its ``WHERE``, percent-encoded once, not again for each
        write's read-back (the select names every field and subquery; a character at a time)."""
        return quote(f"SELECT {self._select} FROM Opportunity WHERE ", safe="")  # noqa: S608

    def _send(self, work: Work, opportunity_id: str) -> dict[str, NodeResult]:
        """An update's writes: one all-or-none ``composite``, or, when many workers' writes are
        gathered (a backfill) and the opportunity update comes first with only independent
        related-row writes after it, the update first (shared with other records' updates:
        guarded ones 25 a ``composite``, unguarded ones 200 a collections call) and then, once
        it landed, the rows (shared collections calls of 200). A lost race still writes
        nothing; a row that fails after the update is raised, and the next round writes it
        again."""
        first, rest = work.nodes[0], work.nodes[1:]
        opportunity = f"sobjects/Opportunity/{opportunity_id}"
        split = self.client.coalesces and first.path == opportunity
        if not split or not rest or any(n.headers or REFERENCE.search(str(n)) for n in rest):
            return send_composite(self.client, work)
        done = {first.reference_id: self.client.send_node(first)}
        answers = self.client.send_nodes(rest)
        failed = next((a for a in answers if isinstance(a, Exception)), None)
        if failed is not None:
            raise failed
        done.update({str(a.reference_id): a for a in answers if not isinstance(a, Exception)})
        return done

    def create(
        self,
        write: CrmWrite,
        referral_id: str,
        extra: Mapping[str, Any],
        account_id: str | None = None,
    ) -> Made:
        """Create the opportunity with its account (unless ``account_id``, the matched one, see
        :mod:`cosell.sync.sides.salesforce.accounts`), contacts, contact roles, solution rows,
        team members and notes Note in one request: all of it or nothing. The opportunity is
        upserted by the referral id, so it is never made twice.

        One record's create is an all-or-none ``composite`` whose last subrequest reads the
        opportunity back as :meth:`read` does, in the same transaction: the engine's next round
        plans on that, and the link keeps its versions, without a read of its own. Creates
        gathered from many workers (a backfill), or more writes than one ``composite`` holds,
        go as composite graphs (75 a call), read afterwards in batches."""
        planned = self._planned_create(Create(write, referral_id, extra, account_id))
        read_back = self._reads_back(planned.work)
        asked = self._now()
        if read_back:
            self._add_read(
                planned.work, f"{self.names.referral_id_field} = {soql_literal(referral_id)}"
            )
            results = send_composite(self.client, planned.work)
        else:
            results = send_graph(self.client, planned.work, "create")
        made = self._made(planned, results)
        if not read_back:
            return made
        return Made(made.id, self._read_back(results.get(f"{READ_BACK}0"), asked))

    def create_many(self, creates: Sequence[Create]) -> list[Made | Exception]:
        """Many records' creates (see :meth:`create`), each its own composite graph (its own
        transaction), sent from this thread in as few calls as the limits allow (75 graphs,
        500 nodes a call), not gathered from one worker a record: what each made, or the error
        that refused it, in order. A create too large for one graph goes on its own."""
        answers: list[Made | Exception | None] = [None] * len(creates)
        planned: dict[str, tuple[int, _PlannedCreate]] = {}
        for n, create in enumerate(creates):
            try:
                work = self._planned_create(create)
            except Exception as exc:  # this record's own: the others go on
                answers[n] = exc
                continue
            if len(work.work.nodes) > GRAPH_NODE_LIMIT:
                answers[n] = self._create_alone(create)
                continue
            planned[f"create{n}"] = (n, work)
        graphs = [Graph(name, work.work.nodes) for name, (_, work) in planned.items()]
        results = {r.graph_id: r for r in self.client.composite_graph_now(graphs)}
        for name, (n, work) in planned.items():
            result = results.get(name)
            if result is None:
                answers[n] = ServerError(f"composite graph answered no graph {name}")
            elif not result.successful:
                answers[n] = result.error or ServerError(f"composite graph {name} failed")
            else:
                done = {str(node.reference_id): node for node in result.nodes}
                try:
                    answers[n] = self._made(work, done)
                except NotFound as exc:
                    answers[n] = exc
        return [a if a is not None else ServerError("create not answered") for a in answers]

    def _create_alone(self, create: Create) -> Made | Exception:
        try:
            return self.create(create.write, create.referral_id, create.extra, create.account_id)
        except Exception as exc:
            return exc

    def _planned_create(self, create: Create) -> _PlannedCreate:
        """The writes of a create (see :meth:`create`), not yet sent."""
        write, referral_id = create.write, create.referral_id
        fields = {**self._known(write.opportunity), **create.extra}
        fields.setdefault("Name", write.account.get("Name") or f"Referral {referral_id}")
        fields.setdefault("CloseDate", self._default_close_date())
        fields.pop("Id", None)
        fields.pop(self.names.referral_id_field, None)
        work = Work()
        account: str | None = create.account_id
        if not create.account_id and write.account:
            body = {k: v for k, v in write.account.items() if v is not None}
            body.setdefault("Name", "Unnamed customer")
            ACCOUNTS_BEGUN.begin()
            account = work.create("Account", body, "account")
        if account:
            fields["AccountId"] = account
        path = f"sobjects/Opportunity/{self.names.referral_id_field}/{quote(referral_id, safe='')}"
        work.add("opportunity", "PATCH", path, fields)
        target = Target("@{opportunity0.id}", account, account_is_new=not create.account_id)
        empty = CrmRecord({"Id": target.opportunity}, {}, [], [], [], load_users=self.active_users)
        note = self._related(work, target, empty, write)
        return _PlannedCreate(create, work, note)

    def _made(self, planned: _PlannedCreate, results: Mapping[str, NodeResult]) -> Made:
        """What a create made, from its subrequests' answers (not read back)."""
        opportunity_id = results["opportunity0"].id
        if opportunity_id is None:
            referral_id = planned.create.referral_id
            raise NotFound(f"opportunity for referral {referral_id} not found after upsert")
        self._remember_note(opportunity_id, planned.create.write, planned.note, results)
        return Made(opportunity_id)

    def _read_back(self, result: NodeResult | None, asked: datetime) -> CrmRecord | None:
        """The opportunity as a create's last subrequest read it; ``None`` when the answer is
        not whole (a related list longer than one page): then it is read as usual."""
        body = result.body if result is not None else None
        rows = body.get("records") if isinstance(body, Mapping) else None
        if not isinstance(rows, list) or len(rows) != 1 or not _whole(rows[0], self._nested):
            return None
        return self._record(rows[0], asked, self.client.served_at())

    def _related(
        self, work: Work, target: Target, record: CrmRecord, write: CrmWrite
    ) -> str | None:
        """Add the related rows' writes; the notes Note's id or reference when it is written."""
        if write.contacts is not None:
            guard = self._contact_guard(record)
            self.rows.contacts(work, target, record.contacts, write.contacts, guard)
        solutions = self.schema.has_solution_object and record.solutions is not None
        if write.solutions is not None and solutions and record.solutions is not None:
            self.rows.solutions(
                work, target, record.solutions, write.solutions, write.solution_names
            )
        if write.team is not None and record.team is not None and self.schema.team_synced:
            self.rows.team(work, target, record.team, write.team, lambda: record.users)
        if write.note_changed and self._notes_list is not None:
            return self.rows.note(work, target, write.note)
        return None

    def _remember_note(
        self,
        opportunity_id: str,
        write: CrmWrite,
        ref: str | None,
        results: Mapping[str, NodeResult],
    ) -> None:
        """The Note as just written, so the engine's mirror that follows sends nothing."""
        if not write.note_changed or self._notes_list is None:
            return
        if ref is not None and ref.startswith("@{"):
            found = results.get(ref[2:].removesuffix(".id}"))
            ref = found.id if found is not None else None
        self.rows.seen_note(opportunity_id, {"Id": ref, "Body": write.note or ""} if ref else None)

    def mirror_note(self, opportunity_id: str, body: str | None) -> bool:
        """See :meth:`RelatedRows.mirror_note`."""
        return self.rows.mirror_note(opportunity_id, body)

    def _default_close_date(self) -> str:
        return default_close_date(self._now().date())

    def _known(self, values: Mapping[str, Any]) -> Row:
        return {k: v for k, v in values.items() if k in self.schema.opportunity_fields}

    def _changed(self, current: Mapping[str, Any], wanted: Mapping[str, Any]) -> Row:
        """Compare before write: only values that differ from what was read."""
        known = self._known(wanted)
        known.pop("Id", None)
        return {k: v for k, v in known.items() if not _same(current.get(k), v)}

    def _account_writes(
        self, work: Work, record: CrmRecord, values: Mapping[str, Any], fields: Row, target: Target
    ) -> Target:
        """Update the opportunity's account; without one, attach a matched or new account
        (``AccountId`` joins the guarded opportunity update in ``fields``)."""
        if target.account:
            changed = {k: v for k, v in values.items() if not _same(record.account.get(k), v)}
            if changed:
                work.update("Account", target.account, changed)
            return target
        found = self._matching_account(values)
        if found is not None:
            fields["AccountId"] = found
            return Target(target.opportunity, found)
        body = {k: v for k, v in values.items() if v is not None}
        body.setdefault("Name", "Unnamed customer")
        ACCOUNTS_BEGUN.begin()
        fields["AccountId"] = work.create("Account", body, "account")
        return Target(target.opportunity, fields["AccountId"], account_is_new=True)

    def _matching_account(self, values: Mapping[str, Any]) -> str | None:
        """An account with the same name and country (and postal code when known)."""
        if not values.get("Name"):
            return None
        keys = ("Name", "BillingCountry", "BillingPostalCode")
        conditions = [f"{k} = {soql_literal(str(values[k]))}" for k in keys if values.get(k)]
        where = " AND ".join(conditions)
        soql = f"SELECT Id FROM Account WHERE {where} ORDER BY CreatedDate LIMIT 1"  # noqa: S608
        found = next(iter(self.client.query(soql)), None)
        return str(found["Id"]) if found is not None else None


def _whole(row: Mapping[str, Any], lists: Sequence[str]) -> bool:
    """Every related list of the row is all there (none is longer than one page)."""
    nested = [row.get(name) for name in lists]
    return not any(isinstance(n, Mapping) and n.get("done") is False for n in nested)


def _children(nested: Any) -> list[Row]:
    """A subquery's rows (``null`` when there are none)."""
    return list(nested.get("records") or ()) if isinstance(nested, Mapping) else []


def _versions(
    values: RelatedValues,
    opportunity: Mapping[str, Any],
    opportunity_id: str,
    account_stamp: Any,
    roles: list[Row],
    solution_rows: list[Row] | None,
    team: list[Row] | None,
) -> dict[str, str]:
    """Each related row's version (its stamp and the digest of its values, see
    :class:`~cosell.sync.sides.salesforce.versions.RelatedValues`) by the related-row poll's
    ``<signal>:<row id>``."""
    found: dict[str, tuple[Any, Mapping[str, Any]]] = {
        f"account:{opportunity_id}": (account_stamp, opportunity)
    }
    for role in roles:
        found[f"contact_role:{role['Id']}"] = (role.get("SystemModstamp"), role)
        found[f"contact:{role['Id']}"] = ((role.get("Contact") or {}).get("SystemModstamp"), role)
    for row in solution_rows or []:
        found[f"solution:{row['Id']}"] = (row.get("SystemModstamp"), row)
    for member in team or []:
        found[f"team:{member['Id']}"] = (member.get("SystemModstamp"), member)
    return {
        key: row_version(str(stamp), values.digest(key.partition(":")[0], row))
        for key, (stamp, row) in found.items()
        if stamp
    }


def _same_second(edited: datetime, served: datetime | None) -> bool:
    """The response that read a record came within the second of its last edit (or its time
    is not after it)."""
    return served is not None and int(served.timestamp()) <= int(edited.timestamp())


def _role(row: Mapping[str, Any]) -> Row:
    """A contact role as the sync sees it: the role's id, the contact's id and fields."""
    contact = clean_row(row.get("Contact") or {})
    stamp = contact.pop("SystemModstamp", None)
    return {
        "RoleId": row["Id"],
        "ContactId": row["ContactId"],
        **contact,
        "RoleStamp": row.get("SystemModstamp"),
        "ContactStamp": stamp,
    }


def _member(row: Mapping[str, Any]) -> Row:
    user = clean_row(row.get("User") or {})
    return {"MemberId": row["Id"], "UserId": row["UserId"], **user}


def _same(current: Any, wanted: Any) -> bool:
    if isinstance(wanted, float | int) and not isinstance(wanted, bool):
        try:
            return current is not None and float(current) == float(wanted)
        except (TypeError, ValueError):
            return False
    return bool(current == wanted or (current in (None, "") and wanted in (None, "")))


def in_lists(column: str, values: Sequence[str]) -> list[str]:
    """``IN`` lists of SOQL literals, each keeping ``column IN (...)`` within the WHERE limit."""
    room = WHERE_LIMIT - len(column) - len(" IN ()")
    lists: list[str] = []
    chunk: list[str] = []
    for value in values:
        literal = soql_literal(value)
        if chunk and len(", ".join([*chunk, literal])) > room:
            lists.append(", ".join(chunk))
            chunk = []
        chunk.append(literal)
    if chunk:
        lists.append(", ".join(chunk))
    return lists
