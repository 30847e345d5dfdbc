"""Certificate URLs are allow-listed before any fetch; certificates chain to configured anchors."""

from __future__ import annotations

from collections.abc import Iterator

import httpx
import pytest
from webhook_pki import NOW, Pki

from cosell.clock import ManualClock
from cosell.errors import WebhookRejected
from cosell.webhooks.certificates import MAX_CERTIFICATE_BYTES, CertificateCache, TrustPolicy

CERT_URL = "https://3psostorageacct.blob.core.windows.net/cert/pcnotifications.cer"


class CertHost:
    """Serves certificate files by URL and records every fetch."""

    def __init__(self, files: dict[str, bytes]) -> None:
        self.files = files
        self.fetched: list[str] = []

    def __call__(self, request: httpx.Request) -> httpx.Response:
        self.fetched.append(str(request.url))
        if str(request.url) in self.files:
            return httpx.Response(200, content=self.files[str(request.url)])
        return httpx.Response(404)


def cache_for(
    host: CertHost, policy: TrustPolicy, clock: ManualClock | None = None
) -> CertificateCache:
    http = httpx.Client(transport=httpx.MockTransport(host))
    return CertificateCache(http, policy, clock=clock or ManualClock(NOW), ttl=600)


def production(pki: Pki) -> TrustPolicy:
    return TrustPolicy.production(pki.root.pem())


def test_leaf_with_intermediate_in_the_file_chains_to_the_root(pki: Pki) -> None:
    host = CertHost({CERT_URL: pki.leaf.pem() + pki.intermediate.pem()})
    assert cache_for(host, production(pki)).certificate(CERT_URL) == pki.leaf.cert


def test_der_leaf_chains_when_the_intermediate_is_a_configured_anchor(pki: Pki) -> None:
    host = CertHost({CERT_URL: pki.leaf.der()})
    policy = TrustPolicy.production(pki.intermediate.pem())
    assert cache_for(host, policy).certificate(CERT_URL) == pki.leaf.cert


@pytest.mark.parametrize(
    "url",
    [
        "https://attacker.example/cert.cer",
        "https://3psostorageacct.blob.core.windows.net.attacker.example/c.cer",
        "https://169.254.169.254/latest/meta-data",
        "http://3psostorageacct.blob.core.windows.net/cert/c.cer",
        "file:///etc/passwd",
        "https://user:pw@3psostorageacct.blob.core.windows.net/c.cer",
        "https://3psostorageacct.blob.core.windows.net:99999/c.cer",
        "not a url",
        "",
    ],
)
def test_urls_off_the_allow_list_are_rejected_without_a_fetch(pki: Pki, url: str) -> None:
    host = CertHost({})
    with pytest.raises(WebhookRejected):
        cache_for(host, production(pki)).certificate(url)
    assert host.fetched == []


def test_host_suffixes_are_matched_on_a_dot_boundary(pki: Pki) -> None:
    policy = TrustPolicy.production(pki.root.pem(), hosts=(), host_suffixes=(".microsoft.com",))
    policy.check_url("https://pcnotifications-dispatch.microsoft.com/x.cer")
    with pytest.raises(WebhookRejected, match="allow-listed"):
        policy.check_url("https://evilmicrosoft.com/x.cer")


def test_untrusted_chain_is_rejected(pki: Pki) -> None:
    host = CertHost({CERT_URL: pki.stranger_leaf.pem() + pki.stranger_root.pem()})
    with pytest.raises(WebhookRejected, match="trusted root"):
        cache_for(host, production(pki)).certificate(CERT_URL)


def test_leaf_missing_its_intermediate_is_rejected(pki: Pki) -> None:
    host = CertHost({CERT_URL: pki.leaf.pem()})
    with pytest.raises(WebhookRejected, match="trusted root"):
        cache_for(host, production(pki)).certificate(CERT_URL)


def test_issuer_must_be_microsoft_in_production(pki: Pki) -> None:
    host = CertHost({CERT_URL: pki.unbranded_leaf.pem()})
    policy = TrustPolicy.production(pki.other_root.pem())
    with pytest.raises(WebhookRejected, match="Microsoft Corporation"):
        cache_for(host, policy).certificate(CERT_URL)


def test_expired_certificate_is_rejected(pki: Pki) -> None:
    host = CertHost({CERT_URL: pki.leaf.pem() + pki.intermediate.pem()})
    clock = ManualClock(NOW)
    clock.advance(400 * 86400)
    with pytest.raises(WebhookRejected, match="expired"):
        cache_for(host, production(pki), clock).certificate(CERT_URL)


def test_certificates_are_cached_by_url_until_the_ttl(pki: Pki) -> None:
    host = CertHost({CERT_URL: pki.leaf.pem() + pki.intermediate.pem()})
    clock = ManualClock(NOW)
    cache = cache_for(host, production(pki), clock)
    cache.certificate(CERT_URL)
    cache.certificate(CERT_URL)
    assert len(host.fetched) == 1
    clock.advance(601)
    cache.certificate(CERT_URL)
    assert len(host.fetched) == 2


@pytest.mark.parametrize(
    ("response", "reason"),
    [
        (httpx.Response(302, headers={"Location": "http://169.254.169.254/"}), "302"),
        (httpx.Response(500), "500"),
        (httpx.Response(200, content=b"<html>not a cert</html>"), "not a certificate"),
        (httpx.Response(200, content=b"x" * (70 * 1024)), "too large"),
    ],
)
def test_bad_fetches_are_rejections(pki: Pki, response: httpx.Response, reason: str) -> None:
    http = httpx.Client(transport=httpx.MockTransport(lambda _: response))
    cache = CertificateCache(http, production(pki), clock=ManualClock(NOW))
    with pytest.raises(WebhookRejected, match=reason):
        cache.certificate(CERT_URL)


def test_connection_failure_is_a_rejection(pki: Pki) -> None:
    def refuse(request: httpx.Request) -> httpx.Response:
        raise httpx.ConnectError("refused", request=request)

    http = httpx.Client(transport=httpx.MockTransport(refuse))
    with pytest.raises(WebhookRejected, match="ConnectError"):
        CertificateCache(http, production(pki), clock=ManualClock(NOW)).certificate(CERT_URL)


def test_sandbox_allows_http_on_listed_hosts_and_trusts_only_its_ca(pki: Pki) -> None:
    url = "http://127.0.0.1:8601/_emulator/certificate.cer"
    policy = TrustPolicy.sandbox_mode(pki.other_root.pem(), hosts=["127.0.0.1"])
    host = CertHost({url: pki.unbranded_leaf.der()})
    assert cache_for(host, policy).certificate(url) == pki.unbranded_leaf.cert
    with pytest.raises(WebhookRejected, match="allow-listed"):
        policy.check_url("http://localhost:8601/_emulator/certificate.cer")
    with pytest.raises(WebhookRejected, match="trusted root"):
        cache_for(CertHost({url: pki.leaf.pem() + pki.intermediate.pem()}), policy).certificate(url)


def test_a_huge_body_is_abandoned_at_the_cap_without_reading_the_rest(pki: Pki) -> None:
    chunk = b"x" * 16 * 1024
    served: list[int] = []

    def endless() -> Iterator[bytes]:
        for _ in range(2000):  # ~31 MiB if read whole
            served.append(len(chunk))
            yield chunk

    http = httpx.Client(
        transport=httpx.MockTransport(lambda _: httpx.Response(200, content=endless()))
    )
    cache = CertificateCache(http, production(pki), clock=ManualClock(NOW))
    with pytest.raises(WebhookRejected, match="too large"):
        cache.certificate(CERT_URL)
    assert sum(served) <= MAX_CERTIFICATE_BYTES + len(chunk)


def test_a_declared_oversize_length_is_refused_before_the_body(pki: Pki) -> None:
    def big(_: httpx.Request) -> httpx.Response:
        return httpx.Response(200, headers={"Content-Length": str(300 * 1024 * 1024)}, content=b"")

    cache = CertificateCache(httpx.Client(transport=httpx.MockTransport(big)), production(pki))
    with pytest.raises(WebhookRejected, match="too large"):
        cache.certificate(CERT_URL)


def test_a_trickling_host_is_cut_off_at_the_overall_deadline(pki: Pki) -> None:
    timer = ManualClock(NOW)
    served: list[int] = []

    def trickle() -> Iterator[bytes]:
        for _ in range(100):  # one byte a second: each read is quick, the whole is not
            timer.advance(1)
            served.append(1)
            yield b"-"

    http = httpx.Client(
        transport=httpx.MockTransport(lambda _: httpx.Response(200, content=trickle()))
    )
    cache = CertificateCache(
        http, production(pki), clock=ManualClock(NOW), deadline=10.0, timer=timer.monotonic
    )
    with pytest.raises(WebhookRejected, match="deadline"):
        cache.certificate(CERT_URL)
    assert len(served) <= 11


def test_failures_are_cached_so_forged_callbacks_do_not_refetch(pki: Pki) -> None:
    host = CertHost({})  # every fetch answers 404
    clock = ManualClock(NOW)
    cache = CertificateCache(
        httpx.Client(transport=httpx.MockTransport(host)), production(pki), clock=clock
    )
    for _ in range(50):
        with pytest.raises(WebhookRejected, match="404"):
            cache.certificate(CERT_URL)
    assert len(host.fetched) == 1
    clock.advance(cache.failure_ttl + 1)
    host.files[CERT_URL] = pki.leaf.pem() + pki.intermediate.pem()
    assert cache.certificate(CERT_URL) == pki.leaf.cert
    assert len(host.fetched) == 2


def test_sandbox_loopback_allowance_is_the_emulators_port_alone(pki: Pki) -> None:
    policy = TrustPolicy.sandbox_mode(pki.other_root.pem(), hosts=["127.0.0.1:8601"])
    policy.check_url("http://127.0.0.1:8601/_emulator/certificate.cer")
    for url in ("http://127.0.0.1:6379/", "http://127.0.0.1/x.cer", "http://127.0.0.1:5432/x"):
        with pytest.raises(WebhookRejected, match="allow-listed"):
            policy.check_url(url)
