"""Which alerts are due: records that need a person, referrals about to expire unaccepted,
connections in trouble, each turned into one ``Alert`` per subject per state change.

A record's state change is its ledger state and the moment it entered it (``since``): the
store keeps one alert per (subject, change), so a record that stays refused alerts once, and
alerts again only after it left the state and came back. A connection check's change is its
level and the moment it reached that level.
"""

from __future__ import annotations

from collections.abc import Callable, Iterator, Sequence
from dataclasses import dataclass, replace
from datetime import datetime

from cosell.alerts.sender import AlertSender
from cosell.operations.records_view import STATE_WORDS, RecordRow, all_records
from cosell.operations.status import Expiring
from cosell.settings import AlertsSettings
from cosell.store.alerts import Alert
from cosell.store.records import LedgerRow, TenantId
from cosell.store.sql import Store

RECORD_EVENTS = ("refused", "conflict", "parked", "expired")
"""Ledger states that alert (each is also an event name in ``alerts.events``)."""


@dataclass(frozen=True)
class ConnectionTrouble:
    """A connection check that is not ok: which, how bad, since when, and the fix."""

    name: str
    level: str
    detail: str
    fix: str
    since: datetime


class AlertRound:
    """One round: keep the alerts that are new, then send what is due (``look`` for the loop)."""

    def __init__(
        self,
        store: Store,
        tenant: TenantId,
        settings: AlertsSettings,
        sender: AlertSender,
        *,
        expiring: Callable[[], Expiring] | None = None,
        trouble: Callable[[], Sequence[ConnectionTrouble]] | None = None,
        tenant_name: str | None = None,
        console_root: str = "",
    ) -> None:
        self._store, self._tenant, self._settings, self._sender = store, tenant, settings, sender
        self._expiring, self._trouble = expiring, trouble
        self._prefix = f"[{tenant_name}] " if tenant_name else ""
        """Names the tenant in every title when a deployment serves several."""
        self._root = console_root
        """Where the tenant's console is under ``console_url`` (``/t/<tenant>`` when several)."""

    def look(self) -> int:
        """Keep every new alert, send the due ones; returns the deliveries made."""
        self.keep_new()
        return self._sender.send_due()

    def keep_new(self) -> int:
        targets = self._sender.target_names
        return sum(self._store.add_alert(self._tenant, a, targets) for a in self.alerts())

    def alerts(self) -> Iterator[Alert]:
        for alert in self._found():
            yield replace(alert, title=self._prefix + alert.title) if self._prefix else alert

    def _found(self) -> Iterator[Alert]:
        events: set[str] = set(self._settings.events)
        if events & set(RECORD_EVENTS):
            yield from self._record_alerts(events)
        if "expiring" in events and self._expiring is not None:
            yield from self._expiring_alerts(self._expiring())
        if "connection" in events and self._trouble is not None:
            yield from (self._connection_alert(t) for t in self._trouble())

    def _record_alerts(self, events: set[str]) -> Iterator[Alert]:
        since = _ledger_since(self._store.ledger(self._tenant))
        for row in all_records(self._store, self._tenant):
            if row.state not in events:
                continue
            entered = since.get((row.referral_id, row.state)) or since.get(
                (row.opportunity_id, row.state)
            )
            moment = entered or row.last_sync
            change = f"{row.state}@{moment.isoformat() if moment else 'unknown'}"
            yield self._record_alert(row, change)

    def _record_alert(self, row: RecordRow, change: str) -> Alert:
        who = row.name or row.key
        words = STATE_WORDS[row.state]
        text = words
        if row.reason is not None:
            text = f"{row.reason.text} — {row.reason.fix}" if row.reason.fix else row.reason.text
        record_id = row.referral_id or row.opportunity_id or row.key
        return Alert(
            subject=row.key,
            change=change,
            event=row.state,
            title=f"{who}: {words.split(':')[0].lower()}",
            text=text,
            link=self._link(f"/records/{record_id}"),
        )

    def _expiring_alerts(self, found: Expiring) -> Iterator[Alert]:
        within = self._settings.expiring_days
        for referral in found.referrals:
            if referral.days_left > within:
                continue
            yield Alert(
                subject=f"referral:{referral.referral_id}",
                change=f"expiring@{referral.expires_at.isoformat()}",
                event="expiring",
                title=f"{referral.name or referral.referral_id}: not accepted, "
                f"expires in {referral.days_left:.1f} days",
                text=f"Microsoft shared this referral and nobody accepted it; Partner Center "
                f"closes it as Expired at {referral.expires_at:%Y-%m-%d %H:%M} UTC. "
                "Accept or decline it in Partner Center or the console.",
                link=self._link(f"/records/{referral.referral_id}"),
            )

    def _connection_alert(self, trouble: ConnectionTrouble) -> Alert:
        text = f"{trouble.detail} — {trouble.fix}" if trouble.fix else trouble.detail
        return Alert(
            subject=f"connection:{trouble.name}",
            change=f"{trouble.level}@{trouble.since.isoformat()}",
            event="connection",
            title=f"{trouble.name}: {'failing' if trouble.level == 'fail' else 'needs a look'}",
            text=text,
            link=self._link("/"),
        )

    def _link(self, path: str) -> str | None:
        base = self._settings.console_url
        return f"{base.rstrip('/')}{self._root}{path}" if base else None


def _ledger_since(rows: Sequence[LedgerRow]) -> dict[tuple[str | None, str], datetime]:
    since: dict[tuple[str | None, str], datetime] = {}
    for row in rows:
        for record_id in (row.referral_id, row.opportunity_id):
            if record_id is not None:
                since[(record_id, row.state)] = row.since
    return since
