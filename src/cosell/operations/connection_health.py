"""Token and webhook health, checked by the running service every few minutes and kept in the
store, so the console (any replica) shows it and the alert round tells someone when it breaks.

Checks, one cheap call each: the Partner Center sign-in and the webhook registration (one
``GET`` of the registration does both), the CRM sign-in (Salesforce ``limits()``, which also
gives the org's rolling 24-hour API allowance; HubSpot's deal pipelines), and the last
webhook Partner Center delivered. Each kept check remembers since when it has been at its
level: that moment is the state change an alert is sent for.

Cursors: ``health:connections`` (the checks) and ``meter:salesforce_allowance`` (per UTC hour,
the allowance used and its maximum at the hour's last check; the last 24 hours).
"""

from __future__ import annotations

import json
from collections.abc import Callable, Sequence
from dataclasses import asdict, dataclass
from datetime import datetime, timedelta
from typing import Any

import structlog

from cosell.clients.hubspot import HubSpotClient
from cosell.clients.partner_center import PartnerCenterClient
from cosell.clients.referral import parse_datetime
from cosell.clients.salesforce import SalesforceClient
from cosell.clock import Clock
from cosell.errors import CosellError
from cosell.operations.activity import CursorStore, read_activity
from cosell.operations.alerting import ConnectionTrouble
from cosell.operations.checks import Check, Level
from cosell.redaction import redact_text
from cosell.store.records import TenantId
from cosell.webhooks.events import EVENTS, PATH
from cosell.webhooks.registration import WebhookRegistration

log = structlog.get_logger(__name__)

HEALTH_CURSOR = "health:connections"
ALLOWANCE_CURSOR = "meter:salesforce_allowance"
WINDOW = timedelta(hours=24)
FRESH_USAGE = 120.0
"""Seconds an allowance reading from a response header stands in for a ``limits`` call."""
PC_SIGN_IN, REGISTRATION, CRM_SIGN_IN = (
    "Partner Center sign-in",
    "webhook registration",
    "CRM sign-in",
)
LAST_DELIVERY = "last webhook delivery"


@dataclass(frozen=True)
class KeptCheck:
    """A check as kept: its verdict, since when it has had this level, when last checked."""

    name: str
    level: Level
    detail: str
    fix: str
    since: datetime
    checked_at: datetime


@dataclass(frozen=True)
class AllowanceUse:
    """The Salesforce API allowance at one hour's last check."""

    hour: datetime
    used: int
    maximum: int

    @property
    def percent(self) -> int:
        return round(100 * self.used / self.maximum) if self.maximum else 0


def registration_check(ours: str | None, registration: WebhookRegistration | None) -> Check:
    """Whether Partner Center's one webhook registration calls this service, for every event."""
    name = REGISTRATION
    register = f"cosell webhooks register --url {ours or '<public URL of ' + PATH + '>'}"
    if registration is None:
        return Check(
            name, "fail", "no webhook registration: Partner Center calls nobody", f"run: {register}"
        )
    theirs = registration.webhook_url or "(no URL)"
    if ours is None:
        return Check(
            name,
            "warn",
            f"registered at {theirs}; cannot tell whether it is ours",
            "set partner_center.webhook_public_url to this service's public URL",
        )
    if _normal(theirs) != _normal(ours):
        detail = (
            f"registration points at {theirs} — another tool took it over "
            "(Partner Center keeps one URL per tenant)"
        )
        return Check(name, "fail", detail, f"run: {register} --overwrite")
    missing = sorted(set(EVENTS) - set(registration.webhook_events))
    if missing:
        return Check(
            name,
            "warn",
            f"{theirs} misses events: {', '.join(missing)}",
            f"run: {register} --overwrite",
        )
    return Check(name, "ok", f"{theirs} receives {len(EVENTS)} referral events")


def _normal(url: str) -> str:
    return url.strip().rstrip("/").lower()


class ConnectionProbe:
    """One round of connection checks (``look`` for the service's loop), kept in the store."""

    def __init__(
        self,
        cursors: CursorStore,
        tenant: TenantId,
        clock: Clock,
        partner_center: PartnerCenterClient,
        *,
        public_url: str | None,
        salesforce: SalesforceClient | None = None,
        hubspot: HubSpotClient | None = None,
        reserve_percent: float = 20.0,
    ) -> None:
        self._cursors, self._tenant, self._clock = cursors, tenant, clock
        self._pc, self._sf, self._hs = partner_center, salesforce, hubspot
        self._public_url, self._reserve = public_url, reserve_percent

    def look(self) -> int:
        checks = [*self._partner_center(), self._crm(), self._last_delivery()]
        keep_checks(self._cursors, self._tenant, checks, self._clock.now())
        return 0

    def _partner_center(self) -> list[Check]:
        try:
            registration = self._pc.get_registration()
        except CosellError as exc:
            reason = redact_text(str(exc))
            return [
                Check(PC_SIGN_IN, "fail", reason, "sign in again (cosell doctor says how)"),
                Check(REGISTRATION, "skip", "not checked: no Partner Center sign-in"),
            ]
        signed_in = Check(PC_SIGN_IN, "ok", "signed in; the webhook API answered")
        return [signed_in, registration_check(self._public_url, registration)]

    def _crm(self) -> Check:
        try:
            if self._sf is not None:
                return self._salesforce(self._sf)
            if self._hs is not None:
                self._hs.pipelines("deals")
                return Check(CRM_SIGN_IN, "ok", "signed in to HubSpot; the deal pipelines answered")
        except CosellError as exc:
            return Check(CRM_SIGN_IN, "fail", redact_text(str(exc)), "run: cosell doctor")
        return Check(CRM_SIGN_IN, "skip", "no CRM client")

    def _salesforce(self, client: SalesforceClient) -> Check:
        # Every Salesforce answer carries the allowance (Sforce-Limit-Info): when the polls
        # brought one lately, the org answered and the figures are current, so no call is spent.
        usage = client.budget.recent(FRESH_USAGE)
        maximum: object
        remaining: object
        if usage is not None:
            maximum, remaining = usage.max, usage.remaining
        else:
            daily = client.limits().get("DailyApiRequests") or {}
            maximum, remaining = daily.get("Max"), daily.get("Remaining")
        if not isinstance(maximum, int) or not isinstance(remaining, int):
            return Check(CRM_SIGN_IN, "ok", "signed in to Salesforce; no API allowance figures")
        keep_allowance(self._cursors, self._tenant, self._clock.now(), maximum - remaining, maximum)
        detail = f"signed in to Salesforce; API calls left today: {remaining:,} of {maximum:,}"
        if remaining <= maximum * self._reserve / 100:
            fix = "background sync pauses in the reserve; raise the org's limit or wait"
            return Check(CRM_SIGN_IN, "warn", detail + " (inside the reserve)", fix)
        return Check(CRM_SIGN_IN, "ok", detail)

    def _last_delivery(self) -> Check:
        seen = read_activity(self._cursors, self._tenant).last_webhook
        if seen is None:
            return Check(LAST_DELIVERY, "ok", "none received yet")
        return Check(LAST_DELIVERY, "ok", f"{seen.what} at {seen.at:%Y-%m-%d %H:%M} UTC")


def keep_checks(
    cursors: CursorStore, tenant: TenantId, checks: Sequence[Check], now: datetime
) -> list[KeptCheck]:
    """Store ``checks``, each keeping its ``since`` while its level is unchanged."""
    before = {c.name: c for c in read_checks(cursors, tenant)}
    kept = []
    for check in checks:
        old = before.get(check.name)
        since = old.since if old is not None and old.level == check.level else now
        kept.append(KeptCheck(check.name, check.level, check.detail, check.fix, since, now))
    value = [
        {**asdict(k), "since": k.since.isoformat(), "checked_at": now.isoformat()} for k in kept
    ]
    cursors.set_cursor(tenant, HEALTH_CURSOR, json.dumps(value))
    return kept


def read_checks(cursors: CursorStore, tenant: TenantId) -> list[KeptCheck]:
    """The last round's checks (none before the service's first round)."""
    try:
        data = json.loads(cursors.get_cursor(tenant, HEALTH_CURSOR) or "[]")
        return [_kept(item) for item in data]
    except (ValueError, KeyError, TypeError):
        log.warning("health.unreadable", cursor=HEALTH_CURSOR)
        return []


def _kept(item: dict[str, Any]) -> KeptCheck:
    since, checked = parse_datetime(item["since"]), parse_datetime(item["checked_at"])
    assert since is not None
    assert checked is not None
    return KeptCheck(item["name"], item["level"], item["detail"], item["fix"], since, checked)


def troubles(cursors: CursorStore, tenant: TenantId) -> Callable[[], list[ConnectionTrouble]]:
    """The kept checks that are not ok, for the alert round."""

    def read() -> list[ConnectionTrouble]:
        return [
            ConnectionTrouble(c.name, c.level, c.detail, c.fix, c.since)
            for c in read_checks(cursors, tenant)
            if c.level in ("warn", "fail")
        ]

    return read


def keep_allowance(
    cursors: CursorStore, tenant: TenantId, now: datetime, used: int, maximum: int
) -> None:
    hour = now.replace(minute=0, second=0, microsecond=0)
    stored = _allowance(cursors, tenant)
    stored[hour.isoformat()] = [used, maximum]
    oldest = (hour - WINDOW).isoformat()
    kept = {h: v for h, v in sorted(stored.items()) if h > oldest}
    cursors.set_cursor(tenant, ALLOWANCE_CURSOR, json.dumps(kept))


def hourly_allowance(cursors: CursorStore, tenant: TenantId, now: datetime) -> list[AllowanceUse]:
    """The allowance used at each of the last 24 hours' last check (0 of 0 when unchecked)."""
    stored = _allowance(cursors, tenant)
    first = now.replace(minute=0, second=0, microsecond=0) - WINDOW + timedelta(hours=1)
    hours = [first + timedelta(hours=n) for n in range(24)]
    return [AllowanceUse(h, *stored.get(h.isoformat(), [0, 0])) for h in hours]


def _allowance(cursors: CursorStore, tenant: TenantId) -> dict[str, list[int]]:
    try:
        data = json.loads(cursors.get_cursor(tenant, ALLOWANCE_CURSOR) or "{}")
    except ValueError:
        return {}
    if not isinstance(data, dict):
        return {}
    return {
        str(h): [int(v[0]), int(v[1])]
        for h, v in data.items()
        if isinstance(v, list) and len(v) == 2
    }
