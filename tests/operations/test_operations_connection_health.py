"""The connection checks: Partner Center sign-in and webhook registration in one call, the
CRM sign-in with the API allowance, each kept with since when it has been at its level, and
the ones in trouble handed to the alert round."""

from __future__ import annotations

from typing import Any, cast

from cosell.clients.partner_center import PartnerCenterClient
from cosell.clients.salesforce import SalesforceClient
from cosell.clients.salesforce_limits import ApiBudget
from cosell.clock import ManualClock
from cosell.errors import AuthError
from cosell.operations.connection_health import (
    ConnectionProbe,
    hourly_allowance,
    read_checks,
    troubles,
)
from cosell.store.sql import Store
from cosell.webhooks.events import EVENTS
from cosell.webhooks.registration import WebhookRegistration

OURS = "https://cosell.example.com/webhooks/partner-center"


def registration(url: str, events: list[str]) -> WebhookRegistration:
    return WebhookRegistration.model_validate({"WebhookUrl": url, "WebhookEvents": events})


class FakePartnerCenter:
    def __init__(self) -> None:
        self.registration: WebhookRegistration | None = registration(OURS, list(EVENTS))
        self.refuse = False

    def get_registration(self) -> WebhookRegistration | None:
        if self.refuse:
            raise AuthError("Partner Center sign-in failed: invalid_grant (refresh token expired)")
        return self.registration


class FakeSalesforce:
    def __init__(self, clock: ManualClock) -> None:
        self.remaining = 90_000
        self.budget = ApiBudget(clock=clock)
        self.limit_reads = 0

    def limits(self) -> dict[str, Any]:
        self.limit_reads += 1
        return {"DailyApiRequests": {"Max": 100_000, "Remaining": self.remaining}}


def probe_for(store: Store, clock: ManualClock) -> tuple[ConnectionProbe, Any, Any]:
    pc, sf = FakePartnerCenter(), FakeSalesforce(clock)
    tenant = store.ensure_tenant("acme")
    probe = ConnectionProbe(
        store,
        tenant,
        clock,
        cast(PartnerCenterClient, pc),
        public_url=OURS,
        salesforce=cast(SalesforceClient, sf),
    )
    return probe, pc, sf


def levels(store: Store) -> dict[str, str]:
    return {c.name: c.level for c in read_checks(store, store.ensure_tenant("acme"))}


def test_healthy_connections_are_kept_ok_with_the_allowance(
    store: Store, clock: ManualClock
) -> None:
    probe, _, _ = probe_for(store, clock)
    probe.look()
    assert levels(store) == {
        "Partner Center sign-in": "ok",
        "webhook registration": "ok",
        "CRM sign-in": "ok",
        "last webhook delivery": "ok",
    }
    tenant = store.ensure_tenant("acme")
    last = hourly_allowance(store, tenant, clock.now())[-1]
    assert (last.used, last.maximum, last.percent) == (10_000, 100_000, 10)
    assert troubles(store, tenant)() == []


def test_trouble_keeps_its_since_until_the_level_changes(store: Store, clock: ManualClock) -> None:
    probe, pc, sf = probe_for(store, clock)
    tenant = store.ensure_tenant("acme")
    probe.look()
    pc.registration = registration("https://other.example.com/hook", list(EVENTS))
    sf.remaining = 5_000
    clock.advance(300)
    probe.look()
    first = {t.name: t for t in troubles(store, tenant)()}
    assert first["webhook registration"].level == "fail"
    assert "--overwrite" in first["webhook registration"].fix
    assert first["CRM sign-in"].level == "warn"
    assert "inside the reserve" in first["CRM sign-in"].detail
    clock.advance(300)
    probe.look()
    again = {t.name: t.since for t in troubles(store, tenant)()}
    assert again == {name: t.since for name, t in first.items()}


def test_an_expired_token_fails_the_sign_in_and_skips_the_registration(
    store: Store, clock: ManualClock
) -> None:
    probe, pc, _ = probe_for(store, clock)
    pc.refuse = True
    probe.look()
    assert levels(store)["Partner Center sign-in"] == "fail"
    assert levels(store)["webhook registration"] == "skip"
    (trouble,) = troubles(store, store.ensure_tenant("acme"))()
    assert "invalid_grant" in trouble.detail


def test_a_recent_allowance_header_stands_in_for_the_limits_call(
    store: Store, clock: ManualClock
) -> None:
    probe, _, sf = probe_for(store, clock)
    sf.budget.observe("api-usage=25000/100000")  # a poll's answer, a moment ago
    probe.look()
    assert sf.limit_reads == 0
    tenant = store.ensure_tenant("acme")
    last = hourly_allowance(store, tenant, clock.now())[-1]
    assert (last.used, last.maximum) == (25_000, 100_000)
    clock.advance(600)  # nothing answered for ten minutes: ask the org
    probe.look()
    assert sf.limit_reads == 1
    assert hourly_allowance(store, tenant, clock.now())[-1].used == 10_000
