"""A stand-in verifier for receiver tests that are not about signatures."""

from __future__ import annotations

import json
from collections.abc import Mapping
from dataclasses import dataclass

from cosell.errors import WebhookRejected


@dataclass(frozen=True)
class Verified:
    event_name: str
    referral_id: str | None
    resource_change_utc_date: str = ""


def trusting_verifier(headers: Mapping[str, str], body: bytes) -> Verified:
    """Accepts a body when the test marked it signed; reads the event like the real one."""
    if headers.get("x-test-signed") != "yes":
        raise WebhookRejected("signature missing")
    try:
        payload = json.loads(body)
    except ValueError:
        raise WebhookRejected("body is not JSON") from None
    uri = str(payload.get("ResourceUri") or "")
    changed = str(payload.get("ResourceChangeUtcDate") or "")
    return Verified(str(payload["EventName"]), uri.rstrip("/").rsplit("/", 1)[-1] or None, changed)
