"""The opportunity's related rows, written to match what the sync agreed on.

- **Contact roles**: one per customer contact, matched by email (else name, see
  :func:`~cosell.sync.core.contacts.contact_key`). A contact on the opportunity is kept equal to
  the agreed member, emptied values included, so what was written is what is read back. A new
  member reuses the account's contact with the same email (its other details are kept) or
  becomes a new contact.
- **Microsoft Solution rows**: one per solution id.
- **Opportunity team members**: desired members that are active users (see
  :mod:`cosell.sync.core.team`).
- **The "Partner Center notes" Note**, equal to Partner Center's notes.

Each writer compares before it writes and answers whether it sent anything.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from typing import Any

from cosell.clients.salesforce import SalesforceClient
from cosell.clients.soql import soql_literal
from cosell.sync.core.contacts import CONTACT_FIELDS, NO_LAST_NAME, contact_key
from cosell.sync.core.names import CrmNames
from cosell.sync.core.team import email_of
from cosell.sync.sides.crm_record import CrmRecord, Row
from cosell.sync.sides.salesforce.schema import TEAM_OBJECT

TEAM_ROLE = "Sales Rep"
NOTE_TITLE = "Partner Center notes"


class RelatedRows:
    """Writes contact roles, solution rows, team members and the notes Note of opportunities."""

    def __init__(self, client: SalesforceClient, names: CrmNames) -> None:
        self.client = client
        self.names = names
        self._notes: dict[str, Row | None] = {}
        """The notes Note of opportunities as last read with them (``None``: none), so the
        mirror compares without a query of its own; taken by the next mirror."""

    def seen_note(self, opportunity_id: str, row: Mapping[str, Any] | None) -> None:
        """The notes Note read with the opportunity (``None`` when it has none)."""
        self._notes[opportunity_id] = dict(row) if row is not None else None

    # --- contacts --------------------------------------------------------------------------------

    def sync_contacts(self, record: CrmRecord, desired: Iterable[Mapping[str, Any]]) -> bool:
        current = {contact_key(row): row for row in record.contacts}
        wanted = {contact_key(member): member for member in desired}
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
        """The account's contact with this email (reused, its details filled in from the
        member), else a new one."""
        email = member.get("Email")
        account_id = record.opportunity.get("AccountId")
        if email:
            where = f"Email = {soql_literal(str(email))}"
            if account_id:
                where += f" AND AccountId = {soql_literal(str(account_id))}"
            soql = f"SELECT Id FROM Contact WHERE {where} ORDER BY CreatedDate LIMIT 1"  # noqa: S608
            found = next(iter(self.client.query(soql)), None)
            if found is not None:
                given = {k: member.get(k) for k in CONTACT_FIELDS if member.get(k)}
                if given:
                    self.client.update("Contact", str(found["Id"]), given)
                return str(found["Id"])
        body = {k: v for k, v in _contact_values(member).items() if v is not None}
        if account_id:
            body["AccountId"] = account_id
        return self.client.create("Contact", body)

    def _refresh_contact(self, row: Mapping[str, Any], member: Mapping[str, Any]) -> bool:
        """Make a contact on the opportunity equal to the member (a value it lost is emptied)."""
        wanted = _contact_values(member)
        changed = {k: v for k, v in wanted.items() if (row.get(k) or None) != v}
        if changed:
            self.client.update("Contact", str(row["ContactId"]), changed)
        return bool(changed)

    # --- solutions, team, notes ------------------------------------------------------------------

    def sync_solutions(self, record: CrmRecord, desired: Iterable[str]) -> bool:
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

    def sync_team(self, record: CrmRecord, desired: Iterable[Mapping[str, Any]]) -> bool:
        """Add the desired members that are active users; remove members no longer desired.
        Members without a user are left to Partner Center (see :mod:`cosell.sync.core.team`)."""
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

    def mirror_note(self, opportunity_id: str, body: str | None) -> bool:
        """Keep the Note titled :data:`NOTE_TITLE` on the opportunity equal to Partner Center's
        notes (created, updated or emptied; compare before write) against the Note read with
        the opportunity, else one read now."""
        if opportunity_id in self._notes:
            return self._mirror(opportunity_id, body, self._notes.pop(opportunity_id))
        soql = (
            f"SELECT Id, Body FROM Note WHERE ParentId = {soql_literal(opportunity_id)} "  # noqa: S608
            f"AND Title = {soql_literal(NOTE_TITLE)} LIMIT 1"
        )
        return self._mirror(opportunity_id, body, next(iter(self.client.query(soql)), None))

    def _mirror(
        self, opportunity_id: str, body: str | None, found: Mapping[str, Any] | None
    ) -> bool:
        if found is None:
            if body:
                note = {"ParentId": opportunity_id, "Title": NOTE_TITLE, "Body": body}
                self.client.create("Note", note)
            return bool(body)
        if (found.get("Body") or "") == (body or ""):
            return False
        self.client.update("Note", str(found["Id"]), {"Body": body or ""})
        return True


def _contact_values(member: Mapping[str, Any]) -> Row:
    """The Contact fields for a member (``None`` for a value it lacks; a last name always)."""
    values: Row = {k: member.get(k) or None for k in CONTACT_FIELDS}
    values["LastName"] = values["LastName"] or NO_LAST_NAME
    return values
