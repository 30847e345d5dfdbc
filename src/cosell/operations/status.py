"""``StatusReport``: what ``cosell status`` and the dashboard show, gathered from the store, the
persisted activity and (optionally) both remote sides.

A remote side that cannot be reached does not spoil the report: its section carries the error.
"""

from __future__ import annotations

from dataclasses import asdict, dataclass, field, is_dataclass
from datetime import datetime, timedelta
from typing import Any

from cosell.clients.partner_center import PartnerCenterClient
from cosell.clients.referral import Referral, parse_datetime
from cosell.clients.salesforce import SalesforceClient
from cosell.errors import CosellError
from cosell.operations.activity import Activity, read_activity
from cosell.operations.call_meter import calls_last_24h
from cosell.operations.records_view import ATTENTION, STATE_WORDS, STATES, RecordRow, all_records
from cosell.store.records import DeadLetter, TenantId
from cosell.store.sql import Store

REFERRAL_LIFETIME = timedelta(days=14)
FAILED_SHOWN = 20
"""Dead letters ``cosell status`` lists with their reasons (the count covers all)."""
INCOMING_NEW = "direction eq 'Incoming' and status eq 'New'"
PARTNER_CENTER_QUOTA_NOTE = (
    "Partner Center publishes no API quota (it throttles with 429 and Retry-After); "
    "shown: calls the service made in the last 24 h"
)


@dataclass(frozen=True)
class ExpiringReferral:
    """An incoming New referral that Partner Center closes as Expired at ``expires_at``."""

    referral_id: str
    name: str
    substatus: str
    expires_at: datetime
    days_left: float


@dataclass(frozen=True)
class Expiring:
    """Incoming referrals within ``within_days`` of expiry, or why they could not be listed."""

    within_days: float
    referrals: list[ExpiringReferral] = field(default_factory=list)
    error: str | None = None


@dataclass(frozen=True)
class SalesforceBudget:
    """The org's rolling 24-hour API allowance (``limits()`` → ``DailyApiRequests``)."""

    maximum: int | None = None
    remaining: int | None = None
    error: str | None = None

    @property
    def used(self) -> int | None:
        if self.maximum is None or self.remaining is None:
            return None
        return self.maximum - self.remaining


@dataclass(frozen=True)
class NotImported:
    """A referral cosell saw and, by a rule of the mapping, did not import."""

    referral_id: str
    reason: str
    fix: str


@dataclass(frozen=True)
class RecordNeedingAttention:
    """A record in a state a person should look at: which state, why, and the fix."""

    key: str
    referral_id: str | None
    opportunity_id: str | None
    state: str
    state_words: str
    reason: str
    fix: str


@dataclass(frozen=True)
class StatusReport:
    """One tenant's sync state at ``generated_at``."""

    tenant: str
    generated_at: datetime
    links_by_state: dict[str, int]
    queue_depth: int
    leased: int
    oldest_due: datetime | None
    dead_letters: int
    open_conflicts: int
    activity: Activity
    expiring: Expiring | None = None
    salesforce_budget: SalesforceBudget | None = None
    partner_center_calls_24h: int | None = None
    partner_center_note: str = PARTNER_CENTER_QUOTA_NOTE
    failed: tuple[DeadLetter, ...] = ()
    """The newest dead letters (up to ``FAILED_SHOWN``) with their reasons."""
    not_imported: tuple[NotImported, ...] = ()
    """Referrals a mapping rule left out (e.g. leads): why, and the setting that imports them."""
    records_by_state: dict[str, int] = field(default_factory=dict)
    """Every record cosell has seen, per ledger state (every state listed, zeros included)."""
    attention: tuple[RecordNeedingAttention, ...] = ()
    """The records in a state a person should look at, with the reason and the fix."""

    @property
    def links(self) -> int:
        return sum(self.links_by_state.values())

    @property
    def oldest_unsynced_age(self) -> timedelta | None:
        """How long the oldest due change has waited (``None`` when nothing waits)."""
        if self.oldest_due is None:
            return None
        return max(self.generated_at - self.oldest_due, timedelta())

    def to_json(self) -> dict[str, Any]:
        """Plain JSON values (datetimes as ISO-8601 text) for ``cosell status --json``."""
        data: dict[str, Any] = jsonable(asdict(self))
        data["links"] = self.links
        age = self.oldest_unsynced_age
        data["oldest_unsynced_seconds"] = None if age is None else age.total_seconds()
        return data


def build_status(
    store: Store,
    tenant_id: TenantId,
    tenant: str,
    *,
    partner_center: PartnerCenterClient | None = None,
    salesforce: SalesforceClient | None = None,
    expiring_within_days: float = 3.0,
) -> StatusReport:
    """Counts from the store; expiring referrals and the API budget when the clients are given."""
    stats = store.stats(tenant_id)
    now = store.clock.now()
    records = all_records(store, tenant_id)
    expiring = None
    if partner_center is not None:
        expiring = expiring_referrals(partner_center, now, expiring_within_days)
    return StatusReport(
        tenant=tenant,
        generated_at=now,
        links_by_state=dict(sorted(stats.links_by_state.items())),
        queue_depth=stats.queue_depth,
        leased=stats.leased,
        oldest_due=stats.oldest_due,
        dead_letters=stats.dead_letters,
        open_conflicts=stats.open_conflicts,
        activity=read_activity(store, tenant_id),
        expiring=expiring,
        salesforce_budget=None if salesforce is None else salesforce_budget(salesforce),
        partner_center_calls_24h=calls_last_24h(store, tenant_id, now),
        failed=tuple(store.dead_letters(tenant_id, limit=FAILED_SHOWN)),
        not_imported=tuple(
            NotImported(r.referral_id or "", r.reason.text if r.reason else "", _fix(r))
            for r in records
            if r.state == "skipped"
        ),
        records_by_state={s: sum(r.state == s for r in records) for s in STATES},
        attention=tuple(_attention(r) for r in records if r.state in ATTENTION),
    )


def _attention(row: RecordRow) -> RecordNeedingAttention:
    return RecordNeedingAttention(
        key=row.key,
        referral_id=row.referral_id,
        opportunity_id=row.opportunity_id,
        state=row.state,
        state_words=STATE_WORDS[row.state],
        reason=row.reason.text if row.reason else "",
        fix=_fix(row),
    )


def _fix(row: RecordRow) -> str:
    return row.reason.fix if row.reason else ""


def expiring_referrals(client: PartnerCenterClient, now: datetime, within_days: float) -> Expiring:
    """Incoming New/Pending referrals whose 14 days run out within ``within_days``, soonest
    first (Partner Center closes them as Closed/Expired on its own)."""
    horizon = now + timedelta(days=within_days)
    try:
        found = [_expiring(r, now) for r in client.list_referrals(filter=INCOMING_NEW)]
    except CosellError as exc:
        return Expiring(within_days, error=str(exc))
    due = [r for r in found if r is not None and r.expires_at <= horizon]
    return Expiring(within_days, sorted(due, key=lambda r: r.expires_at))


def _expiring(referral: Referral, now: datetime) -> ExpiringReferral | None:
    expires_at = expiry_of(referral)
    if expires_at is None or not referral.id:
        return None
    left = (expires_at - now).total_seconds() / 86400
    return ExpiringReferral(
        referral.id, referral.name or "", referral.substatus or "", expires_at, round(left, 2)
    )


def expiry_of(referral: Referral) -> datetime | None:
    """``expirationDateTime`` when Partner Center sent one, else created + 14 days."""
    stated = (referral.model_extra or {}).get("expirationDateTime")
    if stated:
        try:
            return parse_datetime(stated)
        except ValueError:
            pass
    created = referral.created_date_time
    return None if created is None else created + REFERRAL_LIFETIME


def salesforce_budget(client: SalesforceClient) -> SalesforceBudget:
    """The daily allowance from ``limits()`` → ``DailyApiRequests``."""
    try:
        daily = client.limits().get("DailyApiRequests") or {}
    except CosellError as exc:
        return SalesforceBudget(error=str(exc))
    maximum, remaining = daily.get("Max"), daily.get("Remaining")
    if not isinstance(maximum, int) or not isinstance(remaining, int):
        return SalesforceBudget(error="limits() has no DailyApiRequests figures")
    return SalesforceBudget(maximum, remaining)


def jsonable(value: Any) -> Any:
    """Dataclass trees as plain JSON values (datetimes as ISO-8601 text)."""
    if is_dataclass(value) and not isinstance(value, type):
        return jsonable(asdict(value))
    if isinstance(value, datetime):
        return value.isoformat()
    if isinstance(value, dict):
        return {str(k): jsonable(v) for k, v in value.items()}
    if isinstance(value, list | tuple):
        return [jsonable(v) for v in value]
    return value
