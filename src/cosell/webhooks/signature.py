"""Verifying a Partner Center webhook callback and reading its payload.

A callback is trusted only when its raw body carries a valid RSA PKCS#1 v1.5 SHA-256 signature
by a certificate that :mod:`cosell.webhooks.certificates` trusts. Anything else — unsigned,
forged, tampered, another algorithm, a certificate from a host not allow-listed, a body that is
not the documented JSON — raises ``WebhookRejected`` with a short reason, and nothing else.
The payload says only *which* referral may have changed; the referral itself is always re-read.
"""

from __future__ import annotations

import base64
import binascii
import json
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any
from urllib.parse import unquote, urlsplit

from cryptography.exceptions import InvalidSignature
from cryptography.hazmat.primitives import hashes
from cryptography.hazmat.primitives.asymmetric import padding, rsa

from cosell.errors import WebhookRejected
from cosell.webhooks.certificates import CertificateSource

ALGORITHM = "rsa-sha256"
MAX_BODY_BYTES = 64 * 1024
REQUIRED = ("eventname", "resourceuri", "resourcename", "resourcechangeutcdate")


@dataclass(frozen=True)
class Callback:
    """One verified event. ``referral_id`` is the last path segment of ``resource_uri`` for
    referral events (``None`` for test events, whose segment is ``correlation_id``)."""

    event_name: str
    resource_uri: str
    resource_name: str
    resource_change_utc_date: str
    audit_uri: str | None
    referral_id: str | None
    correlation_id: str | None

    @property
    def is_test(self) -> bool:
        return self.resource_name.lower() == "test"


def verify_callback(
    headers: Mapping[str, str], body: bytes, *, certificates: CertificateSource
) -> Callback:
    """The callback in ``body`` once its signature is verified; ``WebhookRejected`` otherwise."""
    lowered = {str(k).lower(): str(v) for k, v in headers.items()}
    if len(body) > MAX_BODY_BYTES:
        raise WebhookRejected("body is too large")
    signature = signature_of(lowered)
    algorithm = lowered.get("x-ms-signature-algorithm", "").strip().lower()
    if algorithm != ALGORITHM:
        raise WebhookRejected(f"signature algorithm must be {ALGORITHM}")
    url = lowered.get("x-ms-certificate-url", "").strip()
    if not url:
        raise WebhookRejected("certificate URL header is missing")
    _verify_signature(certificates, url, signature, body)
    return parse_callback(body)


def signature_of(headers: Mapping[str, str]) -> bytes:
    """The signature bytes from ``x-ms-signature`` (``Signature <b64>`` or bare) or from
    ``Authorization: Signature <b64>``; headers already lower-cased."""
    if value := headers.get("x-ms-signature", "").strip():
        scheme, _, rest = value.partition(" ")
        encoded = rest.strip() if scheme.lower() == "signature" and rest.strip() else value
    else:
        scheme, _, rest = headers.get("authorization", "").strip().partition(" ")
        if scheme.lower() != "signature" or not rest.strip():
            raise WebhookRejected("signature is missing")
        encoded = rest.strip()
    try:
        signature = base64.b64decode(encoded, validate=True)
    except (binascii.Error, ValueError) as exc:
        raise WebhookRejected("signature is not base64") from exc
    if not signature:
        raise WebhookRejected("signature is empty")
    return signature


def parse_callback(body: bytes) -> Callback:
    """The event in a (verified) body; keys are matched case-insensitively."""
    payload = _fields(body)
    resource_uri = payload["resourceuri"]
    segment = _last_segment(resource_uri)
    is_test = payload["resourcename"].lower() == "test"
    audit = payload.get("audituri")
    return Callback(
        event_name=payload["eventname"],
        resource_uri=resource_uri,
        resource_name=payload["resourcename"],
        resource_change_utc_date=payload["resourcechangeutcdate"],
        audit_uri=audit if isinstance(audit, str) else None,
        referral_id=None if is_test else segment,
        correlation_id=segment if is_test else None,
    )


def _verify_signature(
    certificates: CertificateSource, url: str, signature: bytes, body: bytes
) -> None:
    key = certificates.certificate(url).public_key()
    if not isinstance(key, rsa.RSAPublicKey):
        raise WebhookRejected("signing certificate does not hold an RSA key")
    try:
        key.verify(signature, body, padding.PKCS1v15(), hashes.SHA256())
    except InvalidSignature as exc:
        raise WebhookRejected("signature does not match the body") from exc


def _fields(body: bytes) -> dict[str, Any]:
    try:
        payload = json.loads(body)
    except (ValueError, RecursionError) as exc:
        raise WebhookRejected("body is not JSON") from exc
    if not isinstance(payload, dict):
        raise WebhookRejected("body is not a JSON object")
    fields: dict[str, Any] = {}
    for key, value in payload.items():
        if key.lower() in fields:
            raise WebhookRejected(f"body repeats the field {key!r}")
        fields[key.lower()] = value
    for name in REQUIRED:
        if not isinstance(fields.get(name), str) or not fields[name].strip():
            raise WebhookRejected(f"body lacks a text {name}")
    return fields


def _last_segment(uri: str) -> str:
    try:
        path = urlsplit(uri).path
    except ValueError as exc:
        raise WebhookRejected("resourceUri is not a URL") from exc
    segment = unquote(path.rstrip("/").rpartition("/")[2])
    if not segment:
        raise WebhookRejected("resourceUri names no resource")
    return segment


@dataclass(frozen=True)
class WebhookVerifier:
    """``verify_callback`` bound to a certificate source: ``verifier(headers, body)``."""

    certificates: CertificateSource

    def __call__(self, headers: Mapping[str, str], body: bytes) -> Callback:
        return verify_callback(headers, body, certificates=self.certificates)
