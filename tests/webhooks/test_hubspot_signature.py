"""HubSpot webhook verification: v3 signature, 5-minute window, constant-time compare."""

from datetime import UTC, datetime, timedelta

import pytest

from cosell.emulators.hubspot.signing import headers as signed_headers
from cosell.errors import WebhookRejected
from cosell.webhooks.hubspot import signature_v3, verify_hubspot_v3

SECRET = "yyyyyyyy-yyyy-yyyy-yyyy-yyyyyyyyyyyy"
URI = "https://www.example.com/webhook_uri"
BODY = b'[{"eventId":1,"objectId":123}]'
NOW = datetime(2026, 3, 2, 9, 0, tzinfo=UTC)


def _headers(at: datetime = NOW) -> dict[str, str]:
    return signed_headers(SECRET, URI, BODY, int(at.timestamp() * 1000))


def _verify(headers: dict[str, str], body: bytes = BODY, uri: str = URI) -> None:
    verify_hubspot_v3(SECRET, method="POST", uri=uri, body=body, headers=headers, now=NOW)


def test_reference_vector() -> None:
    body = (
        b'[{"eventId":1,"subscriptionId":12345,"portalId":62515,"occurredAt":1564113600000,'
        b'"subscriptionType":"contact.creation","attemptNumber":0,"objectId":123,'
        b'"changeSource":"CRM","changeFlag":"NEW","appId":54321}]'
    )
    assert signature_v3(SECRET, "POST", URI, body, "1700000000000") == (
        "/pXDSgWeGksQpwCsgqd43P0eY6gBIse9UX0tfkudUrE="
    )


def test_an_emulator_signed_delivery_verifies() -> None:
    _verify(_headers())
    _verify(_headers(NOW - timedelta(seconds=299)))


@pytest.mark.parametrize(
    ("change", "reason"),
    [
        (lambda h: {**h, "X-HubSpot-Signature-v3": "AAAA"}, "does not match"),
        (lambda h: {k: v for k, v in h.items() if k != "X-HubSpot-Request-Timestamp"}, "missing"),
        (lambda h: {**h, "X-HubSpot-Request-Timestamp": "yesterday"}, "epoch milliseconds"),
    ],
)
def test_tampered_headers_are_rejected(change, reason: str) -> None:  # type: ignore[no-untyped-def]
    with pytest.raises(WebhookRejected, match=reason):
        _verify(change(_headers()))


def test_a_changed_body_or_uri_is_rejected() -> None:
    with pytest.raises(WebhookRejected, match="does not match"):
        _verify(_headers(), body=BODY + b" ")
    with pytest.raises(WebhookRejected, match="does not match"):
        _verify(_headers(), uri=URI + "?x=1")


def test_a_delivery_older_than_five_minutes_is_a_replay() -> None:
    with pytest.raises(WebhookRejected, match="5-minute window"):
        _verify(_headers(NOW - timedelta(seconds=301)))
