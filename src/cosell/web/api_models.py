"""The JSON API's bodies and answers (Pydantic models; the OpenAPI document is built from them)."""

from __future__ import annotations

from datetime import datetime
from typing import Any, Literal

from pydantic import BaseModel, ConfigDict, Field

from cosell.operations.records_view import RecordState


class _Out(BaseModel):
    model_config = ConfigDict(frozen=True)


class ReasonOut(_Out):
    text: str
    fix: str
    raw: str


class RecordOut(_Out):
    key: str
    link_id: int | None
    referral_id: str | None
    opportunity_id: str | None
    name: str
    customer: str
    value: Any
    currency: str
    stage: str
    owner: str
    direction: str
    state: RecordState
    state_words: str
    reason: ReasonOut | None
    last_sync: datetime | None


class RecordList(_Out):
    total: int
    page: int
    pages: int
    records: list[RecordOut]


class FieldOut(_Out):
    name: str
    partner_center: Any
    crm: Any
    base: Any
    differs: bool
    held_reason: str


class SidesOut(_Out):
    fields: list[FieldOut]
    partner_center_found: bool
    crm_found: bool
    error: str | None


class AuditOut(_Out):
    at: datetime
    direction: str
    field: str | None
    old: Any
    new: Any
    outcome: str
    message: str


class ConflictOut(_Out):
    id: int
    field: str
    base: Any
    partner_center: Any
    crm: Any
    opened_at: datetime
    referral_id: str | None
    opportunity_id: str | None
    account_candidates: list[dict[str, Any]] | None = None


class RecordDetail(_Out):
    record: RecordOut
    sides: SidesOut | None
    conflicts: list[ConflictOut]
    timeline: list[AuditOut]


class DeadLetterOut(_Out):
    key: str
    reason: ReasonOut
    attempts: int
    failed_at: datetime


class ConnectionOut(_Out):
    """One connection check of the service's last round (tokens, webhook registration)."""

    name: str
    level: Literal["ok", "warn", "fail", "skip"]
    detail: str
    fix: str
    since: datetime
    checked_at: datetime


class HourOut(_Out):
    """One UTC hour of API use and propagation (the overview's charts)."""

    hour: datetime
    partner_center_calls: int
    crm_calls: int
    propagation_seconds: int
    """The hour's average from a record marked dirty to its reconcile finishing."""
    salesforce_used: int | None
    """API calls used of the org's rolling 24-hour allowance at the hour's last check."""
    salesforce_max: int | None


class Overview(_Out):
    tenant: str
    version: str
    states: dict[str, int]
    queue_depth: int
    leased: int
    dead_letters: int
    open_conflicts: int
    connections: list[ConnectionOut] = []
    hours: list[HourOut] = []
    """The last 24 hours, oldest first."""


class AlertOut(_Out):
    """An alert as kept: one per subject per state change, with its delivery."""

    subject: str
    change: str
    event: str
    title: str
    text: str
    link: str | None
    pending: list[str]
    """Targets still to reach (empty once every target took it)."""
    attempts: int
    last_error: str | None
    next_at: datetime | None
    created_at: datetime
    sent_at: datetime | None


class ResolveIn(BaseModel):
    """Which value settles a conflict: a side's, or ``value`` (for an account conflict: one of
    the matching accounts' ids, or ``"new"``)."""

    model_config = ConfigDict(extra="forbid")
    take: Literal["partner_center", "crm", "value"]
    value: Any = None


class RetryIn(BaseModel):
    """Dead letters to put back on the queue: the listed keys, or all of them."""

    model_config = ConfigDict(extra="forbid")
    keys: list[str] = Field(default_factory=list, max_length=1000)
    all: bool = False


class DecideIn(BaseModel):
    """Accept or decline an incoming referral waiting on hold."""

    model_config = ConfigDict(extra="forbid")
    decision: Literal["accept", "decline"]


class Decided(_Out):
    stage: str


class Queued(_Out):
    keys: list[str]


class Resolved(_Out):
    conflict_id: int
    took: str


class ErrorOut(_Out):
    error: str


ANSWERS: tuple[type[BaseModel], ...] = (
    Overview,
    AlertOut,
    RecordList,
    RecordDetail,
    ConflictOut,
    DeadLetterOut,
    Queued,
    Resolved,
    Decided,
    ErrorOut,
)
BODIES: tuple[type[BaseModel], ...] = (ResolveIn, RetryIn, DecideIn)
