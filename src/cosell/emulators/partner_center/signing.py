"""The emulator's own certificate authority and signing certificate for webhook deliveries.

Partner Center signs each callback body with RSA-SHA256 (PKCS#1 v1.5) and names the signing
certificate's URL in a header. The emulator does the same with a CA and leaf certificate of its
own (``O=cosell emulator``), generated on first use and kept in the state file when one is set.
"""

from __future__ import annotations

import base64
import threading
from collections.abc import Callable
from datetime import UTC, datetime, timedelta

from cryptography import x509
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import padding, rsa
from cryptography.x509.oid import NameOID

ORGANIZATION = "cosell emulator"


class Signer:
    """Holds the CA and leaf key pair; signs webhook bodies. Thread-safe, created lazily."""

    def __init__(self, pems: dict[str, str], on_generate: Callable[[], None]) -> None:
        self._pems = pems  # shared with the store so the keys persist with the state file
        self._on_generate = on_generate
        self._lock = threading.Lock()
        self._key: rsa.RSAPrivateKey | None = None
        self._cert: x509.Certificate | None = None

    def sign(self, body: bytes) -> str:
        key, _ = self._material()
        signature = key.sign(body, padding.PKCS1v15(), hashes.SHA256())
        return base64.b64encode(signature).decode()

    def certificate_der(self) -> bytes:
        _, cert = self._material()
        return cert.public_bytes(serialization.Encoding.DER)

    def ca_pem(self) -> bytes:
        self._material()
        return self._pems["ca_cert"].encode()

    def _material(self) -> tuple[rsa.RSAPrivateKey, x509.Certificate]:
        generated = False
        with self._lock:
            if self._key is None or self._cert is None:
                if "leaf_key" not in self._pems:
                    self._pems.update(_generate())
                    generated = True
                key = serialization.load_pem_private_key(self._pems["leaf_key"].encode(), None)
                assert isinstance(key, rsa.RSAPrivateKey)
                self._key = key
                self._cert = x509.load_pem_x509_certificate(self._pems["leaf_cert"].encode())
            material = (self._key, self._cert)
        if generated:  # outside our lock: saving takes the store lock
            self._on_generate()
        return material


def _generate() -> dict[str, str]:
    now = datetime.now(UTC)  # certificate validity is real time, not the emulator clock
    ca_key = rsa.generate_private_key(public_exponent=65537, key_size=2048)
    ca_name = _name("cosell emulator root CA")
    ca_cert = (
        _builder(ca_name, ca_name, ca_key, now)
        .add_extension(x509.BasicConstraints(ca=True, path_length=0), critical=True)
        .sign(ca_key, hashes.SHA256())
    )
    leaf_key = rsa.generate_private_key(public_exponent=65537, key_size=2048)
    leaf_cert = (
        _builder(_name("pcnotifications-dispatch.emulator"), ca_name, leaf_key, now)
        .add_extension(x509.BasicConstraints(ca=False, path_length=None), critical=True)
        .sign(ca_key, hashes.SHA256())
    )
    return {
        "ca_cert": ca_cert.public_bytes(serialization.Encoding.PEM).decode(),
        "leaf_cert": leaf_cert.public_bytes(serialization.Encoding.PEM).decode(),
        "leaf_key": leaf_key.private_bytes(
            serialization.Encoding.PEM,
            serialization.PrivateFormat.PKCS8,
            serialization.NoEncryption(),
        ).decode(),
    }


def _name(common_name: str) -> x509.Name:
    return x509.Name(
        [
            x509.NameAttribute(NameOID.ORGANIZATION_NAME, ORGANIZATION),
            x509.NameAttribute(NameOID.COMMON_NAME, common_name),
        ]
    )


def _builder(
    subject: x509.Name, issuer: x509.Name, key: rsa.RSAPrivateKey, now: datetime
) -> x509.CertificateBuilder:
    return (
        x509.CertificateBuilder()
        .subject_name(subject)
        .issuer_name(issuer)
        .public_key(key.public_key())
        .serial_number(x509.random_serial_number())
        .not_valid_before(now - timedelta(days=1))
        .not_valid_after(now + timedelta(days=3650))
    )
