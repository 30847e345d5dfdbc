"""Listing partial referrals: ``$select`` views, the sweep's ``changed_since``, servers that
ignore ``$select``, and what ``$select`` saves on the wire."""

from __future__ import annotations

import json
import random
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from typing import Any

import httpx
import pytest
from starlette.testclient import TestClient

from cosell.clients.partner_center import PartnerCenterClient
from cosell.clients.referral import Referral, ReferralStamp, ReferralView
from cosell.clients.retry import RetryPolicy
from cosell.clock import ManualClock
from cosell.emulators.partner_center import PartnerCenterEmulatorConfig
from cosell.emulators.partner_center.app import create_app
from cosell.errors import RejectedError

BASE = "https://api.partner.microsoft.com"
REFERRALS = "/v1.0/engagements/referrals"
START = datetime(2026, 3, 1, 12, 0, tzinfo=UTC)
CONFIG = PartnerCenterEmulatorConfig(delivery_backoff=0.001)


class Names(ReferralView):
    """A view of a referral's id and name."""

    id: str | None = None
    name: str | None = None


@pytest.fixture
def clock() -> ManualClock:
    return ManualClock(START)


@pytest.fixture
def http(clock: ManualClock) -> Iterator[TestClient]:
    delivery = httpx.Client(transport=httpx.MockTransport(lambda _r: httpx.Response(200)))
    with TestClient(create_app(CONFIG, clock=clock, delivery_client=delivery)) as test_client:
        form = {
            "grant_type": "password",
            "client_id": CONFIG.client_id,
            "username": CONFIG.username,
            "password": CONFIG.password,
            "resource": "https://api.partner.microsoft.com",
        }
        token = test_client.post(f"/{CONFIG.tenant}/oauth2/token", data=form).json()
        test_client.headers["Authorization"] = f"Bearer {token['access_token']}"
        yield test_client
    delivery.close()


def rich_referral(index: int) -> dict[str, Any]:
    """A referral with 3 customer contacts, 2 team members, 2 solutions and notes."""
    contacts = [
        {"firstName": f"C{n}", "lastName": "Contact", "email": f"c{n}@customer.example"}
        for n in range(3)
    ]
    return {
        "name": f"Fabrikam rollout {index}",
        "type": "Independent",
        "customerProfile": {
            "name": "Fabrikam",
            "address": {"addressLine1": "1 Main St", "city": "Lyon", "country": "FR"},
            "team": contacts,
        },
        "team": [
            {"firstName": "Sam", "lastName": "Seller", "email": "sam@partner.example"},
            {"firstName": "Kim", "lastName": "Seller", "email": "kim@partner.example"},
        ],
        "consent": {"consentToShareReferralWithMicrosoftSellers": False},
        "details": {
            "dealValue": 25000,
            "currency": "EUR",
            "notes": "Migration of 400 seats; the customer wants a pilot before the summer.",
            "requirements": {
                "solutions": [{"id": "SOL-1", "name": "Sample"}, {"id": "SOL-2", "name": "Other"}]
            },
        },
    }


def make(http: TestClient, count: int, clock: ManualClock) -> list[dict[str, Any]]:
    made = []
    for index in range(count):
        response = http.post(REFERRALS, json=rich_referral(index))
        assert response.status_code == 201, response.text
        made.append(response.json())
        clock.advance(60)
    return made


def test_select_asks_only_for_the_view_and_reads_each_row_as_it(
    http: TestClient, clock: ManualClock
) -> None:
    made = make(http, 3, clock)
    client = PartnerCenterClient(http)
    rows = list(client.list_referrals(orderby="createdDateTime asc", select=Names))
    assert [(r.id, r.name) for r in rows] == [(m["id"], m["name"]) for m in made]
    assert all(type(r) is Names and set(r.to_wire()) == {"id", "name"} for r in rows)
    stamps = list(client.list_referrals(select=ReferralStamp))
    assert [(s.id, s.e_tag, s.updated_date_time) for s in stamps] == [
        (m["id"], m["eTag"], _instant(m["updatedDateTime"])) for m in made
    ]


def test_changed_since_lists_stamps_of_referrals_changed_at_or_after_the_watermark(
    http: TestClient, clock: ManualClock
) -> None:
    first, second, third = make(http, 3, clock)
    ops = [{"op": "replace", "path": "/details/notes", "value": "moved"}]
    assert http.patch(f"{REFERRALS}/{first['id']}", json=ops).status_code == 204
    client = PartnerCenterClient(http)
    watermark = START + timedelta(seconds=60, milliseconds=400)  # floored to :01:00
    stamps = list(client.changed_since(watermark))
    assert [s.id for s in stamps] == [second["id"], third["id"], first["id"]]
    now = http.get(f"{REFERRALS}/{first['id']}").json()
    assert stamps[-1].e_tag == now["eTag"] != first["eTag"]
    assert stamps[-1].updated_date_time == _instant(now["updatedDateTime"])
    assert [s.id for s in client.changed_since(None)] == [second["id"], third["id"], first["id"]]
    assert list(client.changed_since(START + timedelta(days=1))) == []


def test_changed_since_follows_pages_keeping_select(http: TestClient, clock: ManualClock) -> None:
    for _ in range(105):
        assert http.post(REFERRALS, json=rich_referral(0)).status_code == 201
    seen: list[httpx.Request] = []
    http.event_hooks["request"] = [seen.append]
    stamps = list(PartnerCenterClient(http).changed_since(START))
    assert len({s.id for s in stamps}) == 105
    assert len(seen) == 2
    assert all(r.url.params["$select"] == "id,updatedDateTime,eTag" for r in seen)


def test_a_server_that_ignores_select_still_yields_light_rows() -> None:
    whole = {
        "id": "ref-1",
        "eTag": '"e-1"',
        "updatedDateTime": "2026-03-01T12:00:00.1234567Z",
        "details": {"dealValue": "not a number"},  # would not even fit a full Referral
        "customerProfile": {"team": [{"email": "c@customer.example"}]},
    }
    requests: list[httpx.Request] = []

    def server(request: httpx.Request) -> httpx.Response:
        requests.append(request)
        return httpx.Response(200, json={"value": [whole], "@odata.count": 1})

    client = _mocked(server)
    [stamp] = list(client.changed_since(START))
    assert requests[0].url.params["$select"] == "id,updatedDateTime,eTag"
    assert requests[0].url.params["$filter"] == "updatedDateTime ge 2026-03-01T12:00:00Z"
    assert requests[0].url.params["$orderby"] == "updatedDateTime asc"
    assert (stamp.id, stamp.e_tag) == ("ref-1", '"e-1"')
    assert stamp.updated_date_time == datetime(2026, 3, 1, 12, 0, 0, 123456, tzinfo=UTC)
    assert stamp.to_wire() == {k: whole[k] for k in ("id", "updatedDateTime", "eTag")}
    with pytest.raises(RejectedError, match="dealValue"):
        list(client.list_referrals())


def test_partial_rows_are_never_full_referrals() -> None:
    rows = [{"id": "ref-1", "eTag": '"e"'}, {"eTag": '"f"', "updatedDateTime": None}]
    client = _mocked(lambda _r: httpx.Response(200, json={"value": rows}))
    stamps = list(client.list_referrals(select=ReferralStamp))
    assert [type(s) for s in stamps] == [ReferralStamp, ReferralStamp]
    assert not any(isinstance(s, Referral) for s in stamps)
    assert [(s.id, s.updated_date_time, s.e_tag) for s in stamps] == [
        ("ref-1", None, '"e"'),
        (None, None, '"f"'),
    ]


def test_a_stamp_with_a_bad_timestamp_is_rejected_naming_the_field() -> None:
    rows = [{"id": "ref-1", "updatedDateTime": "yesterday"}]
    client = _mocked(lambda _r: httpx.Response(200, json={"value": rows}))
    with pytest.raises(RejectedError, match="updatedDateTime"):
        list(client.changed_since(None))


def test_select_cuts_the_bytes_listed_per_referral(http: TestClient, clock: ManualClock) -> None:
    make(http, 20, clock)
    full = _bytes_per_referral(http, {})
    stamps = _bytes_per_referral(http, {"$select": ReferralStamp.selection()})
    assert stamps * 10 < full


def _bytes_per_referral(http: TestClient, params: dict[str, str]) -> float:
    response = http.get(REFERRALS, params=params)
    return len(response.content) / len(json.loads(response.content)["value"])


def _mocked(handler: Any) -> PartnerCenterClient:
    http = httpx.Client(base_url=BASE, transport=httpx.MockTransport(handler))
    retry = RetryPolicy(attempts=1, clock=ManualClock(), rng=random.Random(1))
    return PartnerCenterClient(http, retry=retry)


def _instant(text: str) -> datetime:
    return datetime.fromisoformat(text.replace("0Z", "+00:00"))
