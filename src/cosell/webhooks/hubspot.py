"""Verifying HubSpot webhook deliveries: ``X-HubSpot-Signature-v3`` is the base64 HMAC-SHA256,
keyed by the app's client secret, of method + URI + body + ``X-HubSpot-Request-Timestamp``;
a timestamp more than five minutes from now is refused (a replayed request), and the
comparison is constant-time."""

from __future__ import annotations

import base64
import hashlib
import hmac
from collections.abc import Mapping
from datetime import datetime

from cosell.errors import WebhookRejected

WINDOW_SECONDS = 300.0


def signature_v3(secret: str, method: str, uri: str, body: bytes, timestamp: str) -> str:
    message = method.upper().encode() + uri.encode() + body + timestamp.encode()
    return base64.b64encode(hmac.new(secret.encode(), message, hashlib.sha256).digest()).decode()


def verify_hubspot_v3(
    secret: str,
    *,
    method: str,
    uri: str,
    body: bytes,
    headers: Mapping[str, str],
    now: datetime,
    window: float = WINDOW_SECONDS,
) -> None:
    """Return when the delivery is authentic and fresh; raise ``WebhookRejected`` naming why.

    ``uri`` is the full URL HubSpot called (scheme, host, path and query, as configured in the
    app); ``headers`` must be case-insensitive (Starlette's and httpx's are).
    """
    signature = headers.get("X-HubSpot-Signature-v3")
    stamp = headers.get("X-HubSpot-Request-Timestamp")
    if not signature or not stamp:
        raise WebhookRejected("missing X-HubSpot-Signature-v3 or X-HubSpot-Request-Timestamp")
    try:
        sent = float(stamp) / 1000
    except ValueError:
        raise WebhookRejected("X-HubSpot-Request-Timestamp is not epoch milliseconds") from None
    if abs(now.timestamp() - sent) > window:
        raise WebhookRejected("X-HubSpot-Request-Timestamp is outside the 5-minute window")
    expected = signature_v3(secret, method, uri, body, stamp)
    if not hmac.compare_digest(expected.encode(), signature.encode()):
        raise WebhookRejected("X-HubSpot-Signature-v3 does not match")
