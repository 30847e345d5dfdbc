"""The HubSpot CRM side of a reconcile: read a deal with its company and contacts, write
changes, create idempotently, find by referral id, and list the deals a seller flagged.

The record handed to the engine is a :class:`~cosell.sync.sides.crm_record.CrmRecord` whose fields
carry the mapping's HubSpot property names (plus ``Id``, ``AccountId`` for the primary
company, and ``LastModifiedDate``/``SystemModstamp`` from ``hs_lastmodifieddate``).

HubSpot has no conditional update, so a write first reads the deal's ``hs_lastmodifieddate``
and answers ``StaleWrite`` when it moved since the record was read: the engine re-reads and
re-plans instead of overwriting an edit (a narrow race remains between that read and the
write). The read is made again before every attempt of the write: a write the client retries
after a failed attempt waits seconds first, time enough for a person's edit. A write to one of
the deal's contacts checks the contact's ``updatedAt`` the same way.
Creates upsert by the unique referral id property, so a repeated create finds the deal it made
before instead of making a second one.
"""

from __future__ import annotations

import re
from collections.abc import Callable, Iterator, Mapping
from dataclasses import replace
from datetime import date, datetime
from functools import cached_property, partial
from typing import Any

from cosell.clients.hubspot import HubSpotClient
from cosell.errors import ConfigError, NotFound, StaleWrite
from cosell.sync.core.mapping import CRM_RELATED_LISTS, SyncMapping
from cosell.sync.core.names import CrmNames
from cosell.sync.core.plan import default_close_date
from cosell.sync.core.records import CrmWrite
from cosell.sync.core.translate import SOLUTIONS_PATH
from cosell.sync.sides.crm_record import (
    CrmRecord,
    Made,
    Written,
    row_version,
    written_fingerprint,
)
from cosell.sync.sides.hubspot.changes import changed_since
from cosell.sync.sides.hubspot.related import CONTACT_NAMES, CONTACT_PROPERTIES, DealRelations
from cosell.sync.sides.hubspot.values import Stages, from_hubspot, to_hubspot
from cosell.sync.sides.hubspot.versions import (
    ACCOUNT,
    CONTACT,
    STAMP,
    DealVersion,
    related_digest,
)
from cosell.sync.sides.salesforce.accounts import Customer, Match, name_token, same_customer
from cosell.sync.sides.salesforce.schema import CrmSchema, fit

_DATE = re.compile(r"^\d{4}-\d{2}-\d{2}$")
ALWAYS = ("hs_object_id", "hs_lastmodifieddate", "dealname", "dealstage", "pipeline")

Row = dict[str, Any]


class HubSpotSide:
    """Reads and checked writes of deals over a :class:`HubSpotClient`."""

    def __init__(
        self,
        client: HubSpotClient,
        mapping: SyncMapping,
        clock_now: Callable[[], datetime],
        *,
        pipeline: str = "default",
    ) -> None:
        self.client = client
        self.mapping = mapping
        self.pipeline = pipeline
        self._now = clock_now
        self.relations = DealRelations(client, clock_now)
        self.referral_property = mapping.referral_id_field
        self.flag_property = mapping.crm.sync_flag_field
        self._noted: dict[str, str] = {}
        """Deal id -> the notes a create just wrote to its new note, ``""`` for none (taken by
        the mirror that follows, which then has nothing to send)."""

    # --- schema ------------------------------------------------------------------------------
    @cached_property
    def deal_types(self) -> dict[str, str]:
        """Deal property name → HubSpot type (one properties call, kept for the side's life)."""
        return {p["name"]: p["type"] for p in self.client.properties("deals")}

    @cached_property
    def schema(self) -> CrmSchema:
        """The mapping fitted to the portal's deal and company properties (described once)."""
        deal = frozenset(self.deal_types)
        company = frozenset(p["name"] for p in self.client.properties("companies"))
        crm = self.mapping.crm
        products = next(
            (s.crm for s in self.mapping.fields.values() if s.partner_center == SOLUTIONS_PATH),
            None,
        )
        names = CrmNames(
            sync_flag_field=crm.sync_flag_field,
            referral_id_field=self.referral_property,
            status_field=crm.status_field if crm.status_field in deal else None,
            error_field=crm.error_field if crm.error_field in deal else None,
            audit_field=crm.audit_field if crm.audit_field in deal else None,
            products_field=products if products in deal else None,
            solution_object="",
            solution_opportunity_field="",
            solution_id_field=crm.solution_id_field,
        )
        return fit(self.mapping, names, deal, company, False, has_team=False)

    @cached_property
    def stages(self) -> Stages:
        found = next((p for p in self.client.pipelines() if p["id"] == self.pipeline), None)
        if found is None:
            raise NotFound(f"no deal pipeline {self.pipeline!r} in this portal")
        return Stages.of(found)

    @cached_property
    def deal_properties(self) -> list[str]:
        mapped = [s.crm for s in self.mapping.fields.values()]
        owned = [
            self.mapping.crm.status_field,
            self.mapping.crm.error_field,
            self.mapping.crm.audit_field,
            self.flag_property,
        ]
        names = [
            n for n in (*ALWAYS, *mapped, *owned) if n not in CRM_RELATED_LISTS and "." not in n
        ]
        return [n for n in dict.fromkeys(names) if n in self.deal_types]

    @cached_property
    def _wanted(self) -> frozenset[str]:
        return frozenset(self.deal_properties)

    @cached_property
    def version(self) -> DealVersion:
        """The properties that tell one version of a deal from another (see
        :mod:`cosell.sync.sides.hubspot.versions`); the poll searches with them."""
        return DealVersion.of(self.deal_properties)

    @cached_property
    def company_properties(self) -> list[str]:
        mapped = [s.crm for s in self.mapping.fields.values() if s.crm.startswith("Account.")]
        return [n.removeprefix("Account.") for n in mapped]

    # --- reading -----------------------------------------------------------------------------
    def read_fresh(self, deal_id: str, read_after: datetime) -> CrmRecord | None:
        """HubSpot's poll reads stamps only: there is never a fresh row to take."""
        return None

    def read(self, deal_id: str) -> CrmRecord | None:
        """The deal with its primary company and contacts now, or ``None`` if there is none."""
        try:
            deal = self.client.get(
                "deals", deal_id, self.deal_properties, associations=["companies", "contacts"]
            )
        except NotFound:
            return None
        return self._record(deal)

    def _record(self, deal: Mapping[str, Any]) -> CrmRecord:
        linked = deal.get("associations") or {}
        company_id = _primary(linked.get("companies"))
        contact_ids = sorted(
            {str(r["id"]) for r in (linked.get("contacts") or {}).get("results", [])}
        )
        account: Row = {}
        if company_id and self.company_properties:
            account = self._account(
                self.client.get("companies", company_id, self.company_properties)
            )
        contacts = self.relations.contacts(contact_ids)
        return self._deal_record(str(deal["id"]), deal["properties"], company_id, account, contacts)

    def _deal_record(
        self,
        deal_id: str,
        properties: Mapping[str, Any],
        company_id: str | None,
        account: Row,
        contacts: list[Row],
    ) -> CrmRecord:
        wanted = self._wanted
        properties = {k: v for k, v in properties.items() if k in wanted}
        values = from_hubspot(properties, self.stages, self.deal_types)
        stamp = properties.get(STAMP)
        opportunity: Row = {
            **values,
            "Id": deal_id,
            "AccountId": company_id,
            "LastModifiedDate": stamp,
            "SystemModstamp": stamp,
        }
        return CrmRecord(
            opportunity,
            account,
            contacts,
            None,
            None,
            versions=self._related_versions(company_id, account, contacts),
            fingerprint=self.version(properties),
            raw=dict(properties),
        )

    def _related_versions(
        self, company_id: str | None, account: Row, contacts: list[Row]
    ) -> dict[str, str]:
        """The company's and contacts' versions as read, by ``<signal>:<id>``: the digest of
        the values the engine reads of each (the related-record poll selects the same, see
        :mod:`cosell.signals.hubspot_related`)."""
        found: dict[str, str] = {}
        if company_id and self.company_properties:
            digest = related_digest(self.company_properties, account)
            found[f"{ACCOUNT}:{company_id}"] = row_version("", digest)
        for row in contacts:
            values = {prop: row.get(field) for field, prop in CONTACT_PROPERTIES.items()}
            digest = related_digest(CONTACT_NAMES, values)
            found[f"{CONTACT}:{row['ContactId']}"] = row_version("", digest)
        return found

    def _after_write(
        self, record: CrmRecord, sent: Mapping[str, str], answer: Mapping[str, Any]
    ) -> CrmRecord | None:
        """The deal as an update left it: the read's properties, what was sent, and what the
        answer says the deal now holds (its stamp among them); ``None`` when the read kept no
        properties or the answer no stamp (the poll then finds the write as a change)."""
        if record.raw is None:
            return None
        properties = {**record.raw, **sent, **(answer.get("properties") or {})}
        if not properties.get(STAMP):
            return None
        company = record.opportunity.get("AccountId")
        after = self._deal_record(
            record.id, properties, company, dict(record.account), list(record.contacts)
        )
        made = after.fingerprint or ""
        return replace(after, fingerprint=written_fingerprint(made, self.version(record.raw)))

    def find_by_referral(self, referral_id: str) -> str | None:
        """The deal holding ``referral_id`` in the unique referral id property, if any."""
        try:
            found = self.client.get(
                "deals", referral_id, ["hs_object_id"], id_property=self.referral_property
            )
        except NotFound:
            return None
        return str(found["id"])

    find_by_external_id = find_by_referral

    def find_deleted_by_referral(self, referral_id: str) -> str | None:
        """The archived deal holding ``referral_id`` (HubSpot's recycle bin), if any."""
        try:
            found = self.client.get(
                "deals",
                referral_id,
                ["hs_object_id"],
                id_property=self.referral_property,
                archived=True,
            )
        except NotFound:
            return None
        return str(found["id"])

    def flagged_or_linked(self) -> list[str]:
        """Every deal flagged for sync or already holding a referral id (search, both paged)."""
        groups = [
            {"filters": [{"propertyName": self.flag_property, "operator": "EQ", "value": "true"}]},
            {"filters": [{"propertyName": self.referral_property, "operator": "HAS_PROPERTY"}]},
        ]
        rows = self.client.search_all("deals", groups, properties=["hs_object_id"])
        return sorted({str(r["id"]) for r in rows}, key=int)

    def changes_since(self, since: datetime | None) -> Iterator[tuple[str, datetime]]:
        """``(deal id, hs_lastmodifieddate)`` of deals changed at or after ``since``."""
        return changed_since(self.client, since)

    def match_account(self, customer: Customer) -> Match:
        """The customer's company: companies named alike (by their longest word), kept when
        :func:`same_customer` agrees on name, country and postal code."""
        token = name_token(customer.name)
        if token is None:
            return Match("none")
        flt = [
            {"filters": [{"propertyName": "name", "operator": "CONTAINS_TOKEN", "value": token}]}
        ]
        found = self.client.search(
            "companies", flt, properties=["name", "country", "zip"], limit=200
        )
        rows = [_company_row(c) for c in found.results]
        rows = [r for r in rows if same_customer(customer, r)]
        if len(rows) == 1:
            return Match("name", str(rows[0]["Id"]), rows)
        return Match("name", None, rows) if rows else Match("none")

    def is_record_id(self, text: str) -> bool:
        """A HubSpot record id: digits."""
        return text.isdigit()

    def import_lead(self, referral_id: str, fields: Mapping[str, Any]) -> str:
        """HubSpot has no Salesforce-style lead object here: leads import as deals."""
        raise ConfigError(
            "partner_center.import_leads_as",
            f"'lead' needs Salesforce; with HubSpot leads import as deals (referral {referral_id})",
        )

    def active_users(self) -> dict[str, str]:
        """HubSpot deals have no opportunity team to match users for."""
        return {}

    # --- writing -----------------------------------------------------------------------------
    def update(self, record: CrmRecord, write: CrmWrite, extra: Mapping[str, Any]) -> Written:
        """Write changed properties (checked against the read's stamp) and related rows. When
        only the deal's own properties were written, the answer tells the version the write
        made (the engine keeps it, so the poll knows the write as cosell's own)."""
        changes = _changed(record.opportunity, self._known({**write.opportunity, **extra}))
        related = False
        if write.account:
            related |= self._write_company(record, write.account, changes)
        after: CrmRecord | None = None
        if changes:
            wire = to_hubspot(changes, self.deal_types, self.stages)
            unchanged = partial(self._check_unchanged, record)  # before every attempt
            answer = self.client.update("deals", record.id, wire, unchanged=unchanged)
            after = self._after_write(record, wire, answer)
        if write.contacts is not None:
            related |= self.relations.sync_contacts(record.id, record.contacts, write.contacts)
        return Written(bool(changes) or related, None if related else after)

    def create(
        self,
        write: CrmWrite,
        referral_id: str,
        extra: Mapping[str, Any],
        account_id: str | None = None,
    ) -> Made:
        """Upsert the deal by the referral id (idempotent) with its company, contacts and notes
        note. A deal this call made comes back as the engine would read it, from the answers
        (no read after the create); one the upsert found is read as usual."""
        values = {**self._known(write.opportunity), **self._known(extra)}
        values.setdefault("dealname", write.account.get("name") or f"Referral {referral_id}")
        values.setdefault("closedate", self._default_close_date())
        values.setdefault("dealstage", self.mapping.stages.on_hold)
        values["pipeline"] = self.pipeline
        values.pop("hs_object_id", None)
        values.pop(self.referral_property, None)
        wire = to_hubspot(values, self.deal_types, self.stages)
        result = self.client.batch_upsert("deals", self.referral_property, {referral_id: wire})
        made = result.results[0]
        deal_id = str(made["id"])
        if not made.get("new", True):
            return Made(deal_id)
        try:
            company, account = self._company_of_new_deal(deal_id, write.account, account_id)
            contacts = [self.relations.link_contact(deal_id, m) for m in write.contacts or []]
            if write.note_changed:
                if write.note:
                    self.relations.new_note(deal_id, write.note)
                self._noted[deal_id] = write.note or ""
        except NotFound as gone:
            # What they are linked to went as the deal was made (a person deleted the deal, or
            # the company matched): read again; a deleted deal is found in the recycle bin.
            raise StaleWrite(f"deal {deal_id}: {gone}") from gone
        contacts = sorted(
            {row["ContactId"]: row for row in contacts}.values(), key=lambda r: int(r["ContactId"])
        )
        properties = {**wire, self.referral_property: referral_id, **(made.get("properties") or {})}
        if not properties.get(STAMP):
            return Made(deal_id)
        return Made(deal_id, self._deal_record(deal_id, properties, company, account, contacts))

    def _company_of_new_deal(
        self, deal_id: str, values: Mapping[str, Any], account_id: str | None
    ) -> tuple[str | None, Row]:
        """The new deal's primary company (the matched one, or one made of ``values``) and its
        values as a read gives them."""
        if account_id:
            self.relations.link_company(deal_id, account_id)
            if not self.company_properties:
                return account_id, {}
            found = self.client.get("companies", account_id, self.company_properties)
            return account_id, self._account(found)
        if not values:
            return None, {}
        made = self.relations.new_company(values, deal_id)
        return str(made["id"]), self._account(made)

    def _account(self, company: Mapping[str, Any]) -> Row:
        wanted = set(self.company_properties)
        return {
            k: v
            for k, v in (company.get("properties") or {}).items()
            if k in wanted and v not in (None, "")
        }

    def mirror_note(self, deal_id: str, body: str | None) -> bool:
        """The notes note, compared before it is written (what a create just made, a note of
        this body or none, is known without a read)."""
        if self._noted.pop(deal_id, None) == (body or ""):
            return False
        return self.relations.mirror_note(deal_id, body)

    def _check_unchanged(self, record: CrmRecord) -> None:
        read_stamp = record.opportunity.get("LastModifiedDate")
        now = self.client.get("deals", record.id, ["hs_lastmodifieddate"])
        if now["properties"].get("hs_lastmodifieddate") != read_stamp:
            raise StaleWrite(f"deal {record.id} changed since it was read")

    def _write_company(self, record: CrmRecord, values: Mapping[str, Any], changes: Row) -> bool:
        company_id = record.opportunity.get("AccountId")
        if not company_id:
            self.relations.new_company(values, record.id)
            return True
        changed = {k: v for k, v in values.items() if not _same(record.account.get(k), v)}
        if changed:
            self.client.update(
                "companies", str(company_id), {k: _text(v) for k, v in changed.items()}
            )
        return bool(changed)

    def _known(self, values: Mapping[str, Any]) -> Row:
        return {k: v for k, v in values.items() if k in self.deal_types and k != "Id"}

    def _default_close_date(self) -> str:
        today: date = self._now().date()
        return default_close_date(today)


def _company_row(company: Mapping[str, Any]) -> Row:
    props = company.get("properties") or {}
    return {
        "Id": str(company["id"]),
        "Name": props.get("name"),
        "BillingCountry": props.get("country"),
        "BillingPostalCode": props.get("zip"),
    }


def _primary(block: Mapping[str, Any] | None) -> str | None:
    rows = (block or {}).get("results", [])
    primary = [r for r in rows if r.get("type") == "deal_to_company"]
    chosen = primary or rows
    return str(chosen[0]["id"]) if chosen else None


def _changed(current: Mapping[str, Any], wanted: Mapping[str, Any]) -> Row:
    return {k: v for k, v in wanted.items() if k != "hs_object_id" and not _same(current.get(k), v)}


def _same(current: Any, wanted: Any) -> bool:
    if current in (None, "") and wanted in (None, ""):
        return True
    if isinstance(wanted, bool):
        return str(current).lower() == str(wanted).lower()
    if isinstance(wanted, int | float):
        try:
            return current is not None and float(current) == float(wanted)
        except (TypeError, ValueError):
            return False
    if isinstance(wanted, str) and isinstance(current, str) and _DATE.match(wanted):
        return current[:10] == wanted  # a date against a datetime stamp
    return bool(current == wanted)


def _text(value: Any) -> str:
    return "" if value is None else str(value)
