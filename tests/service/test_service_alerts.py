"""The running service alerts: a dead-lettered referral and the missing webhook registration
each reach a local receiver once, and later rounds over the unchanged states send nothing."""

from __future__ import annotations

import json
from pathlib import Path

import httpx
import pytest
from starlette.testclient import TestClient
from test_service_run import PC, SF, config_text, environment, routed

from cosell.clock import SystemClock
from cosell.emulators.partner_center import create_app as partner_center_emulator
from cosell.emulators.salesforce.app import create_app as salesforce_emulator
from cosell.errors import RejectedError
from cosell.service.parts import ServiceParts
from cosell.service.runtime import build_runtime
from cosell.settings import load_settings
from cosell.store.records import Job
from support.alert_receivers import http_receiver
from support.wait import wait_until

__all__ = ["environment"]  # the autouse fixture: only the emulators' secrets in the environment


def refuse(parts: ServiceParts) -> object:
    def handle(job: Job) -> None:
        raise RejectedError("Salesforce refused: currency CHF is not enabled", status=400)

    return handle


def test_the_service_alerts_each_state_change_once(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    pc, sf = partner_center_emulator(PC), salesforce_emulator(SF)
    control = TestClient(pc, base_url="http://pc.test")
    referral = control.post("/_emulator/referrals", json={"name": "Contoso"}).json()["id"]
    with http_receiver() as box:
        monkeypatch.setenv("COSELL_ALERT_HOOK_SECRET", "hook-secret")
        config = tmp_path / "cosell.toml"
        config.write_text(
            config_text(tmp_path / "state")
            + f"""
[alerts]
interval = 1
console_url = "https://cosell.example.com"

[[alerts.targets]]
kind = "webhook"
name = "ops"
url = "{box.url}"
secret_env = "COSELL_ALERT_HOOK_SECRET"
"""
        )
        runtime = build_runtime(
            load_settings(config), refuse, clock=SystemClock(), http=routed(pc, sf)
        )
        (alerts,) = [loop for loop in runtime.signals if loop.name == "alerts"]
        runtime.start()
        try:
            subjects = lambda: sorted(json.loads(r.body)["subject"] for r in box.received)  # noqa: E731
            expected = [f"referral:{referral}", "connection:webhook registration"]
            wait_until(lambda: subjects() == sorted(expected), 30, what="both alerts")
            assert runtime.server is not None
            metrics = httpx.get(f"{runtime.server.address}/metrics").text
            sent = (
                'cosell_alerts_total{event="refused",outcome="sent",target="ops",tenant="acme"} 1.0'
            )
            assert sent in metrics
            first = alerts.last
            wait_until(
                lambda: alerts.last is not None and first is not None and alerts.last.at > first.at,
                30,
                what="another alert round",
            )
        finally:
            runtime.stop(timeout=10)
            pc.state.emulator.close()
    assert subjects() == sorted(expected)  # the later round sent nothing again
    bodies = {json.loads(r.body)["subject"]: json.loads(r.body) for r in box.received}
    refused = bodies[f"referral:{referral}"]
    assert refused["event"] == "refused"
    assert "CHF" in refused["text"]
    assert refused["link"] == f"https://cosell.example.com/records/{referral}"
    assert bodies["connection:webhook registration"]["event"] == "connection"
    assert all("X-Cosell-Signature" in r.headers for r in box.received)


def test_an_unaccepted_referral_read_from_partner_center_alerts_before_it_expires(
    tmp_path: Path,
) -> None:
    from cosell.alerts import AlertSender, targets_from_settings
    from cosell.clients.connect import partner_center_client
    from cosell.clock import ManualClock
    from cosell.operations.alerting import AlertRound
    from cosell.service.console import cached_expiring
    from cosell.store.sql import Store

    pc, sf = partner_center_emulator(PC), salesforce_emulator(SF)
    control = TestClient(pc, base_url="http://pc.test")
    shared = control.post("/_emulator/referrals", json={"name": "Woodgrove rollout"}).json()
    with http_receiver() as box:
        config = tmp_path / "cosell.toml"
        config.write_text(
            config_text(tmp_path / "state")
            + f"""
[alerts]
expiring_days = 3

[[alerts.targets]]
kind = "webhook"
name = "ops"
url = "{box.url}"
secret_env = "COSELL_ALERT_HOOK_SECRET"
"""
        )
        settings = load_settings(config)
        # twelve of the referral's fourteen days have passed, on the emulator's clock
        clock = ManualClock(pc.state.emulator.clock.now())
        clock.advance(12 * 86400)
        client = partner_center_client(settings, clock, routed(pc, sf))
        store = Store.open(f"sqlite:///{tmp_path / 'alerts.db'}", clock=clock)
        tenant = store.ensure_tenant("acme")
        targets = targets_from_settings(settings.alerts, clock, {"COSELL_ALERT_HOOK_SECRET": "k"})
        round_ = AlertRound(
            store,
            tenant,
            settings.alerts,
            AlertSender(store, tenant, targets, clock),
            expiring=cached_expiring(client, clock, settings.alerts.expiring_days),
        )
        try:
            assert round_.look() == 1
            clock.advance(600)  # past the five-minute cache: Partner Center is asked again
            assert round_.look() == 0
        finally:
            store.close()
            pc.state.emulator.close()
    (got,) = [json.loads(r.body) for r in box.received]
    assert got["event"] == "expiring"
    assert got["subject"] == f"referral:{shared['id']}"
    assert got["title"].startswith("Woodgrove rollout: not accepted, expires in 2.0 days")
