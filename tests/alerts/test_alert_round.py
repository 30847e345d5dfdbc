"""The alert round over a real store: one alert per record per state change, kept in the store,
sent to a local receiver, retried after a failed send, never repeated for an unchanged state."""

from __future__ import annotations

import json
from datetime import timedelta

from pydantic import TypeAdapter

from cosell.alerts.sender import AlertSender
from cosell.alerts.targets import targets_from_settings
from cosell.clock import ManualClock
from cosell.operations.alerting import AlertRound, ConnectionTrouble
from cosell.operations.status import Expiring, ExpiringReferral
from cosell.settings import AlertsSettings
from cosell.store.alerts import Alert
from cosell.store.records import LedgerUpdate
from cosell.store.sql import Store
from support.alert_receivers import HttpReceiver, http_receiver


def round_for(
    store: Store,
    clock: ManualClock,
    box: HttpReceiver,
    deliveries: list[tuple[str, str, str]] | None = None,
    **hooks: object,
) -> tuple[AlertRound, AlertsSettings]:
    settings = TypeAdapter(AlertsSettings).validate_python(
        {
            "targets": [{"kind": "slack", "name": "ops", "url_env": "SLACK_URL"}],
            "console_url": "https://cosell.example.com/",
        }
    )
    targets = targets_from_settings(settings, clock, {"SLACK_URL": box.url})
    tenant = store.ensure_tenant("acme")

    def heard(event: str, target: str, outcome: str) -> None:
        if deliveries is not None:
            deliveries.append((event, target, outcome))

    sender = AlertSender(store, tenant, targets, clock, on_delivery=heard)
    return AlertRound(store, tenant, settings, sender, **hooks), settings  # type: ignore[arg-type]


def texts(box: HttpReceiver) -> list[str]:
    return [json.loads(r.body)["text"] for r in box.received]


def test_a_refused_record_alerts_once_per_state_change(store: Store, clock: ManualClock) -> None:
    with http_receiver() as box:
        alerts, _ = round_for(store, clock, box)
        tenant = store.ensure_tenant("acme")
        refused = LedgerUpdate("refused", "r-1", reason="Salesforce refused the currency CHF")
        store.record_state(tenant, refused)
        assert alerts.look() == 1
        for _ in range(3):  # unchanged state, even with fresher words: nothing more
            clock.advance(120)
            store.record_state(tenant, LedgerUpdate("refused", "r-1", reason="still CHF"))
            assert alerts.look() == 0
        store.record_state(tenant, LedgerUpdate("synced", "r-1"))
        clock.advance(60)
        assert alerts.look() == 0
        clock.advance(60)
        store.record_state(tenant, refused)
        assert alerts.look() == 1
    assert len(box.received) == 2
    assert "CHF" in texts(box)[0]
    (kept, _) = store.recent_alerts(tenant)
    assert kept.alert.subject == "referral:r-1"
    assert kept.alert.link == "https://cosell.example.com/records/r-1"
    assert kept.sent_at is not None
    assert kept.pending == ()


def test_each_tenant_sends_only_its_own_alerts_named_by_tenant(
    store: Store, clock: ManualClock
) -> None:
    with http_receiver() as box:
        acme, _ = round_for(store, clock, box, tenant_name="acme", console_root="/t/acme")
        other = store.ensure_tenant("globex")
        globex_alert = Alert("referral:r-7", "refused@x", "refused", "globex's own", "no")
        assert store.add_alert(other, globex_alert, ["ops"])
        assert acme.look() == 0
        store.record_state(store.ensure_tenant("acme"), LedgerUpdate("refused", "r-1"))
        assert acme.look() == 1
    (text,) = texts(box)
    assert text.startswith("[acme] r")
    (kept,) = store.recent_alerts(store.ensure_tenant("acme"))
    assert kept.alert.link == "https://cosell.example.com/t/acme/records/r-1"  # acme's console


def test_conflicts_and_parked_pairs_alert(store: Store, clock: ManualClock) -> None:
    with http_receiver() as box:
        alerts, _ = round_for(store, clock, box)
        tenant = store.ensure_tenant("acme")
        store.record_state(tenant, LedgerUpdate("conflict", "r-1", "006A", reason="amount"))
        store.record_state(tenant, LedgerUpdate("parked", "r-2", "006B", reason="undoing"))
        store.record_state(tenant, LedgerUpdate("synced", "r-3", "006C"))
        assert alerts.look() == 2
        assert alerts.look() == 0
    events = sorted(json.loads(r.body)["blocks"][1]["elements"][0]["text"] for r in box.received)
    assert [e.split(" · ")[0] for e in events] == ["conflict", "parked"]


def test_a_failed_send_is_retried_later_and_its_error_hides_the_url(
    store: Store, clock: ManualClock
) -> None:
    with http_receiver() as box:
        box.statuses += [503]
        deliveries: list[tuple[str, str, str]] = []
        alerts, _ = round_for(store, clock, box, deliveries)
        tenant = store.ensure_tenant("acme")
        store.record_state(tenant, LedgerUpdate("refused", "r-1", reason="no"))
        assert alerts.look() == 0
        (kept,) = store.recent_alerts(tenant)
        assert kept.pending == ("ops",)
        assert kept.last_error is not None
        assert "HTTP 503" in kept.last_error
        assert "T0KEN" not in kept.last_error
        assert alerts.look() == 0  # not due before its backoff
        assert len(box.received) == 1
        clock.advance(61)
        assert alerts.look() == 1
        assert alerts.look() == 0
    assert len(box.received) == 2
    (kept,) = store.recent_alerts(tenant)
    assert kept.pending == ()
    assert kept.attempts == 2
    assert deliveries == [("refused", "ops", "failed"), ("refused", "ops", "sent")]


def test_an_unaccepted_referral_alerts_before_it_expires(store: Store, clock: ManualClock) -> None:
    expires = clock.now() + timedelta(days=2)
    soon = ExpiringReferral("r-9", "Contoso migration", "Pending", expires, 2.0)
    later = ExpiringReferral("r-8", "Later deal", "Pending", expires, 5.0)
    found = Expiring(7.0, [soon, later])
    with http_receiver() as box:
        alerts, _ = round_for(store, clock, box, expiring=lambda: found)
        assert alerts.look() == 1
        assert alerts.look() == 0
    (text,) = texts(box)
    assert text.startswith("Contoso migration: not accepted, expires in 2.0 days")


def test_connection_trouble_alerts_once_per_level(store: Store, clock: ManualClock) -> None:
    trouble = [
        ConnectionTrouble(
            "webhook registration",
            "fail",
            "no registration",
            "run: cosell webhooks register",
            clock.now(),
        )
    ]
    with http_receiver() as box:
        alerts, _ = round_for(store, clock, box, trouble=lambda: trouble)
        assert alerts.look() == 1
        clock.advance(300)
        assert alerts.look() == 0
    assert texts(box) == [
        "webhook registration: failing: no registration — run: cosell webhooks register"
    ]
