"""The partner sales team: Partner Center's ``team`` ⇄ Opportunity team members, by email.

An opportunity team member must be an active Salesforce User, but Partner Center's team may list
anyone. So nothing is wiped, the CRM side of the field is *what the CRM can hold plus what it
cannot*:

- members of the opportunity team (Users), shown with Partner Center's details for the same
  email (names and phones differ between the systems; the email is the identity);
- Partner Center members whose email matches no active User, carried as they are.

Those unmatched members are therefore equal on both sides: they are never removed from Partner
Center, never added to the CRM, and reported (audited) when the team changes. Adding or removing
a member that maps to a User flows both ways.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping, Sequence
from typing import Any

Row = dict[str, Any]
CRM_KEYS = {"firstName": "FirstName", "lastName": "LastName", "email": "Email"}
CRM_KEYS["phoneNumber"] = "Phone"
UNMATCHED = "{email} matches no active Salesforce user: kept in Partner Center only"


def email_of(row: Mapping[str, Any], key: str = "Email") -> str:
    return str(row.get(key) or "").strip().lower()


def as_crm_row(member: Mapping[str, Any]) -> Row:
    """A Partner Center ``Member`` in the CRM row shape translation reads."""
    return {crm: member.get(pc) for pc, crm in CRM_KEYS.items()}


def crm_view(
    team_rows: Sequence[Mapping[str, Any]],
    pc_members: Iterable[Mapping[str, Any]],
    user_emails: frozenset[str],
) -> list[Row]:
    """The team as the CRM side of the field: team members plus unmatched Partner Center ones.

    Every Partner Center member with a team member's email stands for it (a list with the same
    person twice reads back as it is), and members without an email are carried as they are."""
    by_email: dict[str, list[Row]] = {}
    for member in pc_members:
        by_email.setdefault(email_of(member, "email"), []).append(as_crm_row(member))
    rows: list[Row] = []
    for row in team_rows:
        email = email_of(row)
        rows += (by_email.get(email) if email else None) or [dict(row)]
    held = {email_of(r) for r in rows}
    for email, members in by_email.items():
        if not email or (email not in user_emails and email not in held):
            rows += members
    return rows


def unmatched(desired: Iterable[Mapping[str, Any]], user_emails: frozenset[str]) -> list[str]:
    """Emails in a desired team (CRM row shape) that no active User has."""
    return sorted({email_of(m) for m in desired} - user_emails - {""})
