"""Alerts: telling people (Teams, Slack, e-mail, a signed webhook) what needs them."""

from cosell.alerts.sender import AlertSender
from cosell.alerts.targets import DeliveryError, Target, targets_from_settings

__all__ = ["AlertSender", "DeliveryError", "Target", "targets_from_settings"]
