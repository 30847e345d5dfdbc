"""Webhook signing certificates: which URLs may be fetched, fetching, caching and trust.

Partner Center names the signing certificate by URL in each callback. That URL is attacker
controlled until the signature is verified, so it is checked against an allow-list *before*
anything is fetched (no SSRF), redirects are not followed, and the certificate must chain to a
configured trust anchor. In production the anchors are Microsoft roots (or intermediates) and
the issuer must name ``O=Microsoft Corporation``; in sandbox mode the anchor is the emulator's CA
(the PEM served at ``/_emulator/ca.pem``) and plain http is allowed.
"""

from __future__ import annotations

import threading
import time
from collections.abc import Callable, Iterable, Sequence
from dataclasses import dataclass, field
from typing import Protocol
from urllib.parse import urlsplit

import httpx
from cryptography import x509
from cryptography.exceptions import InvalidSignature
from cryptography.x509.oid import NameOID

from cosell.clock import Clock, SystemClock
from cosell.errors import WebhookRejected

MICROSOFT_ORGANIZATION = "Microsoft Corporation"
# The host of the documented sample certificate URL; more can be configured (UNCONFIRMED list).
DEFAULT_HOSTS = frozenset({"3psostorageacct.blob.core.windows.net"})
DEFAULT_HOST_SUFFIXES = (".microsoft.com",)
MAX_CERTIFICATE_BYTES = 64 * 1024
MAX_CHAIN = 6
# The whole fetch (connect, headers and body) must finish within this many seconds; each network
# wait is bounded by half of it, and the elapsed time is checked after every chunk read.
FETCH_DEADLINE = 10.0
# A URL whose fetch or verification failed is not fetched again for this long: a flood of forged
# callbacks naming a slow or broken certificate URL costs one fetch, not one per callback.
FAILURE_TTL = 300.0


class CertificateSource(Protocol):
    """Gives the trusted signing certificate for a URL, or raises ``WebhookRejected``."""

    def certificate(self, url: str) -> x509.Certificate: ...


@dataclass(frozen=True)
class TrustPolicy:
    """Where certificates may come from and what they must chain to."""

    anchors: tuple[x509.Certificate, ...]
    hosts: frozenset[str] = DEFAULT_HOSTS
    host_suffixes: tuple[str, ...] = DEFAULT_HOST_SUFFIXES
    sandbox: bool = False
    issuer_organization: str | None = MICROSOFT_ORGANIZATION

    @classmethod
    def production(
        cls,
        anchors_pem: bytes,
        hosts: Iterable[str] = DEFAULT_HOSTS,
        host_suffixes: Sequence[str] = DEFAULT_HOST_SUFFIXES,
    ) -> TrustPolicy:
        """Microsoft's certificates: https only, issuer ``O=Microsoft Corporation``."""
        anchors = tuple(x509.load_pem_x509_certificates(anchors_pem))
        return cls(anchors, _lower(hosts), tuple(s.lower() for s in host_suffixes))

    @classmethod
    def sandbox_mode(cls, ca_pem: bytes, hosts: Iterable[str]) -> TrustPolicy:
        """The emulator's certificates: its CA is the anchor, http is allowed."""
        anchors = tuple(x509.load_pem_x509_certificates(ca_pem))
        return cls(anchors, _lower(hosts), (), sandbox=True, issuer_organization=None)

    def check_url(self, url: str) -> None:
        """Raise ``WebhookRejected`` unless ``url`` may be fetched."""
        try:
            parts = urlsplit(url)
            host = (parts.hostname or "").lower()
            port = parts.port or (443 if parts.scheme.lower() == "https" else 80)
        except ValueError as exc:
            raise WebhookRejected("certificate URL is malformed") from exc
        allowed_schemes = {"https", "http"} if self.sandbox else {"https"}
        if parts.scheme.lower() not in allowed_schemes:
            raise WebhookRejected(f"certificate URL scheme {parts.scheme!r} is not allowed")
        if parts.username is not None or parts.password is not None:
            raise WebhookRejected("certificate URL must not carry credentials")
        if not host or not self._host_allowed(host, port):
            raise WebhookRejected(f"certificate host {host!r} is not allow-listed")

    def _host_allowed(self, host: str, port: int) -> bool:
        """A bare entry allows the host on any port; ``host:port`` only that port (the sandbox
        lists the emulator's own address, so other loopback services are never fetched)."""
        return (
            host in self.hosts
            or f"{host}:{port}" in self.hosts
            or any(host.endswith(s) for s in self.host_suffixes)
        )


@dataclass
class CertificateCache:
    """Fetches allow-listed certificates with an injected client, verifies them, caches by URL.

    Successes are cached for ``ttl`` and failures for ``failure_ttl`` (the same rejection is
    raised again without a fetch). The body is streamed and abandoned as soon as it passes
    ``MAX_CERTIFICATE_BYTES``; the fetch as a whole is bounded by ``deadline`` seconds measured
    with ``timer`` (a real monotonic clock: the injected ``clock`` may be a manual one)."""

    http: httpx.Client
    policy: TrustPolicy
    clock: Clock = field(default_factory=SystemClock)
    ttl: float = 3600.0
    failure_ttl: float = FAILURE_TTL
    deadline: float = FETCH_DEADLINE
    timer: Callable[[], float] = time.monotonic
    _cache: dict[str, tuple[x509.Certificate, float]] = field(default_factory=dict, repr=False)
    _failures: dict[str, tuple[str, float]] = field(default_factory=dict, repr=False)
    _lock: threading.Lock = field(default_factory=threading.Lock, repr=False)

    def certificate(self, url: str) -> x509.Certificate:
        self.policy.check_url(url)
        now = self.clock.monotonic()
        with self._lock:
            hit = self._cache.get(url)
            failed = self._failures.get(url)
        if hit is not None and now - hit[1] < self.ttl:
            return hit[0]
        if failed is not None and now - failed[1] < self.failure_ttl:
            raise WebhookRejected(f"{failed[0]} (cached failure)")
        try:
            certificates = parse_certificates(self._fetch(url))
            leaf = verify_chain(certificates[0], certificates[1:], self.policy, self.clock)
        except WebhookRejected as exc:
            with self._lock:
                self._failures[url] = (exc.reason, self.clock.monotonic())
            raise
        with self._lock:
            self._cache[url] = (leaf, self.clock.monotonic())
            self._failures.pop(url, None)
        return leaf

    def _fetch(self, url: str) -> bytes:
        started = self.timer()
        timeout = httpx.Timeout(self.deadline / 2)
        try:
            headers = {"Accept-Encoding": "identity"}  # the cap counts the bytes as they come
            with self.http.stream(
                "GET", url, headers=headers, follow_redirects=False, timeout=timeout
            ) as response:
                if response.status_code != 200:
                    raise WebhookRejected(f"certificate fetch answered {response.status_code}")
                return self._read_capped(response, started)
        except httpx.HTTPError as exc:
            raise WebhookRejected(
                f"certificate could not be fetched ({type(exc).__name__})"
            ) from exc

    def _read_capped(self, response: httpx.Response, started: float) -> bytes:
        declared = response.headers.get("content-length", "")
        if declared.isdigit() and int(declared) > MAX_CERTIFICATE_BYTES:
            raise WebhookRejected("certificate file is too large")
        chunks: list[bytes] = []
        size = 0
        for chunk in response.iter_bytes():
            size += len(chunk)
            if size > MAX_CERTIFICATE_BYTES:
                raise WebhookRejected("certificate file is too large")
            if self.timer() - started > self.deadline:
                raise WebhookRejected("certificate fetch passed its deadline")
            chunks.append(chunk)
        return b"".join(chunks)


def parse_certificates(data: bytes) -> list[x509.Certificate]:
    """The certificates in a ``.cer`` file: DER, or PEM with the leaf first."""
    try:
        if b"-----BEGIN" in data:
            return x509.load_pem_x509_certificates(data)
        return [x509.load_der_x509_certificate(data)]
    except ValueError as exc:
        raise WebhookRejected("certificate file is not a certificate") from exc


def verify_chain(
    leaf: x509.Certificate,
    intermediates: Sequence[x509.Certificate],
    policy: TrustPolicy,
    clock: Clock,
) -> x509.Certificate:
    """``leaf`` when it is valid now and chains, by signature, to one of the anchors."""
    _check_issuer_organization(leaf, policy.issuer_organization)
    current = leaf
    for _ in range(MAX_CHAIN):
        _check_validity(current, clock)
        if current in policy.anchors or any(_issued_by(current, a) for a in policy.anchors):
            return leaf
        parent = next((c for c in intermediates if _is_ca(c) and _issued_by(current, c)), None)
        if parent is None or parent is current:
            break
        current = parent
    raise WebhookRejected("certificate does not chain to a trusted root")


def _issued_by(child: x509.Certificate, issuer: x509.Certificate) -> bool:
    try:
        child.verify_directly_issued_by(issuer)
    except (ValueError, TypeError, InvalidSignature):
        return False
    return True


def _is_ca(cert: x509.Certificate) -> bool:
    try:
        return bool(cert.extensions.get_extension_for_class(x509.BasicConstraints).value.ca)
    except x509.ExtensionNotFound:
        return False


def _check_validity(cert: x509.Certificate, clock: Clock) -> None:
    now = clock.now()
    if not cert.not_valid_before_utc <= now <= cert.not_valid_after_utc:
        raise WebhookRejected("certificate is expired or not yet valid")


def _check_issuer_organization(leaf: x509.Certificate, organization: str | None) -> None:
    if organization is None:
        return
    names = leaf.issuer.get_attributes_for_oid(NameOID.ORGANIZATION_NAME)
    if not any(name.value == organization for name in names):
        raise WebhookRejected(f"certificate issuer is not O={organization}")


def _lower(hosts: Iterable[str]) -> frozenset[str]:
    return frozenset(h.lower() for h in hosts)
