"""Customer contacts as the CRM holds them (pure).

Partner Center's ``customerProfile.team`` is a free list of members; the CRM holds each as a
Contact linked to the opportunity by a contact role, and can hold less:

- one contact per person: members are matched by email (else by name), so duplicates are one
  contact; a person whose email was corrected is still that person (:func:`renamed`);
- each value within its Contact field's length (``FirstName`` 40, ``LastName`` 80, ``Phone`` 40);
- a last name always (a member without one is stored with :data:`NO_LAST_NAME`, read back as no
  last name);
- at most ``partner_center.max_contacts`` of a referral's (:func:`capped`, on the Partner
  Center side only): the first ones in the members' order sync, the rest stay in Partner Center
  untouched (a write of the contacts keeps them, see
  :func:`cosell.sync.core.translate.to_partner_center_ops`) and are listed on the record and in
  the audit (:func:`over_cap`), never read as deleted.

:func:`as_held` puts canonical contacts in that form on *both* sides, so what a create writes is
what the CRM reads back and the base equals both sides right after it (no phantom change).
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from typing import Any

from cosell.sync.core.records import Value

CONTACT_FIELDS = ("FirstName", "LastName", "Email", "Phone")
"""The Contact fields a customer contact is read from and written to."""
NO_LAST_NAME = "(not given)"
"""Stored as ``LastName`` (required by the CRM) for a member without one."""
MAX_LENGTHS = {"first_name": 40, "last_name": 80, "phone": 40}
"""The Contact fields' lengths, by canonical member key (an email is never cut)."""


def contact_key(row: Mapping[str, Any]) -> str:
    """Who a CRM-shaped contact row is: its email, else its name (lower case)."""
    email = str(row.get("Email") or "").strip().lower()
    return email or contact_name(row)


def as_held(value: Value) -> Value:
    """Canonical contacts as the CRM can hold them: one per person (a duplicate's values fill
    the first one's gaps, never those that say who it is), values cut to the field lengths, no
    placeholder last name. Holding held contacts changes nothing."""
    if not isinstance(value, list):
        return value
    people: dict[str, dict[str, Value]] = {}
    for member in value:
        if isinstance(member, dict) and (held := _held(member)):
            key = member_key(held)
            first = people.get(key)
            people[key] = held if first is None else {**_gaps(held, first), **first}
    members = sorted(people.values(), key=member_order)
    return list[Value](members) or None


def _held(member: Mapping[str, Value]) -> dict[str, Value]:
    held: dict[str, Value] = {}
    for key, text in member.items():
        if key == "last_name" and text == NO_LAST_NAME:
            continue
        limit = MAX_LENGTHS.get(key)
        if isinstance(text, str) and limit is not None:
            text = text[:limit].strip()
        if text:
            held[key] = text
    return held


def _gaps(duplicate: Mapping[str, Value], first: Mapping[str, Value]) -> dict[str, Value]:
    """A duplicate's values that may fill the first member's gaps: with an email, the names
    and phone; without one (the name is who it is), the phone."""
    allowed = ("first_name", "last_name", "phone") if first.get("email") else ("phone",)
    return {k: v for k, v in duplicate.items() if k in allowed}


def member_key(member: Mapping[str, Value]) -> str:
    """Who a canonical member is (its email, else its name)."""
    email = str(member.get("email") or "").strip().lower()
    return email or member_name(member)


def contact_name(row: Mapping[str, Any]) -> str:
    """A CRM-shaped contact row's name (lower case; no placeholder last name)."""
    last = row.get("LastName") or ""
    last = "" if last == NO_LAST_NAME else last
    return f"{row.get('FirstName') or ''} {last}".strip().lower()


def member_name(member: Mapping[str, Value]) -> str:
    """A canonical member's name (lower case)."""
    row = {"FirstName": member.get("first_name"), "LastName": member.get("last_name")}
    return contact_name(row)


def renamed(
    gone: Mapping[str, Mapping[str, Any]],
    added: Mapping[str, Mapping[str, Any]],
    name: Callable[[Mapping[str, Any]], str],
) -> dict[str, str]:
    """People whose email changed, as ``{key added: key gone}``: a person who has an email is
    matched by it, so a corrected email reads as one person gone and another added. An added
    person is the gone one when both have an email and the same name, and no other person gone
    or added has that name (two people of one name stay two changes: a guess could merge two
    people into one). ``gone`` and ``added`` are rows by their key (:func:`contact_key`,
    :func:`member_key`), ``name`` reads a row's name."""

    def by_name(rows: Mapping[str, Mapping[str, Any]]) -> dict[str, list[str]]:
        found: dict[str, list[str]] = {}
        for key, row in rows.items():
            if (row.get("email") or row.get("Email")) and (who := name(row)):
                found.setdefault(who, []).append(key)
        return found

    before, after = by_name(gone), by_name(added)
    return {
        keys[0]: before[who][0]
        for who, keys in after.items()
        if len(keys) == 1 and len(before.get(who, ())) == 1
    }


def member_order(member: Mapping[str, Value]) -> tuple[str, str]:
    """The members transform's order (by email, then last name)."""
    return str(member.get("email", "")), str(member.get("last_name", ""))


def capped(value: Value, limit: int) -> Value:
    """Held contacts cut to the first ``limit`` (the members' order)."""
    if not isinstance(value, list) or len(value) <= limit:
        return value
    return value[:limit]


def over_cap(value: Value, limit: int) -> list[str]:
    """Who is left out by :func:`capped` (emails, else names)."""
    if not isinstance(value, list) or len(value) <= limit:
        return []
    return [member_key(m) for m in value[limit:] if isinstance(m, dict)]


def left_out_text(left_out: list[str], total: int, limit: int, shown: int = 20) -> str:
    """``9900 of 10000 customer contacts not synced (…): a@x, b@x and 9898 more``."""
    names = ", ".join(left_out[:shown])
    more = f" and {len(left_out) - shown} more" if len(left_out) > shown else ""
    return (
        f"{len(left_out)} of {total} customer contacts not synced (at most {limit} a referral: "
        f"partner_center.max_contacts; they stay in Partner Center): {names}{more}"
    )
