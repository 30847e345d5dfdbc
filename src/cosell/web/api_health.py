"""The JSON API's view of connection health, API use over time and the kept alerts."""

from __future__ import annotations

from datetime import datetime

from cosell.operations.call_meter import CRM_CALLS, hourly_average_seconds, hourly_calls
from cosell.operations.connection_health import hourly_allowance, read_checks
from cosell.store.alerts import StoredAlert
from cosell.store.records import TenantId
from cosell.store.sql import Store
from cosell.web.api_models import AlertOut, ConnectionOut, HourOut


def connections_out(store: Store, tenant: TenantId) -> list[ConnectionOut]:
    return [
        ConnectionOut(
            name=c.name,
            level=c.level,
            detail=c.detail,
            fix=c.fix,
            since=c.since,
            checked_at=c.checked_at,
        )
        for c in read_checks(store, tenant)
    ]


def hours_out(store: Store, tenant: TenantId, now: datetime) -> list[HourOut]:
    pc = hourly_calls(store, tenant, now)
    crm = hourly_calls(store, tenant, now, CRM_CALLS)
    seconds = hourly_average_seconds(store, tenant, now)
    allowance = hourly_allowance(store, tenant, now)
    return [
        HourOut(
            hour=hour,
            partner_center_calls=pc_n,
            crm_calls=crm_n,
            propagation_seconds=secs,
            salesforce_used=use.used if use.maximum else None,
            salesforce_max=use.maximum or None,
        )
        for (hour, pc_n), (_, crm_n), (_, secs), use in zip(
            pc, crm, seconds, allowance, strict=True
        )
    ]


def alert_out(kept: StoredAlert) -> AlertOut:
    alert = kept.alert
    return AlertOut(
        subject=alert.subject,
        change=alert.change,
        event=alert.event,
        title=alert.title,
        text=alert.text,
        link=alert.link,
        pending=list(kept.pending),
        attempts=kept.attempts,
        last_error=kept.last_error,
        next_at=kept.next_at,
        created_at=kept.created_at,
        sent_at=kept.sent_at,
    )
