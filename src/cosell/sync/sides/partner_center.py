"""The Partner Center side of a reconcile: read a referral, create one idempotently, patch it
guarded by its eTag.

A referral is read as its wire JSON (every field kept) and normalised where Partner Center uses
a placeholder for "no value": ``assistanceRequestCode: "Unknown"`` means no help requested.
Patches carry ``If-Match: <eTag read>``; a 412 raises ``StaleWrite`` and the engine re-reads.
Only the paths Partner Center accepts in a PATCH are sent; others are reported as skipped.
"""

from __future__ import annotations

from collections.abc import Iterator, Mapping, Sequence
from contextlib import contextmanager
from dataclasses import dataclass
from typing import Any, cast

from cosell.clients.partner_center import JsonPatchOp, PartnerCenterClient
from cosell.errors import NotFound
from cosell.sync.core.paths import copied
from cosell.sync.core.translate import MICROSOFT_ORG

Wire = dict[str, Any]
UNKNOWN_HELP = "Unknown"
PATCHABLE = frozenset(
    {
        "/consent/consentToShareReferralWithMicrosoftSellers",
        "/customerProfile/team",
        "/details/closingDateTime",
        "/details/currency",
        "/details/dealValue",
        "/details/notes",
        "/details/requirements/solutions",
        "/externalReferenceId",
        "/inviteContext/assistanceRequestCode",
        "/name",
        "/status",
        "/substatus",
        "/statusReason",
        "/team",
    }
)
"""Referral paths Partner Center lets a partner patch: its co-sell connector's set, plus the help
request, which upgrades a private or partner-led referral to co-sell before it closes."""


@dataclass(frozen=True)
class PcRecord:
    """A referral as read now: ``wire`` normalised for translation, ``raw`` as received."""

    wire: Wire
    raw: Wire

    @property
    def id(self) -> str:
        return str(self.raw["id"])

    @property
    def etag(self) -> str | None:
        value = self.raw.get("eTag")
        return str(value) if value else None

    @property
    def changed_at(self) -> str | None:
        """``updatedDateTime``: when this version was written, as Partner Center wrote it."""
        value = self.raw.get("updatedDateTime")
        return str(value) if value else None

    @property
    def engagement_id(self) -> str | None:
        value = self.raw.get("engagementId")
        return str(value) if value else None

    @property
    def external_reference_id(self) -> str | None:
        value = self.raw.get("externalReferenceId")
        return str(value) if value else None

    @property
    def is_microsofts(self) -> bool:
        """Microsoft's own referral in a co-sell engagement (never synced to the CRM)."""
        return self.raw.get("organizationId") == MICROSOFT_ORG

    @property
    def direction(self) -> str | None:
        value = self.raw.get("direction")
        return str(value) if value else None


def pc_record(raw: Mapping[str, Any]) -> PcRecord:
    """Wrap a referral's JSON, normalising placeholders to "no value"."""
    wire = copied(dict(raw))
    context = wire.get("inviteContext")
    if isinstance(context, dict) and context.get("assistanceRequestCode") == UNKNOWN_HELP:
        context["assistanceRequestCode"] = None
    return PcRecord(wire, dict(raw))


class PartnerCenterSide:
    """Referral reads and writes over a :class:`PartnerCenterClient`."""

    def __init__(self, client: PartnerCenterClient) -> None:
        self.client = client

    @contextmanager
    def correlated(self, correlation_id: str | None = None) -> Iterator[str]:
        """One correlation id (given or fresh) for every call of a reconcile (kept in the
        audit rows)."""
        with self.client.correlated(correlation_id) as value:
            yield value

    def read(self, referral_id: str) -> PcRecord | None:
        try:
            return pc_record(self.client.get_referral(referral_id).as_read())
        except NotFound:
            return None

    def find_by_external_id(self, opportunity_id: str) -> PcRecord | None:
        """The referral created earlier for ``opportunity_id`` (idempotent create lookup)."""
        quoted = opportunity_id.replace("'", "''")
        found = self.client.list_referrals(filter=f"externalReferenceId eq '{quoted}'", top=1)
        first = next(iter(found), None)
        return None if first is None else pc_record(first.as_read())

    def find_created(self, opportunity_id: str, *, attempted: bool) -> PcRecord | None:
        """The referral an earlier attempt may have made for ``opportunity_id``. Every create
        is recorded in the store (its intent) before it is sent: with no earlier attempt
        (``attempted`` False) none was made, and nothing is looked up."""
        return self.find_by_external_id(opportunity_id) if attempted else None

    def all_ids(self) -> list[str]:
        """Every referral id (a full pass; only the stamps are listed)."""
        return [r.id for r in self.client.changed_since(None) if r.id]

    def create(self, body: Mapping[str, Any]) -> PcRecord:
        return pc_record(self.client.create_referral(body).as_read())

    def patch(self, record: PcRecord, ops: Sequence[Mapping[str, Any]]) -> PcRecord:
        """Apply ops guarded by the eTag read; returns the referral as it is afterwards."""
        typed = cast(list[JsonPatchOp], [dict(op) for op in ops])
        updated = self.client.patch_referral(
            record.id, typed, record.etag, return_representation=True
        )
        if updated is None:
            refreshed = self.read(record.id)
            if refreshed is None:
                raise NotFound(f"referral {record.id} disappeared after a patch")
            return refreshed
        return pc_record(updated.as_read())


def split_patchable(
    ops: Sequence[Mapping[str, Any]],
) -> tuple[list[Mapping[str, Any]], list[str]]:
    """The ops Partner Center accepts, and the paths of those it would refuse."""
    kept = [op for op in ops if op.get("path") in PATCHABLE]
    refused = [str(op.get("path")) for op in ops if op.get("path") not in PATCHABLE]
    return kept, refused
