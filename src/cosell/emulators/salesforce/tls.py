"""Certificates for serving the emulator over HTTPS when none are given."""

from __future__ import annotations

import datetime
import ipaddress
from pathlib import Path

from cryptography import x509
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import rsa
from cryptography.x509.oid import NameOID


def self_signed_certificate(common_name: str = "localhost", days: int = 365) -> tuple[bytes, bytes]:
    """A fresh RSA key and a self-signed certificate for ``localhost`` and ``127.0.0.1``.

    Returns ``(certificate_pem, private_key_pem)``. The same pair also serves as a JWT bearer
    signing key and the certificate a connected app would hold.
    """
    key = rsa.generate_private_key(public_exponent=65537, key_size=2048)
    name = x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, common_name)])
    now = datetime.datetime.now(datetime.UTC)
    alt_names = x509.SubjectAlternativeName(
        [x509.DNSName("localhost"), x509.IPAddress(ipaddress.ip_address("127.0.0.1"))]
    )
    cert = (
        x509.CertificateBuilder()
        .subject_name(name)
        .issuer_name(name)
        .public_key(key.public_key())
        .serial_number(x509.random_serial_number())
        .not_valid_before(now - datetime.timedelta(minutes=5))
        .not_valid_after(now + datetime.timedelta(days=days))
        .add_extension(alt_names, critical=False)
        .sign(key, hashes.SHA256())
    )
    key_pem = key.private_bytes(
        serialization.Encoding.PEM,
        serialization.PrivateFormat.PKCS8,
        serialization.NoEncryption(),
    )
    return cert.public_bytes(serialization.Encoding.PEM), key_pem


def write_self_signed(directory: Path) -> tuple[Path, Path]:
    """Write a self-signed pair into ``directory``; returns ``(certfile, keyfile)``."""
    directory.mkdir(parents=True, exist_ok=True)
    cert_pem, key_pem = self_signed_certificate()
    certfile, keyfile = directory / "emulator-cert.pem", directory / "emulator-key.pem"
    certfile.write_bytes(cert_pem)
    keyfile.write_bytes(key_pem)
    keyfile.chmod(0o600)
    return certfile, keyfile
