"""The CRM side as the engine sees it: one protocol, two implementations (Salesforce
opportunities in :mod:`cosell.sync.sides.salesforce.side`, HubSpot deals in
:mod:`cosell.sync.sides.hubspot.side`).

A side reads a record with its related rows into a :class:`CrmRecord` whose field names are the
mapping's CRM names, writes a change (compare before write, refusing with ``StaleWrite`` when the
record moved since it was read), creates idempotently by the referral id, finds a record by the
referral id, lists the records to sync, matches a customer to an existing account or company,
and tells its own record ids from other text.
"""

from __future__ import annotations

from collections.abc import Mapping
from datetime import datetime
from typing import Any, Protocol

from cosell.sync.core.records import CrmWrite
from cosell.sync.sides.crm_record import CrmRecord, Made, Written
from cosell.sync.sides.salesforce.accounts import Customer, Match
from cosell.sync.sides.salesforce.schema import CrmSchema


class CrmSide(Protocol):
    """What the engine needs from a CRM."""

    @property
    def schema(self) -> CrmSchema: ...

    def read(self, record_id: str) -> CrmRecord | None: ...

    def read_fresh(self, record_id: str, read_after: datetime) -> CrmRecord | None:
        """The record as this process's poll read it after ``read_after`` (and just now), or
        ``None``: no call either way (see :mod:`cosell.clients.fresh_rows`)."""
        ...

    def find_by_referral(self, referral_id: str) -> str | None: ...

    def find_deleted_by_referral(self, referral_id: str) -> str | None:
        """The record holding ``referral_id`` that a person deleted (it is in the recycle
        bin), if any: a create cosell made and did not record may have been deleted since."""
        ...

    def flagged_or_linked(self) -> list[str]: ...

    def update(self, record: CrmRecord, write: CrmWrite, extra: Mapping[str, Any]) -> Written: ...

    def create(
        self,
        write: CrmWrite,
        referral_id: str,
        extra: Mapping[str, Any],
        account_id: str | None = None,
    ) -> Made: ...

    def mirror_note(self, record_id: str, body: str | None) -> bool: ...

    def active_users(self) -> dict[str, str]: ...

    def match_account(self, customer: Customer) -> Match: ...

    def is_record_id(self, text: str) -> bool: ...

    def import_lead(self, referral_id: str, fields: Mapping[str, Any]) -> str:
        """Create (or find) the CRM lead of a lead referral, keyed by its id; its id."""
        ...
