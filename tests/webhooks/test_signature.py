"""Webhook callbacks: signed ones verify, anything else is WebhookRejected and nothing else."""

from __future__ import annotations

import json
from typing import Any

import httpx
import pytest
from cryptography import x509
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from webhook_pki import NOW, Issued, Pki

from cosell.clock import ManualClock
from cosell.errors import WebhookRejected
from cosell.webhooks.certificates import CertificateCache, TrustPolicy
from cosell.webhooks.signature import WebhookVerifier, verify_callback

CERT_URL = "https://3psostorageacct.blob.core.windows.net/cert/pcnotifications.cer"
REFERRAL_EVENT = {
    "EventName": "referral-updated",
    "ResourceUri": "https://api.partnercenter.microsoft.com/engagements/v1/referrals/ref-123",
    "ResourceName": "referral",
    "AuditUri": None,
    "ResourceChangeUtcDate": "2026-01-01T00:05:39.5485487+00:00",
}


class FixedSource:
    """A certificate source that hands out one certificate and counts requests."""

    def __init__(self, cert: x509.Certificate) -> None:
        self.cert = cert
        self.asked: list[str] = []

    def certificate(self, url: str) -> x509.Certificate:
        self.asked.append(url)
        return self.cert


def signed(body: bytes, signer: Issued, **overrides: str) -> dict[str, str]:
    headers = {
        "Authorization": f"Signature {signer.sign(body)}",
        "X-MS-Certificate-Url": CERT_URL,
        "X-MS-Signature-Algorithm": "rsa-sha256",
        "Content-Type": "application/json",
    }
    return headers | overrides


def body_of(payload: dict[str, Any]) -> bytes:
    return json.dumps(payload).encode()


def test_signed_referral_event_verifies(pki: Pki) -> None:
    body = body_of(REFERRAL_EVENT)
    callback = verify_callback(
        signed(body, pki.leaf), body, certificates=FixedSource(pki.leaf.cert)
    )
    assert callback.event_name == "referral-updated"
    assert callback.referral_id == "ref-123"
    assert callback.resource_name == "referral"
    assert callback.audit_uri is None
    assert callback.resource_change_utc_date == "2026-01-01T00:05:39.5485487+00:00"
    assert not callback.is_test


def test_end_to_end_through_a_certificate_cache(pki: Pki) -> None:
    def serve(request: httpx.Request) -> httpx.Response:
        return httpx.Response(200, content=pki.leaf.pem() + pki.intermediate.pem())

    http = httpx.Client(transport=httpx.MockTransport(serve))
    cache = CertificateCache(http, TrustPolicy.production(pki.root.pem()), clock=ManualClock(NOW))
    verifier = WebhookVerifier(cache)
    body = body_of(REFERRAL_EVENT)
    assert verifier(signed(body, pki.leaf), body).referral_id == "ref-123"


@pytest.mark.parametrize(
    "header",
    [
        {"x-ms-signature": "Signature {sig}"},
        {"X-MS-SIGNATURE": "{sig}"},
        {"authorization": "signature {sig}"},
    ],
)
def test_signature_header_forms_and_case(pki: Pki, header: dict[str, str]) -> None:
    body = body_of(REFERRAL_EVENT)
    signature = pki.leaf.sign(body)
    headers = {k: v.format(sig=signature) for k, v in header.items()}
    headers |= {"x-ms-certificate-url": CERT_URL, "X-Ms-Signature-Algorithm": "RSA-SHA256"}
    callback = verify_callback(headers, body, certificates=FixedSource(pki.leaf.cert))
    assert callback.referral_id == "ref-123"


def test_camel_case_payload_and_test_events(pki: Pki) -> None:
    payload = {
        "eventName": "test-created",
        "resourceUri": "https://api.partnercenter.microsoft.com/webhooks/v1/registration/validationEvents/c-9",
        "resourceName": "test",
        "resourceChangeUtcDate": "2026-01-01T00:00:00+00:00",
    }
    body = body_of(payload)
    callback = verify_callback(
        signed(body, pki.leaf), body, certificates=FixedSource(pki.leaf.cert)
    )
    assert callback.is_test
    assert callback.referral_id is None
    assert callback.correlation_id == "c-9"


def test_tampered_body_is_rejected(pki: Pki) -> None:
    body = body_of(REFERRAL_EVENT)
    headers = signed(body, pki.leaf)
    tampered = body.replace(b"ref-123", b"ref-999")
    with pytest.raises(WebhookRejected, match="does not match"):
        verify_callback(headers, tampered, certificates=FixedSource(pki.leaf.cert))


def test_forged_signature_is_rejected(pki: Pki) -> None:
    body = body_of(REFERRAL_EVENT)
    with pytest.raises(WebhookRejected, match="does not match"):
        verify_callback(
            signed(body, pki.stranger_leaf), body, certificates=FixedSource(pki.leaf.cert)
        )


@pytest.mark.parametrize(
    ("change", "reason"),
    [
        ({"Authorization": ""}, "signature is missing"),
        ({"Authorization": "Bearer abc"}, "signature is missing"),
        ({"Authorization": "Signature !!!notbase64"}, "not base64"),
        ({"X-MS-Signature-Algorithm": "rsa-sha1"}, "algorithm"),
        ({"X-MS-Signature-Algorithm": ""}, "algorithm"),
        ({"X-MS-Certificate-Url": ""}, "certificate URL"),
    ],
)
def test_header_problems_are_rejected_before_any_certificate_lookup(
    pki: Pki, change: dict[str, str], reason: str
) -> None:
    body = body_of(REFERRAL_EVENT)
    source = FixedSource(pki.leaf.cert)
    with pytest.raises(WebhookRejected, match=reason):
        verify_callback(signed(body, pki.leaf) | change, body, certificates=source)
    assert source.asked == []


def test_wrong_host_is_rejected_without_a_fetch(pki: Pki) -> None:
    fetched: list[httpx.Request] = []

    def record(request: httpx.Request) -> httpx.Response:
        fetched.append(request)
        return httpx.Response(200, content=pki.stranger_leaf.pem())

    http = httpx.Client(transport=httpx.MockTransport(record))
    cache = CertificateCache(http, TrustPolicy.production(pki.root.pem()), clock=ManualClock(NOW))
    body = body_of(REFERRAL_EVENT)
    headers = signed(
        body, pki.stranger_leaf, **{"X-MS-Certificate-Url": "https://evil.example/c.cer"}
    )
    with pytest.raises(WebhookRejected, match="allow-listed"):
        verify_callback(headers, body, certificates=cache)
    assert fetched == []


@pytest.mark.parametrize(
    ("body", "reason"),
    [
        (b"not json", "not JSON"),
        (b"[1, 2]", "not a JSON object"),
        (b'{"EventName": "referral-updated"}', "lacks"),
        (json.dumps(REFERRAL_EVENT | {"eventName": "x"}).encode(), "repeats"),
        (json.dumps(REFERRAL_EVENT | {"ResourceUri": "https://h/"}).encode(), "names no resource"),
        (json.dumps(REFERRAL_EVENT | {"ResourceName": 7}).encode(), "lacks"),
        (b"\xff\xfe", "not JSON"),
        (b"[" * 100_000 + b"]" * 100_000, "too large"),
        (b"[" * 30_000 + b"]" * 30_000, "not"),
    ],
)
def test_malformed_signed_bodies_are_rejected(pki: Pki, body: bytes, reason: str) -> None:
    with pytest.raises(WebhookRejected, match=reason):
        verify_callback(signed(body, pki.leaf), body, certificates=FixedSource(pki.leaf.cert))


def test_non_rsa_certificate_is_rejected(pki: Pki) -> None:
    from cryptography.hazmat.primitives import hashes
    from cryptography.hazmat.primitives.asymmetric import ec

    key = ec.generate_private_key(ec.SECP256R1())
    cert = (
        x509.CertificateBuilder()
        .subject_name(pki.leaf.cert.subject)
        .issuer_name(pki.leaf.cert.subject)
        .public_key(key.public_key())
        .serial_number(1)
        .not_valid_before(NOW)
        .not_valid_after(NOW)
        .sign(key, hashes.SHA256())
    )
    body = body_of(REFERRAL_EVENT)
    with pytest.raises(WebhookRejected, match="RSA"):
        verify_callback(signed(body, pki.leaf), body, certificates=FixedSource(cert))


header_names = st.sampled_from(
    [
        "Authorization",
        "x-ms-signature",
        "X-MS-Certificate-Url",
        "X-MS-Signature-Algorithm",
        "Content-Type",
    ]
) | st.text(max_size=12)
header_values = st.sampled_from(
    ["Signature ", "Signature AAAA", "rsa-sha256", CERT_URL, "https://evil.example/c", "AAAA=="]
) | st.text(max_size=40)
json_bodies = st.dictionaries(
    st.sampled_from(["EventName", "eventname", "ResourceUri", "resourceName", "AuditUri", "x"]),
    st.none() | st.text(max_size=30) | st.integers() | st.lists(st.integers(), max_size=2),
    max_size=6,
).map(lambda d: json.dumps(d).encode())
bodies = st.binary(max_size=200) | json_bodies


@settings(
    max_examples=300, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture]
)
@given(headers=st.dictionaries(header_names, header_values, max_size=6), body=bodies)
def test_fuzzed_headers_and_bodies_only_ever_reject(
    pki: Pki, headers: dict[str, str], body: bytes
) -> None:
    with pytest.raises(WebhookRejected):
        verify_callback(headers, body, certificates=FixedSource(pki.leaf.cert))


@settings(
    max_examples=200, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture]
)
@given(body=bodies)
def test_fuzzed_validly_signed_bodies_verify_or_reject(pki: Pki, body: bytes) -> None:
    try:
        callback = verify_callback(
            signed(body, pki.leaf), body, certificates=FixedSource(pki.leaf.cert)
        )
    except WebhookRejected:
        return
    assert callback.event_name
    assert callback.referral_id or callback.correlation_id
