"""The web app: Partner Center webhook receiver, health, metrics and the status page."""

from cosell.operations.service_status import ServiceStatus
from cosell.web.app import create_app
from cosell.web.metrics import ServiceMetrics
from cosell.web.receiver import WebhookReceiver

__all__ = ["ServiceMetrics", "ServiceStatus", "WebhookReceiver", "create_app"]
