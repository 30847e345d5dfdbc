"""The Partner Center webhook this service receives: its path and the events it registers."""

from __future__ import annotations

PATH = "/webhooks/partner-center"
REFERRAL_EVENTS = frozenset({"referral-created", "referral-updated"})
RELATED_EVENTS = frozenset({"related-referral-created", "related-referral-updated"})
TEST_EVENT = "test-created"
EVENTS = tuple(sorted(REFERRAL_EVENTS | RELATED_EVENTS))


def webhook_path(tenant: str | None = None) -> str:
    """Where Partner Center calls cosell: ``PATH``, or ``PATH/<tenant>`` in a deployment of
    several tenants."""
    return f"{PATH}/{tenant}" if tenant else PATH
