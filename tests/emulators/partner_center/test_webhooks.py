import base64
import json
from datetime import UTC, datetime

import pytest
from cryptography import x509
from cryptography.exceptions import InvalidSignature
from cryptography.hazmat.primitives import hashes
from cryptography.hazmat.primitives.asymmetric import padding, rsa
from pc_helpers import HOOK_URL, REFERRALS, Receiver, create, deliveries, register
from starlette.testclient import TestClient

from cosell.clock import ManualClock
from cosell.emulators.partner_center.emulator import Emulator
from cosell.emulators.partner_center.responses import parse_time
from support.wait import wait_until

ALL = ["referral-created", "referral-updated", "related-referral-created", "test-created"]


def verify(client: TestClient, body: bytes, header: str) -> None:
    cert = x509.load_der_x509_certificate(client.get("/_emulator/certificate.cer").content)
    key = cert.public_key()
    assert isinstance(key, rsa.RSAPublicKey)
    scheme, signature = header.split(" ", 1)
    assert scheme == "Signature"
    key.verify(base64.b64decode(signature), body, padding.PKCS1v15(), hashes.SHA256())


def test_registration_lifecycle(client: TestClient, auth: dict[str, str]) -> None:
    url = "/webhooks/v1/registration"
    assert client.get(url, headers=auth).status_code == 404
    assert (
        client.put(
            url, json={"WebhookUrl": HOOK_URL, "WebhookEvents": ALL}, headers=auth
        ).status_code
        == 404
    )
    created = client.post(url, json={"WebhookUrl": HOOK_URL, "WebhookEvents": ALL}, headers=auth)
    assert set(created.json()) == {"SubscriberId", "WebhookUrl", "WebhookEvents"}
    again = client.post(url, json={"WebhookUrl": HOOK_URL, "WebhookEvents": ALL}, headers=auth)
    assert again.status_code == 409
    updated = client.put(
        url, json={"webhookUrl": HOOK_URL + "2", "webhookEvents": ALL[:1]}, headers=auth
    )
    assert updated.json()["SubscriberId"] == created.json()["SubscriberId"]
    assert client.get(url, headers=auth).json() == {
        "WebhookUrl": HOOK_URL + "2",
        "WebhookEvents": ALL[:1],
    }
    bad = client.put(url, json={"WebhookUrl": HOOK_URL, "WebhookEvents": ["nope"]}, headers=auth)
    assert bad.status_code == 400
    events = client.get(url + "/events", headers=auth).json()
    assert set(ALL) <= set(events)


def test_delivery_is_signed_over_the_raw_body(
    client: TestClient, auth: dict[str, str], receiver: Receiver, emulator: Emulator
) -> None:
    register(client, auth, ALL)
    referral = create(client, auth)
    wait_until(lambda: len(receiver.requests) == 1)
    request = receiver.requests[0]
    payload = json.loads(request.content)
    assert payload["EventName"] == "referral-created"
    assert payload["ResourceName"] == "referral"
    assert payload["AuditUri"] is None
    assert payload["ResourceUri"].endswith(f"/engagements/v1/referrals/{referral['id']}")
    assert payload["ResourceChangeUtcDate"].endswith("+00:00")
    assert len(payload["ResourceChangeUtcDate"].split(".")[1]) == len("0000000+00:00")
    assert request.headers["X-MS-Signature-Algorithm"] == "rsa-sha256"
    assert request.headers["X-MS-Certificate-Url"].endswith("/_emulator/certificate.cer")
    verify(client, request.content, request.headers["Authorization"])
    with pytest.raises(InvalidSignature):
        verify(
            client,
            request.content.replace(b"referral", b"Referral"),
            request.headers["Authorization"],
        )
    assert client.get(payload["ResourceUri"], headers=auth).json()["id"] == referral["id"]
    ca = x509.load_pem_x509_certificate(client.get("/_emulator/ca.pem").content)
    leaf = x509.load_der_x509_certificate(client.get("/_emulator/certificate.cer").content)
    leaf.verify_directly_issued_by(ca)


def test_ms_signature_header_mode(
    client: TestClient, auth: dict[str, str], receiver: Receiver
) -> None:
    register(client, auth, ALL, header=True)
    create(client, auth)
    wait_until(lambda: len(receiver.requests) == 1)
    request = receiver.requests[0]
    assert "Authorization" not in request.headers
    verify(client, request.content, request.headers["x-ms-signature"])


def test_retried_until_the_target_succeeds(
    client: TestClient, auth: dict[str, str], receiver: Receiver, emulator: Emulator
) -> None:
    receiver.failures = 3
    register(client, auth, ALL)
    create(client, auth)
    wait_until(lambda: deliveries(emulator)[0]["state"] == "delivered")
    codes = [a["status_code"] for a in deliveries(emulator)[0]["attempts"]]
    assert codes == [500, 500, 500, 200]


def test_dropped_after_ten_attempts(
    client: TestClient, auth: dict[str, str], receiver: Receiver, emulator: Emulator
) -> None:
    receiver.failures = 1000
    register(client, auth, ALL)
    create(client, auth)
    wait_until(lambda: deliveries(emulator)[0]["state"] == "dropped")
    assert len(deliveries(emulator)[0]["attempts"]) == 10
    assert len(receiver.requests) == 10


def test_validation_events(
    client: TestClient, auth: dict[str, str], receiver: Receiver, clock: ManualClock
) -> None:
    url = "/webhooks/v1/registration/validationEvents"
    register(client, auth, ["referral-created"])
    assert client.post(url, headers=auth).status_code == 400
    client.put(
        "/webhooks/v1/registration",
        json={"WebhookUrl": HOOK_URL, "WebhookEvents": ALL},
        headers=auth,
    )
    correlation = client.post(url, headers=auth).json()["correlationId"]
    wait_until(
        lambda: client.get(f"{url}/{correlation}", headers=auth).json()["status"] == "completed"
    )
    result = client.get(f"{url}/{correlation}", headers=auth).json()
    assert result["callbackUrl"] == HOOK_URL
    assert [r["responseCode"] for r in result["results"]] == ["OK"]
    assert json.loads(receiver.requests[0].content)["ResourceName"] == "test"
    assert client.post(url, headers=auth).status_code == 200
    limited = client.post(url, headers=auth)
    assert limited.status_code == 429
    assert int(limited.headers["Retry-After"]) > 0
    clock.advance(61)
    assert client.post(url, headers=auth).status_code == 200


def test_microsoft_side_events(
    client: TestClient, auth: dict[str, str], receiver: Receiver, emulator: Emulator
) -> None:
    register(client, auth, [*ALL, "related-referral-updated"])
    referral = create(client, auth, inviteContext={"assistanceRequestCode": "GeneralOrOther"})
    related = client.post(f"/_emulator/referrals/{referral['id']}/related").json()
    assert related["engagementId"] == referral["engagementId"]
    assert related["organizationId"] == "msft"
    accepted = client.patch(
        f"/_emulator/referrals/{related['id']}", json={"status": "Active", "substatus": "Accepted"}
    )
    assert accepted.status_code == 200
    wait_until(lambda: len(receiver.requests) == 3)
    assert receiver.events() == [
        "referral-created",
        "related-referral-created",
        "related-referral-updated",
    ]
    same = client.get(
        REFERRALS, params={"$filter": f"engagementId eq '{referral['engagementId']}'"}, headers=auth
    )
    assert {r["id"] for r in same.json()["value"]} == {referral["id"], related["id"]}


class TickingClock(ManualClock):
    """A clock that moves a millisecond each time it is read, as a real one moves between two
    reads in one request."""

    def now(self) -> datetime:
        self.advance(0.001)
        return super().now()


class TestTheChangeTime:
    @pytest.fixture
    def clock(self) -> ManualClock:
        return TickingClock(datetime(2026, 3, 1, 12, 0, tzinfo=UTC))

    def test_an_event_carries_the_time_its_referral_took_the_change(
        self, client: TestClient, auth: dict[str, str], receiver: Receiver
    ) -> None:
        """``ResourceChangeUtcDate`` is the change's time: the ``updatedDateTime`` the write
        returned, to the tick, for a create and for an update."""
        register(client, auth, ALL)
        created = create(client, auth)
        accept = [
            {"op": "replace", "path": "/status", "value": "Active"},
            {"op": "replace", "path": "/substatus", "value": "Accepted"},
        ]
        prefer = {**auth, "Prefer": "return=representation"}
        updated = client.patch(f"{REFERRALS}/{created['id']}", json=accept, headers=prefer).json()
        wait_until(lambda: len(receiver.requests) == 2)
        sent = [json.loads(request.content) for request in receiver.requests]
        events = [payload["EventName"] for payload in sent]
        assert events == ["referral-created", "referral-updated"]
        changed = [parse_time(payload["ResourceChangeUtcDate"]) for payload in sent]
        assert changed == [
            parse_time(created["updatedDateTime"]),
            parse_time(updated["updatedDateTime"]),
        ]
        assert changed[0] < changed[1]
