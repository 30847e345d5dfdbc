"""The receiver with the real verifier: signatures made here, certificates served by a mock."""

import json
from functools import partial
from pathlib import Path

import httpx
import pytest
from receiver_ca import CERT_HOST, CERT_URL, SigningAuthority
from starlette.testclient import TestClient

from cosell.clock import SystemClock
from cosell.operations.service_status import ServiceStatus
from cosell.queue.embedded import EmbeddedQueue
from cosell.store.records import Job
from cosell.store.sql import Store
from cosell.web.app import create_app
from cosell.web.metrics import ServiceMetrics
from cosell.web.receiver import WebhookReceiver
from cosell.webhooks.certificates import CertificateCache, TrustPolicy
from cosell.webhooks.events import PATH
from cosell.webhooks.signature import verify_callback

AUTHORITY = SigningAuthority()


def body(event: str = "referral-updated", referral_id: str = "r-42") -> bytes:
    return json.dumps(
        {
            "EventName": event,
            "ResourceUri": f"https://api.partnercenter.microsoft.com/engagements/v1/referrals/{referral_id}",
            "ResourceName": "referral",
            "AuditUri": None,
            "ResourceChangeUtcDate": "2026-03-01T12:00:00.1234567+00:00",
        }
    ).encode()


class Receiver:
    def __init__(self, tmp_path: Path) -> None:
        self.fetched: list[str] = []
        self.store = Store.open(f"sqlite:///{tmp_path / 'cosell.db'}", clock=SystemClock())
        self.tenant = self.store.ensure_tenant("acme")
        self.handled: list[str] = []
        self.queue = EmbeddedQueue(self.store, self.handle, workers=1)
        policy = TrustPolicy.sandbox_mode(AUTHORITY.ca_pem, [CERT_HOST])
        fetcher = httpx.Client(transport=httpx.MockTransport(self.serve))
        certificates = CertificateCache(fetcher, policy)
        metrics, status = ServiceMetrics(), ServiceStatus("acme", SystemClock())
        receiver = WebhookReceiver(
            verify=partial(verify_callback, certificates=certificates),
            queue=self.queue,
            tenant=self.tenant,
            is_linked=lambda _: False,
            sweep_hint=lambda: None,
            metrics=metrics,
            status=status,
        )
        self.http = TestClient(create_app(receiver=receiver, status=status, metrics=metrics))

    def serve(self, request: httpx.Request) -> httpx.Response:
        self.fetched.append(str(request.url))
        return httpx.Response(200, content=AUTHORITY.leaf_der)

    def handle(self, job: Job) -> None:
        self.handled.append(job.key)

    def post(self, content: bytes, headers: dict[str, str]) -> int:
        return self.http.post(PATH, content=content, headers=headers).status_code

    @property
    def depth(self) -> int:
        return self.store.stats(self.tenant).queue_depth


@pytest.fixture
def receiver(tmp_path: Path) -> Receiver:
    return Receiver(tmp_path)


def test_valid_signed_callback_is_202_and_one_enqueue(receiver: Receiver) -> None:
    content = body(referral_id="r-42")
    assert receiver.post(content, AUTHORITY.headers(content)) == 202
    assert receiver.depth == 1
    assert receiver.handled == []  # nothing synced inside the request
    receiver.queue.run_until_idle(timeout=10)
    assert receiver.handled == ["referral:r-42"]
    assert receiver.fetched == [CERT_URL]


def test_duplicate_signed_deliveries_enqueue_one_key(receiver: Receiver) -> None:
    content = body(referral_id="r-7")
    for _ in range(4):
        assert receiver.post(content, AUTHORITY.headers(content)) == 202
    assert receiver.depth == 1
    assert len(receiver.fetched) == 1  # the certificate is cached by URL


def test_tampered_body_is_401(receiver: Receiver) -> None:
    signed = body(referral_id="r-1")
    assert receiver.post(body(referral_id="r-2"), AUTHORITY.headers(signed)) == 401
    assert receiver.depth == 0


def test_unsigned_callback_is_401(receiver: Receiver) -> None:
    content = body()
    headers = AUTHORITY.headers(content)
    del headers["authorization"]
    assert receiver.post(content, headers) == 401
    assert receiver.depth == 0


def test_certificate_from_a_host_not_allow_listed_is_401_and_not_fetched(
    receiver: Receiver,
) -> None:
    content = body()
    headers = AUTHORITY.headers(content, cert_url="https://attacker.example/cert.cer")
    assert receiver.post(content, headers) == 401
    assert receiver.depth == 0
    assert receiver.fetched == []


def test_signature_by_an_untrusted_key_is_401(receiver: Receiver) -> None:
    stranger = SigningAuthority()
    content = body()
    assert receiver.post(content, stranger.headers(content)) == 401
    assert receiver.depth == 0


@pytest.mark.parametrize("missing", ["x-ms-certificate-url", "x-ms-signature-algorithm"])
def test_missing_certificate_or_algorithm_header_is_400(receiver: Receiver, missing: str) -> None:
    content = body()
    headers = AUTHORITY.headers(content)
    del headers[missing]
    assert receiver.post(content, headers) == 400
    assert receiver.depth == 0


def test_signed_but_malformed_body_is_400(receiver: Receiver) -> None:
    content = b'{"EventName": "referral-updated"}'
    assert receiver.post(content, AUTHORITY.headers(content)) == 400
    assert receiver.depth == 0
