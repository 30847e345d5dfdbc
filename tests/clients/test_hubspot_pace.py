"""HubSpot requests spaced to fit the app's ten-second burst and the account's searches a second:
the pace holds a request until the window has room (on the injected clock), learns the window
from HubSpot's answers, and counts what another process of the same app spent."""

from datetime import UTC, datetime
from typing import Any

import pytest
from starlette.testclient import TestClient

from cosell.clients.hubspot import HubSpotClient
from cosell.clients.hubspot_auth import PrivateAppAuth
from cosell.clients.hubspot_pace import Pace
from cosell.clients.retry import RetryPolicy
from cosell.clock import ManualClock
from cosell.emulators.hubspot import HubSpotEmulatorConfig, create_app


@pytest.fixture
def clock() -> ManualClock:
    return ManualClock(datetime(2026, 3, 2, 9, 0, tzinfo=UTC))


def test_a_request_waits_only_when_the_window_is_full(clock: ManualClock) -> None:
    pace = Pace(clock, limit=3, window=10.0)
    for _ in range(3):
        pace.turn()
    assert clock.slept == []
    clock.advance(4)
    pace.turn()  # the first of the window leaves it 6 s from now
    assert clock.slept == [6.0]
    pace.turn()  # the second and third left with it (all three went at the same instant)
    assert clock.slept == [6.0]


def test_the_margin_leaves_room_for_other_integrations(clock: ManualClock) -> None:
    pace = Pace(clock, limit=100, window=10.0, margin=0.1)
    for _ in range(90):
        pace.turn()
    assert clock.slept == []
    pace.turn()
    assert clock.slept == [10.0]


def test_the_window_is_learnt_from_the_answers(clock: ManualClock) -> None:
    pace = Pace(clock, limit=100, window=10.0)
    pace.learn(
        {
            "x-hubspot-ratelimit-max": "190",
            "x-hubspot-ratelimit-interval-milliseconds": "10000",
            "x-hubspot-ratelimit-remaining": "189",
        }
    )
    assert (pace.limit, pace.window) == (190, 10.0)
    pace.learn({"x-hubspot-ratelimit-max": "not a number"})
    assert pace.limit == 190


def test_requests_another_process_spent_are_counted(clock: ManualClock) -> None:
    pace = Pace(clock, limit=10, window=10.0)
    pace.turn()
    pace.learn({"x-hubspot-ratelimit-max": "10", "x-hubspot-ratelimit-remaining": "2"})
    for _ in range(2):  # 1 ours and 7 elsewhere: 2 left
        pace.turn()
    assert clock.slept == []
    pace.turn()
    assert clock.slept == [10.0]


def _client(app: Any, clock: ManualClock, config: HubSpotEmulatorConfig) -> HubSpotClient:
    http = TestClient(app)
    http.auth = PrivateAppAuth(config.private_app_token)
    return HubSpotClient(http, retry=RetryPolicy(clock=clock, base=0.1))


def test_a_client_going_faster_than_the_burst_is_never_refused(clock: ManualClock) -> None:
    config = HubSpotEmulatorConfig(burst_limit=20, search_per_second=5)
    app = create_app(config, clock=clock)
    hubspot = _client(app, clock, config)
    for n in range(60):
        hubspot.create("deals", {"dealname": f"d{n}", "dealstage": "closedwon"})
    for _ in range(6):
        hubspot.search("deals", [], limit=1)
    calls = app.state.emulator.calls.snapshot()["calls"]
    assert calls["POST /crm/v3/objects/{object_type}"] == 60  # none refused and sent again
    assert calls["POST /crm/v3/objects/{object_type}/search"] == 6
    assert hubspot.pace.limit == 20
    assert hubspot.pace.waited > 0
    assert clock.monotonic() >= 20.0  # 60 creates at 18 a window: the fourth window
