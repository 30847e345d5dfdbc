"""The API budget: Sforce-Limit-Info tracking and the reserve kept for urgent calls."""

from __future__ import annotations

from datetime import UTC, datetime

import httpx
import pytest

from cosell.clients.salesforce import SalesforceClient
from cosell.clients.salesforce_limits import (
    ApiBudget,
    Reserve,
    current_priority,
    parse_limit_info,
    priority,
)
from cosell.clock import ManualClock
from cosell.errors import LimitReserveReached

BASE = "https://org.example.my.salesforce.com"


@pytest.mark.parametrize(
    ("header", "expected"),
    [
        ("api-usage=10018/100000", (10018, 100000)),
        ("api-bursts=1/750, api-usage=25/15000", (25, 15000)),
        ("per-app-api-usage=17/250(appName=x)", None),
        ("", None),
    ],
)
def test_parse_limit_info(header: str, expected: tuple[int, int] | None) -> None:
    assert parse_limit_info(header) == expected


@pytest.mark.parametrize(
    ("reserve", "maximum", "kept"),
    [
        (Reserve(0.1), 10_000, 1_000),
        (Reserve(0.0, 250), 10_000, 250),
        (Reserve(0.1, 5000), 10_000, 5000),
    ],
)
def test_reserve_size(reserve: Reserve, maximum: int, kept: int) -> None:
    assert reserve.of(maximum) == kept


class UsageOrg:
    """Answers every call, reporting usage that grows by one per call."""

    def __init__(self, used: int, maximum: int) -> None:
        self.used = used
        self.maximum = maximum
        self.calls = 0

    def __call__(self, request: httpx.Request) -> httpx.Response:
        self.calls += 1
        self.used += 1
        headers = {"Sforce-Limit-Info": f"api-usage={self.used}/{self.maximum}"}
        return httpx.Response(200, json={"Id": "006A"}, headers=headers)


def make(org: UsageOrg, reserve: Reserve) -> tuple[SalesforceClient, ManualClock]:
    clock = ManualClock(datetime(2026, 4, 1, tzinfo=UTC))
    http = httpx.Client(transport=httpx.MockTransport(org), base_url=BASE)
    return SalesforceClient(http, budget=ApiBudget(reserve, clock=clock)), clock


def test_every_response_updates_the_budget() -> None:
    org = UsageOrg(used=41, maximum=15_000)
    client, clock = make(org, Reserve(0.1))
    client.get("Opportunity", "006A")
    usage = client.budget.usage
    assert usage is not None
    assert (usage.used, usage.max, usage.remaining) == (42, 15_000, 14_958)
    assert usage.updated_at == clock.now()


def test_reserve_pauses_background_calls_but_not_urgent_ones() -> None:
    org = UsageOrg(used=9_099, maximum=10_000)
    client, _ = make(org, Reserve(0.1))
    client.get("Opportunity", "006A")  # learns usage 9,100 / 10,000: remaining 900 <= 1,000
    with pytest.raises(LimitReserveReached) as raised:
        client.get("Opportunity", "006A", priority="background")
    assert str(raised.value) == (
        "Salesforce API budget reserve reached: 9,100 of 10,000 used; reserve 10%; "
        "background work paused"
    )
    assert org.calls == 1  # refused before sending
    with priority("background"), pytest.raises(LimitReserveReached):
        list(client.query("SELECT Id FROM Opportunity"))
    assert org.calls == 1
    assert client.get("Opportunity", "006A") == {"Id": "006A"}  # urgent still goes
    assert org.calls == 2


def test_background_calls_run_while_above_the_reserve() -> None:
    org = UsageOrg(used=100, maximum=10_000)
    client, _ = make(org, Reserve(0.1))
    with priority("background"):
        assert current_priority() == "background"
        for _ in range(3):
            client.get("Opportunity", "006A")
    assert current_priority() == "urgent"
    assert org.calls == 3


def test_query_priority_is_taken_when_the_query_starts() -> None:
    org = UsageOrg(used=9_500, maximum=10_000)
    client, _ = make(org, Reserve(0.1))
    client.get("Opportunity", "006A")
    with priority("background"):
        rows = client.query("SELECT Id FROM Opportunity")
    with pytest.raises(LimitReserveReached):
        next(rows)
