"""The sandbox's certificate allowance is the emulator's own address and port, nothing else."""

from __future__ import annotations

import httpx
import pytest
from webhook_pki import Pki

from cosell.clients.connect import webhook_certificates
from cosell.clock import ManualClock
from cosell.errors import WebhookRejected
from cosell.settings import Settings


def test_trust_ca_url_allows_certificates_from_its_port_only(pki: Pki) -> None:
    ca = pki.other_root.pem()

    def factory(_base: str, _auth: httpx.Auth | None) -> httpx.Client:
        return httpx.Client(
            transport=httpx.MockTransport(lambda _: httpx.Response(200, content=ca))
        )

    settings = Settings(
        partner_center={"webhook_trust_ca": "http://127.0.0.1:8601/_emulator/ca.pem"}
    )
    policy = webhook_certificates(settings, ManualClock(), factory).policy
    policy.check_url("http://127.0.0.1:8601/_emulator/certificate.cer")
    with pytest.raises(WebhookRejected, match="allow-listed"):
        policy.check_url("http://127.0.0.1:2375/containers/json")
