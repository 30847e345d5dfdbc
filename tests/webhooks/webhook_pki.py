"""A small test PKI: a Microsoft-like root, intermediate and signing leaf, and strangers."""

from __future__ import annotations

import base64
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta

from cryptography import x509
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import padding, rsa
from cryptography.x509.oid import NameOID

NOW = datetime(2026, 1, 1, tzinfo=UTC)


@dataclass(frozen=True)
class Issued:
    """A certificate and its private key."""

    cert: x509.Certificate
    key: rsa.RSAPrivateKey

    def pem(self) -> bytes:
        return self.cert.public_bytes(serialization.Encoding.PEM)

    def der(self) -> bytes:
        return self.cert.public_bytes(serialization.Encoding.DER)

    def sign(self, body: bytes) -> str:
        return base64.b64encode(self.key.sign(body, padding.PKCS1v15(), hashes.SHA256())).decode()


def name(organization: str, common_name: str) -> x509.Name:
    return x509.Name(
        [
            x509.NameAttribute(NameOID.ORGANIZATION_NAME, organization),
            x509.NameAttribute(NameOID.COMMON_NAME, common_name),
        ]
    )


def issue(
    subject: x509.Name,
    issuer: Issued | None,
    *,
    ca: bool,
    days: int = 365,
) -> Issued:
    key = rsa.generate_private_key(public_exponent=65537, key_size=2048)
    signer_key = issuer.key if issuer else key
    builder = (
        x509.CertificateBuilder()
        .subject_name(subject)
        .issuer_name(issuer.cert.subject if issuer else subject)
        .public_key(key.public_key())
        .serial_number(x509.random_serial_number())
        .not_valid_before(NOW - timedelta(days=1))
        .not_valid_after(NOW + timedelta(days=days))
        .add_extension(x509.BasicConstraints(ca=ca, path_length=None), critical=True)
    )
    return Issued(builder.sign(signer_key, hashes.SHA256()), key)


@dataclass(frozen=True)
class Pki:
    """Everything a signature test needs."""

    root: Issued
    intermediate: Issued
    leaf: Issued
    stranger_root: Issued
    stranger_leaf: Issued
    other_root: Issued
    unbranded_leaf: Issued


def make_pki() -> Pki:
    root = issue(name("Microsoft Corporation", "Test Root"), None, ca=True, days=3650)
    intermediate = issue(name("Microsoft Corporation", "Test Issuing CA"), root, ca=True)
    leaf = issue(name("Microsoft Corporation", "pcnotifications"), intermediate, ca=False)
    stranger_root = issue(name("Microsoft Corporation", "Impostor Root"), None, ca=True)
    stranger_leaf = issue(name("Microsoft Corporation", "impostor"), stranger_root, ca=False)
    other_root = issue(name("Someone Else", "Other Root"), None, ca=True)
    unbranded_leaf = issue(name("Someone Else", "other"), other_root, ca=False)
    return Pki(root, intermediate, leaf, stranger_root, stranger_leaf, other_root, unbranded_leaf)
