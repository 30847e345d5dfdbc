"""``CallMeter``: Partner Center calls counted per hour and read back as a 24-hour total."""

import json

import httpx
from ops_world import OpsWorld

from cosell.operations.call_meter import CallMeter, calls_last_24h


def answering(base_url: str, auth: httpx.Auth | None) -> httpx.Client:
    transport = httpx.MockTransport(lambda request: httpx.Response(200, json={"value": []}))
    return httpx.Client(base_url=base_url, transport=transport, auth=auth)


def test_calls_through_metered_clients_are_counted_for_24_hours(world: OpsWorld) -> None:
    store, tenant = world.store()
    clock = world.clock
    meter = CallMeter(store, tenant, clock, flush_every=60)
    http = meter.metered(answering, {"https://api.partner.microsoft.com"})
    partner_center = http("https://api.partner.microsoft.com", None)
    salesforce = http("https://acme.my.salesforce.com", None)
    assert calls_last_24h(store, tenant, clock.now()) is None

    for _ in range(3):
        partner_center.get("/v1.0/engagements/referrals")
    salesforce.get("/services/data/v62.0/limits")
    assert calls_last_24h(store, tenant, clock.now()) == 1  # the first at once, then each minute
    clock.advance(3600)  # type: ignore[attr-defined]
    partner_center.get("/v1.0/engagements/referrals")  # a minute has passed: merged now

    assert calls_last_24h(store, tenant, clock.now()) == 4
    clock.advance(23.5 * 3600)  # type: ignore[attr-defined]
    assert calls_last_24h(store, tenant, clock.now()) == 1  # the first hour left the window


def test_flush_merges_with_counts_already_stored(world: OpsWorld) -> None:
    store, tenant = world.store()
    first, second = (CallMeter(store, tenant, world.clock) for _ in range(2))
    first.count(2)
    second.count(5)
    first.flush()
    second.flush()
    assert calls_last_24h(store, tenant, world.clock.now()) == 7


def test_status_shows_the_count(world: OpsWorld) -> None:
    store, tenant = world.store()
    meter = CallMeter(store, tenant, world.clock)
    meter.count(42)
    meter.flush()
    code, out, _ = world.cosell("status", "--offline", "--json")
    assert code == 0
    assert json.loads(out)["partner_center_calls_24h"] == 42
    assert "42 calls in the last 24 h" in world.cosell("status", "--offline")[1]
