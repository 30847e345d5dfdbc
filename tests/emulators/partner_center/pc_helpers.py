"""Helpers for the Partner Center emulator tests (a webhook receiver, request shortcuts)."""

from __future__ import annotations

import json
import threading
from dataclasses import dataclass, field
from typing import Any

import httpx
from starlette.testclient import TestClient

from cosell.emulators.partner_center.emulator import Emulator

TOKEN_PATH = "/sandbox-tenant/oauth2/token"
REFERRALS = "/v1.0/engagements/referrals"
HOOK_URL = "https://receiver.example/hooks/pc"


@dataclass
class Receiver:
    """A webhook target (an httpx MockTransport handler) that fails its first ``failures`` calls."""

    failures: int = 0
    status: int = 500
    requests: list[httpx.Request] = field(default_factory=list)
    lock: threading.Lock = field(default_factory=threading.Lock)

    def __call__(self, request: httpx.Request) -> httpx.Response:
        request.read()
        with self.lock:
            self.requests.append(request)
            failing = len(self.requests) <= self.failures
        return httpx.Response(self.status if failing else 200)

    def events(self) -> list[str]:
        with self.lock:
            return [json.loads(r.content)["EventName"] for r in self.requests]


def password_token(client: TestClient, **extra: str) -> dict[str, Any]:
    form = {
        "grant_type": "password",
        "client_id": "cosell-sandbox",
        "username": "referrals-admin@partner.example",
        "password": "sandbox-password",
        "resource": "https://api.partner.microsoft.com",
        **extra,
    }
    response = client.post(TOKEN_PATH, data=form)
    assert response.status_code == 200, response.text
    body: dict[str, Any] = response.json()
    return body


def new_referral(**overrides: Any) -> dict[str, Any]:
    body: dict[str, Any] = {
        "name": "Fabrikam rollout",
        "type": "Independent",
        "status": "New",
        "substatus": "Pending",
        "customerProfile": {
            "name": "Fabrikam",
            "address": {"city": "Lyon", "country": "FR"},
            "team": [{"firstName": "Ana", "lastName": "Lopez", "email": "ana@fabrikam.example"}],
        },
        "consent": {"consentToShareReferralWithMicrosoftSellers": False},
        "details": {
            "dealValue": 1000,
            "currency": "EUR",
            "requirements": {"solutions": [{"id": "SOL-1", "name": "Sample"}]},
        },
    }
    body.update(overrides)
    return body


def create(client: TestClient, auth: dict[str, str], **overrides: Any) -> dict[str, Any]:
    response = client.post(REFERRALS, json=new_referral(**overrides), headers=auth)
    assert response.status_code == 201, response.text
    referral: dict[str, Any] = response.json()
    return referral


def register(
    client: TestClient, auth: dict[str, str], events: list[str], header: bool = False
) -> None:
    body = {"WebhookUrl": HOOK_URL, "WebhookEvents": events}
    body["SignatureTokenToMsSignatureHeader"] = header  # type: ignore[assignment]
    response = client.post("/webhooks/v1/registration", json=body, headers=auth)
    assert response.status_code == 200, response.text


def deliveries(emulator: Emulator) -> list[dict[str, Any]]:
    return emulator.dispatcher.snapshot()
