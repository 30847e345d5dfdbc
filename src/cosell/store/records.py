"""Rows the store hands out and takes in: small frozen dataclasses, no SQL."""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import datetime
from typing import Any, Literal, NewType

TenantId = NewType("TenantId", int)

Side = Literal["partner_center", "crm"]
LinkState = Literal["linked", "pending_create", "conflict", "closed"]
Direction = Literal["to_partner_center", "to_crm", "none"]
AuditOutcome = Literal["synced", "skipped", "conflict", "rejected", "error", "drift", "parked"]
"""``drift``: a verify run found the sides disagreeing (or agreeing again after a repair)."""
SignalScope = Literal["both", "partner_center", "crm"]
"""What a queued key must look at: ``both`` sides (the default), or one side whose signal it is
(a Partner Center webhook, a CRM poll). A key signalled from both, or by anything else, is
``both``. See :meth:`cosell.sync.engine.engine.Engine.reconcile`."""
LedgerState = Literal[
    "synced", "held", "waiting", "skipped", "refused", "conflict", "parked", "closed", "expired"
]
"""Where a record stands (see :mod:`cosell.store.ledger`)."""
ConflictState = Literal["open", "resolved", "applied"]
"""open: parked; resolved: an admin chose; applied: the engine wrote the choice to both sides."""


@dataclass(frozen=True)
class CreateIntent:
    """A remote create we are about to make (or made and have not yet committed)."""

    side: Side
    key: str
    started_at: datetime


@dataclass(frozen=True)
class Link:
    """One referral ↔ opportunity pair and the base both sides last agreed on."""

    id: int
    tenant_id: TenantId
    referral_id: str | None
    opportunity_id: str | None
    engagement_id: str | None
    base: dict[str, Any]
    pc_etag: str | None
    crm_modstamp: str | None
    state: LinkState
    intent: CreateIntent | None
    created_at: datetime
    updated_at: datetime
    crm_rows: dict[str, str] = field(default_factory=dict)
    """The related rows' ``SystemModstamp`` as the committed CRM read saw them, by
    ``<signal>:<row id>`` (see :mod:`cosell.signals.related_rows`)."""
    crm_read_at: datetime | None = None
    """When the committed CRM read was asked for (cosell's clock, before the request)."""
    crm_fingerprint: str | None = None
    """The digest of the committed CRM read's own opportunity values (see
    :mod:`cosell.sync.sides.salesforce.versions`): the poll knows that version by them."""
    pc_changed_at: str | None = None
    """The ``updatedDateTime`` of the referral version ``pc_etag`` names, as Partner Center
    wrote it (its webhooks name a change by that time, see :mod:`cosell.signals.synced`)."""


@dataclass(frozen=True, slots=True)
class LinkedPair:
    """A link's ids alone: what a check of both sides needs to find the pair (a :class:`Link`
    carries its base too, a few kilobytes each: a hundred thousand of them would not fit in
    the memory a check of a hundred thousand pairs should take)."""

    id: int
    referral_id: str | None
    opportunity_id: str | None


@dataclass(frozen=True)
class LinkUpdate:
    """What a reconcile learned about a link. ``None`` leaves a column unchanged.

    The link is found by ``link_id``, else ``referral_id``, else ``opportunity_id``; a new link
    is inserted when none matches. Once both ids are known the create intent is cleared and a
    ``pending_create`` link becomes ``linked`` unless ``state`` says otherwise.
    """

    referral_id: str | None = None
    opportunity_id: str | None = None
    link_id: int | None = None
    engagement_id: str | None = None
    base: dict[str, Any] | None = None
    pc_etag: str | None = None
    crm_modstamp: str | None = None
    state: LinkState | None = None
    crm_rows: dict[str, str] | None = None
    crm_read_at: datetime | None = None
    crm_fingerprint: str | None = None
    pc_changed_at: str | None = None


@dataclass(frozen=True)
class AuditEntry:
    """One audit row to append; ids default to the link's ids inside ``commit_sync``."""

    direction: Direction
    outcome: AuditOutcome
    field: str | None = None
    old: Any = None
    new: Any = None
    message: str = ""
    request_ids: tuple[str, ...] = ()
    referral_id: str | None = None
    opportunity_id: str | None = None
    at: datetime | None = None


@dataclass(frozen=True)
class AuditRecord:
    """An audit row as stored (append-only)."""

    id: int
    tenant_id: TenantId
    at: datetime
    referral_id: str | None
    opportunity_id: str | None
    direction: Direction
    field: str | None
    old: Any
    new: Any
    outcome: AuditOutcome
    message: str
    request_ids: tuple[str, ...]


@dataclass(frozen=True)
class LedgerUpdate:
    """A ledger state to record for a referral, an opportunity or the pair.

    ``reason`` is in a seller's words; ``setting`` names what changes it (the mapping setting
    of a rule, the missing field); ``raw`` keeps a side's exact error for support.
    """

    state: LedgerState
    referral_id: str | None = None
    opportunity_id: str | None = None
    reason: str = ""
    setting: str | None = None
    raw: str | None = None


@dataclass(frozen=True)
class LedgerRow:
    """A record's ledger state as stored; ``since`` is when it entered the state."""

    tenant_id: TenantId
    referral_id: str | None
    opportunity_id: str | None
    state: LedgerState
    reason: str
    setting: str | None
    raw: str | None
    since: datetime
    updated_at: datetime


@dataclass(frozen=True)
class DeadLetter:
    """A key the queue gave up on, with the reason; ``cosell retry`` puts it back."""

    tenant_id: TenantId
    key: str
    reason: str
    attempts: int
    failed_at: datetime


@dataclass(frozen=True)
class FieldConflict:
    """Both sides changed one field differently and no owner rule decided it."""

    id: int
    tenant_id: TenantId
    link_id: int
    field: str
    base: Any
    pc: Any
    crm: Any
    state: ConflictState
    resolution: str | None
    opened_at: datetime
    resolved_at: datetime | None


@dataclass(frozen=True)
class Job:
    """A leased queue entry: reconcile ``key`` for ``tenant_id``. ``attempts`` counts claims."""

    id: int
    tenant_id: TenantId
    key: str
    due_at: datetime
    priority: int
    attempts: int
    last_error: str | None
    lease_owner: str
    lease_until: datetime
    enqueued_at: datetime
    scope: SignalScope = "both"
    change_time: str | None = None
    """The change a Partner Center webhook named (its ``ResourceChangeUtcDate``), when every
    signal the key had since it was last claimed named that one; ``None`` otherwise."""


@dataclass(frozen=True)
class StoreStats:
    """Counts for ``cosell status``."""

    links_by_state: dict[str, int] = field(default_factory=dict)
    queue_depth: int = 0
    leased: int = 0
    oldest_due: datetime | None = None
    dead_letters: int = 0
    open_conflicts: int = 0
