"""The opportunity's related rows, written to match what the sync agreed on.

- **Contact roles**: one per customer contact, matched by email (else name, see
  :func:`~cosell.sync.core.contacts.contact_key`). A contact on the opportunity is kept equal to
  the agreed member, emptied values included, so what was written is what is read back. A new
  member reuses the account's contact with the same email (its other details are kept), else
  is a contact on the opportunity whose email was corrected (the one contact of that name gone
  from the list: its email is updated, no second contact made), else becomes a new contact.
- **Microsoft Solution rows**: one per solution id.
- **Opportunity team members**: desired members that are active users (see
  :mod:`cosell.sync.core.team`).
- **The "Partner Center notes" Note**, equal to Partner Center's notes.

Each writer compares before it writes, adds its writes to the opportunity's
:class:`~cosell.sync.sides.salesforce.writes.Work` (sent as one request with the opportunity's
own) and answers whether it added anything. The only reads are one query for the account's
contacts having a new member's email, and the active users when a member is added to the team.
"""

from __future__ import annotations

import threading
from collections import OrderedDict
from collections.abc import Callable, Iterable, Mapping
from dataclasses import dataclass
from typing import Any, Final

from cosell.clients.salesforce import SalesforceClient
from cosell.clients.soql import soql_literal
from cosell.sync.core.contacts import (
    CONTACT_FIELDS,
    NO_LAST_NAME,
    contact_key,
    contact_name,
    renamed,
)
from cosell.sync.core.names import CrmNames
from cosell.sync.core.team import email_of
from cosell.sync.sides.crm_record import Row
from cosell.sync.sides.salesforce.schema import TEAM_OBJECT
from cosell.sync.sides.salesforce.writes import Work

TEAM_ROLE = "Sales Rep"
NOTE_TITLE = "Partner Center notes"
NOTES_KEPT = 1000
"""Notes Notes kept from the reads for the writes that follow them (the reconciles in flight at
once are far fewer): an opportunity whose Note was let go has it read again (one query) when its
Note is written, never taken as having none."""
_UNKNOWN: Final = object()
Guard = Callable[[Mapping[str, Any]], Mapping[str, str] | None]
"""The headers guarding a write to a row as it was read (``None``: unguarded)."""


@dataclass(frozen=True)
class Target:
    """Where related rows go: the opportunity's id or the ``@{ref.id}`` of its create, and its
    account's (``account_is_new``: created by the same request, so it has no contacts yet)."""

    opportunity: str
    account: str | None
    account_is_new: bool = False


class RelatedRows:
    """Adds the writes of contact roles, solution rows, team members and the notes Note."""

    def __init__(self, client: SalesforceClient, names: CrmNames) -> None:
        self.client = client
        self.names = names
        self._notes: OrderedDict[str, Row | None] = OrderedDict()
        """The notes Note of opportunities as last read or written (``None``: none), so the
        mirror compares without a query of its own; taken by the next mirror, the oldest let go
        beyond :data:`NOTES_KEPT` (a check reads every opportunity and mirrors none)."""
        self._notes_lock = threading.Lock()

    def seen_note(self, opportunity_id: str, row: Mapping[str, Any] | None) -> None:
        """The notes Note read with (or written to) the opportunity; ``None`` when it has none."""
        with self._notes_lock:
            self._notes[opportunity_id] = dict(row) if row is not None else None
            self._notes.move_to_end(opportunity_id)
            while len(self._notes) > NOTES_KEPT:
                self._notes.popitem(last=False)

    @property
    def notes_held(self) -> int:
        """How many opportunities' Notes are kept from their reads."""
        return len(self._notes)

    def _known_note(self, opportunity_id: str, *, take: bool) -> Row | None:
        """The opportunity's Note as last read or written, else read now."""
        with self._notes_lock:
            found = (self._notes.pop if take else self._notes.get)(opportunity_id, _UNKNOWN)
        if found is not _UNKNOWN:
            return found  # type: ignore[return-value]
        soql = (
            f"SELECT Id, Body FROM Note WHERE ParentId = {soql_literal(opportunity_id)} "  # noqa: S608
            f"AND Title = {soql_literal(NOTE_TITLE)} LIMIT 1"
        )
        return next(iter(self.client.query(soql)), None)

    # --- contacts --------------------------------------------------------------------------------

    def contacts(
        self,
        work: Work,
        target: Target,
        current: Iterable[Mapping[str, Any]],
        desired: Iterable[Mapping[str, Any]],
        guard: Guard | None = None,
    ) -> bool:
        """Add the writes making the opportunity's contacts the desired members; ``guard``
        gives the headers of a write to a contact read with the opportunity (its
        ``If-Unmodified-Since``), so an edit a seller made to it since the read fails the
        request instead of being written over."""
        current_rows = {contact_key(row): row for row in current}
        wanted = {contact_key(member): member for member in desired}
        new = [member for key, member in wanted.items() if key not in current_rows]
        found = self._existing_contacts(target, new)
        corrected = _corrected(current_rows, wanted, new, found)
        before = len(work.nodes)
        for member in new:
            was = corrected.get(contact_key(member))
            if was is not None:  # the same person, their email corrected: one Contact still
                self._refresh_contact(work, current_rows[was], member, guard)
                continue
            contact = found.get(str(member.get("Email") or "").casefold())
            if contact is not None:
                given = {k: member.get(k) for k in CONTACT_FIELDS if member.get(k)}
                if given:
                    work.update("Contact", contact, given)
            else:
                body = {k: v for k, v in _contact_values(member).items() if v is not None}
                if target.account:
                    body["AccountId"] = target.account
                contact = work.create("Contact", body, "contact")
            role = {"OpportunityId": target.opportunity, "ContactId": contact}
            if self.names.contact_role:
                role["Role"] = self.names.contact_role
            work.create("OpportunityContactRole", role, "role")
        kept = set(corrected.values())
        for key, row in current_rows.items():
            if key in wanted:
                self._refresh_contact(work, row, wanted[key], guard)
            elif key not in kept:
                work.delete("OpportunityContactRole", str(row["RoleId"]))
        return len(work.nodes) > before

    def _existing_contacts(
        self, target: Target, members: Iterable[Mapping[str, Any]]
    ) -> dict[str, str]:
        """Contacts of the account (of any account when the opportunity has none) having a new
        member's email, oldest first, by lower-case email: one query for all of them."""
        emails = sorted({str(m["Email"]) for m in members if m.get("Email")})
        if not emails or target.account_is_new:
            return {}
        where = f"Email IN ({', '.join(soql_literal(e) for e in emails)})"
        if target.account:
            where += f" AND AccountId = {soql_literal(target.account)}"
        soql = f"SELECT Id, Email FROM Contact WHERE {where} ORDER BY CreatedDate"  # noqa: S608
        found: dict[str, str] = {}
        for row in self.client.query(soql):
            found.setdefault(str(row.get("Email") or "").casefold(), str(row["Id"]))
        return found

    def _refresh_contact(
        self,
        work: Work,
        row: Mapping[str, Any],
        member: Mapping[str, Any],
        guard: Guard | None,
    ) -> None:
        """Make a contact on the opportunity equal to the member (a value it lost is emptied)."""
        wanted = _contact_values(member)
        changed = {k: v for k, v in wanted.items() if (row.get(k) or None) != v}
        if changed:
            headers = guard(row) if guard is not None else None
            work.update("Contact", str(row["ContactId"]), changed, headers)

    # --- solutions, team, notes ------------------------------------------------------------------

    def solutions(
        self,
        work: Work,
        target: Target,
        current: Iterable[Mapping[str, Any]],
        desired: Iterable[str],
        titles: Mapping[str, str] | None = None,
    ) -> bool:
        """Add and remove solution rows to match ``desired`` ids; a new row gets its name from
        ``titles`` (the referral's solution names) when the org has the name column."""
        n = self.names
        rows = {str(row.get(n.solution_id_field)): row for row in current}
        wanted = list(dict.fromkeys(desired))
        before = len(work.nodes)
        for solution_id in wanted:
            if solution_id not in rows:
                new = {"Name": solution_id[:80], n.solution_id_field: solution_id}
                new[n.solution_opportunity_field] = target.opportunity
                title = (titles or {}).get(solution_id)
                if n.solution_name_field and title:
                    new[n.solution_name_field] = title[:255]
                work.create(n.solution_object, new, "solution")
        for key, old in rows.items():
            if key not in wanted:
                work.delete(n.solution_object, str(old["Id"]))
        return len(work.nodes) > before

    def team(
        self,
        work: Work,
        target: Target,
        current: Iterable[Mapping[str, Any]],
        desired: Iterable[Mapping[str, Any]],
        users: Callable[[], Mapping[str, str]],
    ) -> bool:
        """Add the desired members that are active users (read only when one is to be added);
        remove members no longer desired. Members without a user are left to Partner Center
        (see :mod:`cosell.sync.core.team`)."""
        members = {email_of(row): row for row in current}
        wanted = {email_of(member) for member in desired} - {""}
        before = len(work.nodes)
        missing = sorted(e for e in wanted if e not in members)
        active: Mapping[str, str] = users() if missing else {}
        for email in (e for e in missing if e in active):
            member = {"OpportunityId": target.opportunity, "UserId": active[email]}
            work.create(TEAM_OBJECT, {**member, "TeamMemberRole": TEAM_ROLE}, "member")
        for email, row in members.items():
            if email not in wanted:
                work.delete(TEAM_OBJECT, str(row["MemberId"]))
        return len(work.nodes) > before

    def note(self, work: Work, target: Target, body: str | None) -> str | None:
        """Add the notes Note's write when it differs from what was read (a new opportunity has
        none); the Note's id or the reference of its create, ``None`` when there is no Note."""
        opportunity_id = target.opportunity
        found = (
            None if opportunity_id.startswith("@") else self._known_note(opportunity_id, take=False)
        )
        if found is None:
            if not body:
                return None
            note = {"ParentId": opportunity_id, "Title": NOTE_TITLE, "Body": body}
            return work.create("Note", note, "note")
        if (found.get("Body") or "") != (body or ""):
            work.update("Note", str(found["Id"]), {"Body": body or ""})
        return str(found["Id"])

    def mirror_note(self, opportunity_id: str, body: str | None) -> bool:
        """Keep the Note titled :data:`NOTE_TITLE` on the opportunity equal to Partner Center's
        notes (created, updated or emptied; compare before write) against the Note read with
        the opportunity, else one read now."""
        return self._mirror(opportunity_id, body, self._known_note(opportunity_id, take=True))

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


def _corrected(
    current: Mapping[str, Mapping[str, Any]],
    wanted: Mapping[str, Mapping[str, Any]],
    new: Iterable[Mapping[str, Any]],
    found: Mapping[str, str],
) -> dict[str, str]:
    """New members who are a contact on the opportunity whose email was corrected (see
    :func:`~cosell.sync.core.contacts.renamed`), by new key to the contact's key. A member
    whose email the account's contacts already have is that contact, not a correction."""
    gone = {key: row for key, row in current.items() if key not in wanted}
    added = {
        contact_key(member): member
        for member in new
        if str(member.get("Email") or "").casefold() not in found
    }
    return renamed(gone, added, contact_name)


def _contact_values(member: Mapping[str, Any]) -> Row:
    """The Contact fields for a member (``None`` for a value it lacks; a last name always)."""
    values: Row = {k: member.get(k) or None for k in CONTACT_FIELDS}
    values["LastName"] = values["LastName"] or NO_LAST_NAME
    return values
