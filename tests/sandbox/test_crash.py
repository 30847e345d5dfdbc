"""The deliberate crash point: only a successful referral create ends the process."""

from __future__ import annotations

import httpx
import pytest

from cosell.sandbox.crash import CRASH_POINTS, CRASH_STATUS, CrashingTransport

REFERRALS = "https://pc.test/v1.0/engagements/referrals"


def answer(status: int) -> httpx.MockTransport:
    return httpx.MockTransport(lambda request: httpx.Response(status, json={}))


@pytest.mark.parametrize(
    ("method", "url", "status", "crashes"),
    [
        ("POST", REFERRALS, 201, True),
        ("POST", REFERRALS + "/", 201, True),
        ("POST", REFERRALS, 400, False),
        ("POST", REFERRALS, 429, False),
        ("GET", REFERRALS, 200, False),
        ("PATCH", REFERRALS + "/abc", 200, False),
        ("POST", "https://sf.test/services/data/v62.0/sobjects/Opportunity", 201, False),
    ],
)
def test_crash_only_after_a_created_referral(
    method: str, url: str, status: int, crashes: bool
) -> None:
    exits: list[int] = []
    transport = CrashingTransport(CRASH_POINTS["referral-create"], answer(status), exits.append)
    with httpx.Client(transport=transport) as client:
        response = client.request(method, url)
    assert response.status_code == status
    assert exits == ([CRASH_STATUS] if crashes else [])
