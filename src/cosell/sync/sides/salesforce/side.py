"""The CRM side of a reconcile: read an opportunity with its related rows, write changes back.

The record read is a :class:`~cosell.sync.sides.crm_record.CrmRecord`; related rows are written by
:class:`~cosell.sync.sides.salesforce.rows.RelatedRows`.

Reads are one SOQL query for the opportunity (its account fields through ``Account.``) plus one
per related list: contact roles (with the contacts), and the Microsoft Solution rows. Writes to
the opportunity carry ``If-Unmodified-Since: <LastModifiedDate read>``, so an edit made since
the read answers 412 (``StaleWrite``) and the engine re-reads and re-plans. Creates upsert by
the referral id field, so a repeated create updates the one opportunity it made before.
"""

from __future__ import annotations

import re
from collections.abc import Mapping
from datetime import date, timedelta
from functools import cached_property
from typing import Any

from cosell.clients.salesforce import SalesforceClient
from cosell.clients.soql import soql_literal
from cosell.errors import NotFound
from cosell.sync.core.contacts import CONTACT_FIELDS
from cosell.sync.core.records import CrmWrite
from cosell.sync.core.team import email_of
from cosell.sync.sides.crm_record import CrmRecord, Row, clean_row
from cosell.sync.sides.salesforce.accounts import AccountMatcher, Customer, Match
from cosell.sync.sides.salesforce.rows import NOTE_TITLE, TEAM_ROLE, RelatedRows
from cosell.sync.sides.salesforce.schema import TEAM_OBJECT, CrmSchema

__all__ = ["NOTE_TITLE", "TEAM_ROLE", "CrmRecord", "CrmSide"]

DEFAULT_CLOSE_DAYS = 90
RECORD_ID = re.compile(r"^[A-Za-z0-9]{15}(?:[A-Za-z0-9]{3})?$")


class CrmSide:
    """Reads and guarded writes of opportunities over a :class:`SalesforceClient`."""

    def __init__(self, client: SalesforceClient, schema: CrmSchema, clock_today: Any) -> None:
        self.client = client
        self.schema = schema
        self.names = schema.names
        self._today = clock_today
        self.rows = RelatedRows(client, schema.names)

    # --- reading ---------------------------------------------------------------------------------

    def read(self, opportunity_id: str) -> CrmRecord | None:
        """The opportunity and its related rows now, or ``None`` when it does not exist."""
        where = f"Id = {soql_literal(opportunity_id)}"
        rows = list(self.client.query(f"SELECT {self._select} FROM Opportunity WHERE {where}"))  # noqa: S608
        if not rows:
            return None
        opportunity = clean_row(rows[0])
        account = clean_row(opportunity.pop("Account", None) or {})
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
            contact = clean_row(row.get("Contact") or {})
            rows.append({"RoleId": row["Id"], "ContactId": row["ContactId"], **contact})
        return rows

    def _team(self, opportunity_id: str) -> list[Row]:
        soql = (
            "SELECT Id, UserId, User.FirstName, User.LastName, User.Email "  # noqa: S608
            f"FROM {TEAM_OBJECT} WHERE OpportunityId = {soql_literal(opportunity_id)}"
        )
        rows = []
        for row in self.client.query(soql):
            user = clean_row(row.get("User") or {})
            rows.append({"MemberId": row["Id"], "UserId": row["UserId"], **user})
        return rows

    def match_account(self, customer: Customer) -> Match:
        """The customer's account by the rules of :class:`AccountMatcher`."""
        return AccountMatcher(self.client, self.schema).match(customer)

    def is_record_id(self, text: str) -> bool:
        """A Salesforce record id (15 or 18 characters)."""
        return bool(RECORD_ID.match(text))

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
        return [clean_row(row) for row in self.client.query(soql)]

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
            sent |= self.rows.sync_contacts(record, write.contacts)
        if write.solutions is not None:
            sent |= self.rows.sync_solutions(record, write.solutions)
        if write.team is not None:
            sent |= self.rows.sync_team(record, write.team)
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
        :mod:`cosell.sync.sides.salesforce.accounts`); without one, a new account is made from the
        customer."""
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
            self.rows.sync_contacts(record, write.contacts)
        if write.solutions is not None:
            self.rows.sync_solutions(record, write.solutions)
        if write.team is not None:
            self.rows.sync_team(record, write.team)
        return opportunity_id

    def _fresh(self, opportunity_id: str, fields: Mapping[str, Any]) -> CrmRecord:
        """A just-created opportunity as the upsert left it: no contact roles or solution rows
        yet, so none are read (the team is, since an org may add default members)."""
        opportunity = {"Id": opportunity_id, "AccountId": fields.get("AccountId")}
        team = self._team(opportunity_id) if self.schema.team_synced else None
        solution_rows: list[Row] | None = [] if self.schema.has_solution_object else None
        return CrmRecord(opportunity, {}, [], solution_rows, team, self.active_users)

    def mirror_note(self, opportunity_id: str, body: str | None) -> bool:
        """See :meth:`RelatedRows.mirror_note`."""
        return self.rows.mirror_note(opportunity_id, body)

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


def _same(current: Any, wanted: Any) -> bool:
    if isinstance(wanted, float | int) and not isinstance(wanted, bool):
        try:
            return current is not None and float(current) == float(wanted)
        except (TypeError, ValueError):
            return False
    return bool(current == wanted or (current in (None, "") and wanted in (None, "")))
