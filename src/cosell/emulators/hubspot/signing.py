"""Webhook request signatures: v3 (base64 HMAC-SHA256 keyed by the app's client secret over
method, URI, body and the millisecond timestamp) and the older v1 (hex SHA-256 of secret and
body), as HubSpot sends them on each delivery."""

from __future__ import annotations

import base64
import hashlib
import hmac


def signature_v3(secret: str, method: str, uri: str, body: bytes, timestamp: str) -> str:
    message = method.upper().encode() + uri.encode() + body + timestamp.encode()
    digest = hmac.new(secret.encode(), message, hashlib.sha256).digest()
    return base64.b64encode(digest).decode()


def signature_v1(secret: str, body: bytes) -> str:
    return hashlib.sha256(secret.encode() + body).hexdigest()


def headers(secret: str, uri: str, body: bytes, timestamp_ms: int) -> dict[str, str]:
    stamp = str(timestamp_ms)
    return {
        "Content-Type": "application/json",
        "User-Agent": "HubSpot Connect 2.0 (http://dev.hubspot.com/)",
        "X-HubSpot-Signature": signature_v1(secret, body),
        "X-HubSpot-Signature-Version": "v1",
        "X-HubSpot-Signature-v3": signature_v3(secret, "POST", uri, body, stamp),
        "X-HubSpot-Request-Timestamp": stamp,
        "X-HubSpot-Timeout-Millis": "10000",
    }
