"""A deal's related records in HubSpot: its primary company (the customer), its contacts (the
customer's team) and the note mirroring Partner Center's notes.

Contacts are matched by email: an existing contact is reused and linked, never duplicated, and
a contact no longer wanted is unlinked from the deal, never deleted. A contact of the deal whose
email was corrected (the one contact of that name gone from the list, see
:func:`~cosell.sync.core.contacts.renamed`) gets the new email, unless another contact has it
already. Writes compare before they send.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable, Mapping
from datetime import datetime
from functools import partial
from typing import Any

from cosell.clients.hubspot import HubSpotClient, Record
from cosell.clients.hubspot_errors import holder_of
from cosell.errors import Conflict, RejectedError, StaleWrite
from cosell.sync.core.contacts import NO_LAST_NAME, contact_key, contact_name, renamed

Row = dict[str, Any]
DEAL_TO_PRIMARY_COMPANY = 5
PRIMARY_COMPANY_TO_DEAL = 6
DEAL_TO_CONTACT = 3
CONTACT_TO_DEAL = 4
NOTE_TO_DEAL = 214
NOTE_MARK = "Partner Center notes"
CONTACT_PROPERTIES = {
    "FirstName": "firstname",
    "LastName": "lastname",
    "Email": "email",
    "Phone": "phone",
}
CONTACT_NAMES = tuple(CONTACT_PROPERTIES.values())
"""The contact properties the engine reads."""


def contact_row(contact: Mapping[str, Any]) -> Row:
    """A HubSpot contact as the engine's contact row (``ContactId``, the contact fields, and
    ``ContactStamp``: its ``updatedAt`` as read)."""
    props = contact.get("properties") or {}
    row: Row = {"ContactId": str(contact["id"])}
    for field, prop in CONTACT_PROPERTIES.items():
        row[field] = props.get(prop) or None
    row["ContactStamp"] = contact.get("updatedAt")
    return row


class DealRelations:
    """Reads and writes of one portal's deal companies, contacts and notes."""

    def __init__(self, client: HubSpotClient, now: Callable[[], datetime]) -> None:
        self.client = client
        self.now = now

    def contacts(self, ids: list[str]) -> list[Row]:
        if not ids:
            return []
        found = self.client.batch_read("contacts", ids, list(CONTACT_PROPERTIES.values()))
        return sorted((contact_row(c) for c in found.results), key=lambda r: int(r["ContactId"]))

    def sync_contacts(
        self, deal_id: str, current: list[Row], desired: Iterable[Mapping[str, Any]]
    ) -> bool:
        have = {contact_key(row): row for row in current}
        wanted = {contact_key(member): member for member in desired}
        gone = {key: row for key, row in have.items() if key not in wanted}
        added = {key: member for key, member in wanted.items() if key not in have}
        corrected = renamed(gone, added, contact_name)
        sent = False
        for key, member in wanted.items():
            row = have.get(key)
            was = corrected.get(key)
            if was is not None:
                found = self._find(member) or self._correct(have[was], member)
                if found is None:  # the same person, their email corrected: one contact still
                    gone.pop(was)
                else:
                    self.client.associate("deals", deal_id, "contacts", found["ContactId"])
                sent = True
            elif row is None:
                self.link_contact(deal_id, member)
                sent = True
            else:
                sent |= self._refresh(row, member)
        for row in gone.values():
            self.client.dissociate("deals", deal_id, "contacts", str(row["ContactId"]))
            sent = True
        return sent

    def _find(self, member: Mapping[str, Any]) -> Row | None:
        """The portal's contact having the member's email (HubSpot keeps one contact an email)."""
        email = member.get("Email")
        if not email:
            return None
        flt = [{"filters": [{"propertyName": "email", "operator": "EQ", "value": str(email)}]}]
        found = self.client.search("contacts", flt, properties=list(CONTACT_NAMES), limit=1)
        return contact_row(found.results[0]) if found.results else None

    def link_contact(self, deal_id: str, member: Mapping[str, Any]) -> Row:
        """The customer's contact linked to the deal: the portal's contact of that email (as it
        is), else a new one made already linked (one request); its row as the engine reads it."""
        row = self._find(member)
        if row is None:
            values = _contact_values(member)
            try:
                made = self.client.create("contacts", values, [_to(deal_id, CONTACT_TO_DEAL)])
            except Conflict as exc:
                row = self._holder(exc)
            else:
                props = {**values, **(made.get("properties") or {})}
                return contact_row({**made, "properties": props})
        self.client.associate("deals", deal_id, "contacts", row["ContactId"])
        return row

    def _correct(self, row: Row, member: Mapping[str, Any]) -> Row | None:
        """Give the deal's contact the member's corrected email (and details); None when done,
        else the contact that has that email already (the search had not shown it yet)."""
        try:
            self._refresh(row, member)
        except RejectedError as exc:
            return self._holder(exc)
        return None

    def _holder(self, error: RejectedError) -> Row:
        """The contact HubSpot says holds the email a write set; the error again if none."""
        holder = holder_of(error)
        found = self.contacts([holder]) if holder else []
        if not found:
            raise error
        return found[0]

    def _refresh(self, row: Row, member: Mapping[str, Any]) -> bool:
        """Give the deal's contact the member's details, after checking it is as it was read
        (HubSpot has no conditional update, as for the deal: see :mod:`.side`)."""
        changed = {
            CONTACT_PROPERTIES[k]: member[k]
            for k in CONTACT_PROPERTIES
            if member.get(k) and member.get(k) != row.get(k)
        }
        if changed:
            unchanged = partial(self._check_unchanged, row)  # before every attempt
            self.client.update("contacts", str(row["ContactId"]), changed, unchanged=unchanged)
        return bool(changed)

    def _check_unchanged(self, row: Row) -> None:
        """``StaleWrite`` when the contact changed since it was read (a seller's edit the
        write would overwrite): the engine reads the deal again and plans anew."""
        stamp = row.get("ContactStamp")
        if stamp is None:
            return
        contact_id = str(row["ContactId"])
        now = self.client.get("contacts", contact_id, ["lastmodifieddate"])
        if now.get("updatedAt") != stamp:
            raise StaleWrite(f"contact {contact_id} changed since it was read")

    def new_company(self, values: Mapping[str, Any], deal_id: str | None = None) -> Record:
        """A new company of ``values``, the deal's primary one when ``deal_id`` is given (made
        linked, in one request); its id and properties (what was sent, and what the answer
        says it holds)."""
        body = {k: str(v) for k, v in values.items() if v is not None}
        body.setdefault("name", "Unnamed customer")
        links = [_to(deal_id, PRIMARY_COMPANY_TO_DEAL)] if deal_id else []
        made = self.client.create("companies", body, links)
        return {**made, "properties": {**body, **(made.get("properties") or {})}}

    def link_company(self, deal_id: str, company_id: str) -> None:
        self.client.associate("deals", deal_id, "companies", company_id, [DEAL_TO_PRIMARY_COMPANY])

    def new_note(self, deal_id: str, body: str) -> None:
        """The notes note of a deal that has none yet (a deal cosell just made)."""
        text = f"{NOTE_MARK}\n{body}"
        properties = {"hs_note_body": text, "hs_timestamp": self.now().isoformat()}
        self.client.create("notes", properties, [_to(deal_id, NOTE_TO_DEAL)])

    def mirror_note(self, deal_id: str, body: str | None) -> bool:
        """Keep one note on the deal equal to Partner Center's notes (compare before write)."""
        notes = self.client.associations("deals", deal_id, "notes")
        ids = [str(n["toObjectId"]) for n in notes]
        read = self.client.batch_read("notes", ids, ["hs_note_body"]).results if ids else []
        ours = next(
            (
                n
                for n in read
                if str(n["properties"].get("hs_note_body") or "").startswith(NOTE_MARK)
            ),
            None,
        )
        text = f"{NOTE_MARK}\n{body}" if body else ""
        if ours is None:
            if body:
                self.new_note(deal_id, body)
            return bool(body)
        if (ours["properties"].get("hs_note_body") or "") == text:
            return False
        self.client.update("notes", str(ours["id"]), {"hs_note_body": text or NOTE_MARK})
        return True


def _to(record_id: str, type_id: int) -> dict[str, Any]:
    """An association given at create: to ``record_id``, of HubSpot-defined ``type_id``."""
    types = [{"associationCategory": "HUBSPOT_DEFINED", "associationTypeId": type_id}]
    return {"to": {"id": record_id}, "types": types}


def _contact_values(member: Mapping[str, Any]) -> Row:
    values = {CONTACT_PROPERTIES[k]: member.get(k) for k in CONTACT_PROPERTIES if member.get(k)}
    values.setdefault("lastname", NO_LAST_NAME)
    return values
