"""Partner Center webhooks: verifying signed callbacks and reading registrations."""

from cosell.webhooks.certificates import CertificateCache, CertificateSource, TrustPolicy
from cosell.webhooks.signature import Callback, WebhookVerifier, verify_callback

__all__ = [
    "Callback",
    "CertificateCache",
    "CertificateSource",
    "TrustPolicy",
    "WebhookVerifier",
    "verify_callback",
]
