"""A test CA and a signing certificate made with ``cryptography``, and signed callback headers."""

from __future__ import annotations

import base64
from datetime import UTC, datetime, timedelta

from cryptography import x509
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import padding, rsa
from cryptography.x509.oid import NameOID

CERT_HOST = "certs.pc.test"
CERT_URL = f"https://{CERT_HOST}/cert/pcnotifications-dispatch.cer"


def _name(common_name: str) -> x509.Name:
    return x509.Name(
        [
            x509.NameAttribute(NameOID.ORGANIZATION_NAME, "cosell test"),
            x509.NameAttribute(NameOID.COMMON_NAME, common_name),
        ]
    )


def _certificate(
    subject: str, key: rsa.RSAPrivateKey, issuer: str, signer: rsa.RSAPrivateKey, ca: bool
) -> x509.Certificate:
    now = datetime.now(UTC)
    return (
        x509.CertificateBuilder()
        .subject_name(_name(subject))
        .issuer_name(_name(issuer))
        .public_key(key.public_key())
        .serial_number(x509.random_serial_number())
        .not_valid_before(now - timedelta(days=1))
        .not_valid_after(now + timedelta(days=30))
        .add_extension(x509.BasicConstraints(ca=ca, path_length=None), critical=True)
        .sign(signer, hashes.SHA256())
    )


class SigningAuthority:
    """A root CA and a leaf certificate it issued; the leaf signs callback bodies."""

    def __init__(self) -> None:
        self.ca_key = rsa.generate_private_key(public_exponent=65537, key_size=2048)
        root = "cosell test root"
        self.ca = _certificate(root, self.ca_key, root, self.ca_key, True)
        self.key = rsa.generate_private_key(public_exponent=65537, key_size=2048)
        self.leaf = _certificate("dispatch", self.key, "cosell test root", self.ca_key, False)

    @property
    def ca_pem(self) -> bytes:
        return self.ca.public_bytes(serialization.Encoding.PEM)

    @property
    def leaf_der(self) -> bytes:
        return self.leaf.public_bytes(serialization.Encoding.DER)

    def headers(self, body: bytes, cert_url: str = CERT_URL) -> dict[str, str]:
        signature = self.key.sign(body, padding.PKCS1v15(), hashes.SHA256())
        return {
            "content-type": "application/json",
            "authorization": f"Signature {base64.b64encode(signature).decode()}",
            "x-ms-certificate-url": cert_url,
            "x-ms-signature-algorithm": "rsa-sha256",
        }
