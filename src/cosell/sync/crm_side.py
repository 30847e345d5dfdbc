"""The CRM side of a reconcile: read an opportunity with its related rows, write changes back.

Reads are one SOQL query for the opportunity (its account fields through ``Account.``) plus one
per related list: contact roles (with the contacts), and the Microsoft Solution rows. Writes to
the opportunity carry ``If-Unmodified-Since: <LastModifiedDate read>``, so an edit made since
the read answers 412 (``StaleWrite``) and the engine re-reads and re-plans. Creates upsert by
the referral id field, so a repeated create updates the one opportunity it made before.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable, Mapping
from dataclasses import dataclass, field
from datetime import date, datetime, timedelta
from functools import cached_property
from typing import Any

from cosell.clients.salesforce import SalesforceClient
from cosell.clients.salesforce_records import parse_datetime
from cosell.errors import NotFound
from cosell.orgsetup.salesforce import soql_literal
from cosell.sync import solutions
from cosell.sync.crm_schema import TEAM_OBJECT, CrmNames, CrmSchema
from cosell.sync.records import CrmRelated, CrmWrite
from cosell.sync.team import email_of

Row = dict[str, Any]
CONTACT_FIELDS = ("FirstName", "LastName", "Email", "Phone")
DEFAULT_CLOSE_DAYS = 90
NO_LAST_NAME = "(not given)"
TEAM_ROLE = "Sales Rep"
NOTE_TITLE = "Partner Center notes"


def _clean(row: Mapping[str, Any]) -> Row:
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
    load_users: Callable[[], dict[str, str]] | None = field(default=None, compare=False)
    """Reads the active users; called at most once, and only when a team needs matching."""

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
        (see :mod:`cosell.sync.solutions`)."""
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


class CrmSide:
    """Reads and guarded writes of opportunities over a :class:`SalesforceClient`."""

    def __init__(self, client: SalesforceClient, schema: CrmSchema, clock_today: Any) -> None:
        self.client = client
        self.schema = schema
        self.names = schema.names
        self._today = clock_today

    # --- reading ---------------------------------------------------------------------------------

    def read(self, opportunity_id: str) -> CrmRecord | None:
        """The opportunity and its related rows now, or ``None`` when it does not exist."""
        where = f"Id = {soql_literal(opportunity_id)}"
        rows = list(self.client.query(f"SELECT {self._select} FROM Opportunity WHERE {where}"))  # noqa: S608
        if not rows:
            return None
        opportunity = _clean(rows[0])
        account = _clean(opportunity.pop("Account", None) or {})
        team = self._team(opportunity["Id"]) if self.schema.team_synced else None
        return CrmRecord(
            opportunity,
            account,
            self._contacts(opportunity["Id"]),
            self._solutions(opportunity["Id"]),
            team,
            self.active_users,
        )

    def find_by_referral(self, referral_id: str) -> str | None:
        """The opportunity holding ``referral_id`` in the referral id field, if any."""
        column = self.names.referral_id_field
        soql = f"SELECT Id FROM Opportunity WHERE {column} = {soql_literal(referral_id)}"  # noqa: S608
        return next((str(row["Id"]) for row in self.client.query(soql)), None)

    def flagged_or_linked(self) -> list[str]:
        """Every opportunity flagged for sync or already holding a referral id."""
        n = self.names
        where = f"{n.sync_flag_field} = true OR {n.referral_id_field} != null"
        soql = f"SELECT Id FROM Opportunity WHERE {where}"  # noqa: S608
        return [str(r["Id"]) for r in self.client.query(soql)]

    @cached_property
    def _select(self) -> str:
        fields = ["Id", "AccountId", "LastModifiedDate", "SystemModstamp", *self.schema.read_fields]
        fields += [f"Account.{name}" for name in self.schema.account_fields_read]
        return ", ".join(dict.fromkeys(fields))

    def _contacts(self, opportunity_id: str) -> list[Row]:
        columns = ", ".join(f"Contact.{name}" for name in CONTACT_FIELDS)
        soql = (
            f"SELECT Id, ContactId, {columns} FROM OpportunityContactRole "  # noqa: S608
            f"WHERE OpportunityId = {soql_literal(opportunity_id)}"
        )
        rows = []
        for row in self.client.query(soql):
            contact = _clean(row.get("Contact") or {})
            rows.append({"RoleId": row["Id"], "ContactId": row["ContactId"], **contact})
        return rows

    def _team(self, opportunity_id: str) -> list[Row]:
        soql = (
            "SELECT Id, UserId, User.FirstName, User.LastName, User.Email "  # noqa: S608
            f"FROM {TEAM_OBJECT} WHERE OpportunityId = {soql_literal(opportunity_id)}"
        )
        rows = []
        for row in self.client.query(soql):
            user = _clean(row.get("User") or {})
            rows.append({"MemberId": row["Id"], "UserId": row["UserId"], **user})
        return rows

    def active_users(self) -> dict[str, str]:
        """Active users' ids by lower-case email."""
        soql = "SELECT Id, Email FROM User WHERE IsActive = true"
        return {email_of(row): str(row["Id"]) for row in self.client.query(soql) if email_of(row)}

    def _solutions(self, opportunity_id: str) -> list[Row] | None:
        n = self.names
        if not self.schema.has_solution_object:
            return None
        soql = (
            f"SELECT Id, {n.solution_id_field} FROM {n.solution_object} "  # noqa: S608
            f"WHERE {n.solution_opportunity_field} = {soql_literal(opportunity_id)}"
        )
        return [_clean(row) for row in self.client.query(soql)]

    # --- writing ---------------------------------------------------------------------------------

    def update(self, record: CrmRecord, write: CrmWrite, extra: Mapping[str, Any]) -> bool:
        """Write field changes (guarded) and related rows; True when anything was sent."""
        fields = self._changed(record.opportunity, {**write.opportunity, **extra})
        sent = False
        if write.account:
            sent |= self._write_account(record, write.account, fields)
        if fields:
            guard = record.last_modified
            self.client.update("Opportunity", record.id, fields, if_unmodified_since=guard)
            sent = True
        if write.contacts is not None:
            sent |= self._sync_contacts(record, write.contacts)
        if write.solutions is not None:
            sent |= self._sync_solutions(record, write.solutions)
        if write.team is not None:
            sent |= self._sync_team(record, write.team)
        return sent

    def create(
        self,
        write: CrmWrite,
        referral_id: str,
        extra: Mapping[str, Any],
        account_id: str | None = None,
    ) -> str:
        """Upsert the opportunity by the referral id (idempotent), with account, contacts and
        solutions; returns its id. ``account_id`` is the matched account (see
        :mod:`cosell.sync.accounts`); without one, a new account is made from the customer."""
        fields = {**self._known(write.opportunity), **extra}
        fields.setdefault("Name", write.account.get("Name") or f"Referral {referral_id}")
        fields.setdefault("CloseDate", self._default_close_date())
        fields.pop("Id", None)
        if account_id:
            fields["AccountId"] = account_id
        elif write.account:
            fields["AccountId"] = self._new_account(write.account)
        result = self.client.upsert(
            "Opportunity", self.names.referral_id_field, referral_id, fields
        )
        opportunity_id = result.id or self.find_by_referral(referral_id)
        if opportunity_id is None:
            raise NotFound(f"opportunity for referral {referral_id} not found after upsert")
        record = self._fresh(opportunity_id, fields) if result.created else None
        record = record or self.read(opportunity_id)
        if record is None:
            raise NotFound(f"opportunity {opportunity_id} not found after upsert")
        if write.contacts is not None:
            self._sync_contacts(record, write.contacts)
        if write.solutions is not None:
            self._sync_solutions(record, write.solutions)
        if write.team is not None:
            self._sync_team(record, write.team)
        return opportunity_id

    def _fresh(self, opportunity_id: str, fields: Mapping[str, Any]) -> CrmRecord:
        """A just-created opportunity as the upsert left it: no contact roles or solution rows
        yet, so none are read (the team is, since an org may add default members)."""
        opportunity = {"Id": opportunity_id, "AccountId": fields.get("AccountId")}
        team = self._team(opportunity_id) if self.schema.team_synced else None
        solution_rows: list[Row] | None = [] if self.schema.has_solution_object else None
        return CrmRecord(opportunity, {}, [], solution_rows, team, self.active_users)

    def _default_close_date(self) -> str:
        today: date = self._today()
        return (today + timedelta(days=DEFAULT_CLOSE_DAYS)).isoformat()

    def _known(self, values: Mapping[str, Any]) -> Row:
        return {k: v for k, v in values.items() if k in self.schema.opportunity_fields}

    def _changed(self, current: Mapping[str, Any], wanted: Mapping[str, Any]) -> Row:
        """Compare before write: only values that differ from what was read."""
        known = self._known(wanted)
        known.pop("Id", None)
        return {k: v for k, v in known.items() if not _same(current.get(k), v)}

    def _write_account(self, record: CrmRecord, values: Mapping[str, Any], fields: Row) -> bool:
        """Update the opportunity's account; without one, attach a matched or new account
        (``AccountId`` joins the guarded opportunity update in ``fields``)."""
        account_id = record.opportunity.get("AccountId")
        if not account_id:
            fields["AccountId"] = self._match_or_create_account(values)
            return True
        changed = {k: v for k, v in values.items() if not _same(record.account.get(k), v)}
        if changed:
            self.client.update("Account", str(account_id), changed)
        return bool(changed)

    def _match_or_create_account(self, values: Mapping[str, Any]) -> str:
        """An account with the same name and country (and postal code when known), else new."""
        keys = ("Name", "BillingCountry", "BillingPostalCode")
        conditions = [f"{k} = {soql_literal(str(values[k]))}" for k in keys if values.get(k)]
        if values.get("Name"):
            where = " AND ".join(conditions)
            soql = f"SELECT Id FROM Account WHERE {where} ORDER BY CreatedDate LIMIT 1"  # noqa: S608
            found = next(iter(self.client.query(soql)), None)
            if found is not None:
                return str(found["Id"])
        return self._new_account(values)

    def _new_account(self, values: Mapping[str, Any]) -> str:
        body = {k: v for k, v in values.items() if v is not None}
        body.setdefault("Name", "Unnamed customer")
        return self.client.create("Account", body)

    def _sync_contacts(self, record: CrmRecord, desired: Iterable[Mapping[str, Any]]) -> bool:
        current = {_contact_key(row): row for row in record.contacts}
        wanted = {_contact_key(member): member for member in desired}
        sent = False
        for key, member in wanted.items():
            row = current.get(key)
            if row is None:
                contact_id = self._contact_for(record, member)
                role = {"OpportunityId": record.id, "ContactId": contact_id}
                self.client.create("OpportunityContactRole", role)
                sent = True
            else:
                sent |= self._refresh_contact(row, member)
        for key, row in current.items():
            if key not in wanted:
                self.client.delete("OpportunityContactRole", str(row["RoleId"]))
                sent = True
        return sent

    def _contact_for(self, record: CrmRecord, member: Mapping[str, Any]) -> str:
        """The account's contact with this email (reused, refreshed), else a new one."""
        email = member.get("Email")
        account_id = record.opportunity.get("AccountId")
        if email:
            where = f"Email = {soql_literal(str(email))}"
            if account_id:
                where += f" AND AccountId = {soql_literal(str(account_id))}"
            soql = f"SELECT Id FROM Contact WHERE {where} ORDER BY CreatedDate LIMIT 1"  # noqa: S608
            found = next(iter(self.client.query(soql)), None)
            if found is not None:
                self._refresh_contact({"ContactId": found["Id"]}, member, force=True)
                return str(found["Id"])
        body = {k: member.get(k) for k in CONTACT_FIELDS if member.get(k)}
        body.setdefault("LastName", NO_LAST_NAME)
        if record.opportunity.get("AccountId"):
            body["AccountId"] = record.opportunity["AccountId"]
        return self.client.create("Contact", body)

    def _refresh_contact(
        self, row: Mapping[str, Any], member: Mapping[str, Any], force: bool = False
    ) -> bool:
        wanted = {k: member.get(k) for k in CONTACT_FIELDS if member.get(k)}
        changed = wanted if force else {k: v for k, v in wanted.items() if row.get(k) != v}
        if changed:
            self.client.update("Contact", str(row["ContactId"]), changed)
        return bool(changed)

    def _sync_solutions(self, record: CrmRecord, desired: Iterable[str]) -> bool:
        if record.solutions is None:
            return False
        n = self.names
        current = {str(row.get(n.solution_id_field)): row for row in record.solutions}
        wanted = list(dict.fromkeys(desired))
        for solution_id in wanted:
            if solution_id not in current:
                row = {"Name": solution_id[:80], n.solution_id_field: solution_id}
                self.client.create(
                    n.solution_object, {**row, n.solution_opportunity_field: record.id}
                )
        gone = [row for key, row in current.items() if key not in wanted]
        for row in gone:
            self.client.delete(n.solution_object, str(row["Id"]))
        return bool(gone) or any(s not in current for s in wanted)

    def mirror_note(self, opportunity_id: str, body: str | None) -> bool:
        """Keep the Note titled :data:`NOTE_TITLE` on the opportunity equal to Partner Center's
        notes (created, updated or emptied; compare before write)."""
        soql = (
            f"SELECT Id, Body FROM Note WHERE ParentId = {soql_literal(opportunity_id)} "  # noqa: S608
            f"AND Title = {soql_literal(NOTE_TITLE)} LIMIT 1"
        )
        found = next(iter(self.client.query(soql)), None)
        if found is None:
            if body:
                note = {"ParentId": opportunity_id, "Title": NOTE_TITLE, "Body": body}
                self.client.create("Note", note)
            return bool(body)
        if (found.get("Body") or "") == (body or ""):
            return False
        self.client.update("Note", str(found["Id"]), {"Body": body or ""})
        return True

    def _sync_team(self, record: CrmRecord, desired: Iterable[Mapping[str, Any]]) -> bool:
        """Add the desired members that are active users; remove members no longer desired.
        Members without a user are left to Partner Center (see :mod:`cosell.sync.team`)."""
        if record.team is None:
            return False
        current = {email_of(row): row for row in record.team}
        wanted = {email_of(member) for member in desired} - {""}
        added = [e for e in sorted(wanted) if e not in current and e in record.users]
        for email in added:
            member = {"OpportunityId": record.id, "UserId": record.users[email]}
            self.client.create(TEAM_OBJECT, {**member, "TeamMemberRole": TEAM_ROLE})
        gone = [row for email, row in current.items() if email not in wanted]
        for row in gone:
            self.client.delete(TEAM_OBJECT, str(row["MemberId"]))
        return bool(added or gone)


def _contact_key(row: Mapping[str, Any]) -> str:
    email = row.get("Email")
    if email:
        return str(email).strip().lower()
    return f"{row.get('FirstName') or ''} {row.get('LastName') or ''}".strip().lower()


def _same(current: Any, wanted: Any) -> bool:
    if isinstance(wanted, float | int) and not isinstance(wanted, bool):
        try:
            return current is not None and float(current) == float(wanted)
        except (TypeError, ValueError):
            return False
    return bool(current == wanted or (current in (None, "") and wanted in (None, "")))
