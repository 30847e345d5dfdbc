"""Where alerts go: a Teams or Slack incoming webhook, an SMTP server, a signed webhook.

Each target turns an ``Alert`` into its receiver's format and sends it in one call; a refusal
or a network error raises ``DeliveryError`` whose text never holds the target's URL, password
or signing secret (Teams and Slack webhook URLs are themselves credentials). The URLs and
secrets come from environment variables the configuration names.

The generic webhook signs ``<timestamp>.<body>`` with HMAC-SHA256 and sends
``X-Cosell-Timestamp`` (Unix seconds) and ``X-Cosell-Signature: sha256=<hex>``; a receiver
recomputes it and refuses old timestamps (see docs/operations.md).
"""

from __future__ import annotations

import hashlib
import hmac
import json
import os
import smtplib
import ssl
from collections.abc import Callable, Mapping
from email.message import EmailMessage
from typing import Any, Protocol

import httpx

from cosell.clock import Clock
from cosell.errors import ConfigError
from cosell.settings import (
    AlertsSettings,
    AlertTarget,
    EmailTarget,
    SlackTarget,
    TeamsTarget,
    WebhookTarget,
)
from cosell.store.alerts import Alert

TIMEOUT = 10.0
SIGNATURE_HEADER = "X-Cosell-Signature"
TIMESTAMP_HEADER = "X-Cosell-Timestamp"
HttpFactory = Callable[[], httpx.Client]


class DeliveryError(Exception):
    """A target did not take an alert; the text is safe to log and keep."""


class Target(Protocol):
    """One place alerts go."""

    name: str

    def send(self, alert: Alert) -> None: ...


def default_http() -> httpx.Client:
    return httpx.Client(timeout=TIMEOUT, follow_redirects=False)


def alert_json(alert: Alert) -> dict[str, Any]:
    """The alert as the generic webhook's JSON body."""
    return {
        "event": alert.event,
        "subject": alert.subject,
        "change": alert.change,
        "title": alert.title,
        "text": alert.text,
        "link": alert.link,
    }


def teams_card(alert: Alert) -> dict[str, Any]:
    """A message with one Adaptive Card, as Teams incoming webhooks and Workflows take it."""
    body: list[dict[str, Any]] = [
        {
            "type": "TextBlock",
            "text": alert.title,
            "weight": "Bolder",
            "size": "Medium",
            "wrap": True,
        },
        {"type": "TextBlock", "text": alert.text, "wrap": True},
        {
            "type": "FactSet",
            "facts": [
                {"title": "Event", "value": alert.event},
                {"title": "Record", "value": alert.subject},
            ],
        },
    ]
    card: dict[str, Any] = {
        "$schema": "http://adaptivecards.io/schemas/adaptive-card.json",
        "type": "AdaptiveCard",
        "version": "1.4",
        "body": body,
    }
    if alert.link:
        card["actions"] = [{"type": "Action.OpenUrl", "title": "Open in cosell", "url": alert.link}]
    attachment = {"contentType": "application/vnd.microsoft.card.adaptive", "content": card}
    return {"type": "message", "attachments": [attachment]}


def slack_message(alert: Alert) -> dict[str, Any]:
    """A Slack incoming-webhook message: plain ``text`` for notifications, blocks to read."""
    title, text = _slack_escape(alert.title), _slack_escape(alert.text)
    lines = f"*{title}*\n{text}"
    if alert.link:
        lines += f"\n<{alert.link}|Open in cosell>"
    blocks = [
        {"type": "section", "text": {"type": "mrkdwn", "text": lines}},
        {
            "type": "context",
            "elements": [
                {"type": "mrkdwn", "text": f"{alert.event} · {_slack_escape(alert.subject)}"}
            ],
        },
    ]
    return {"text": f"{alert.title}: {alert.text}", "blocks": blocks}


def _slack_escape(text: str) -> str:
    return text.replace("&", "&amp;").replace("<", "&lt;").replace(">", "&gt;")


def sign(secret: bytes, timestamp: str, body: bytes) -> str:
    """The generic webhook's signature header value for ``body`` sent at ``timestamp``."""
    digest = hmac.new(secret, timestamp.encode() + b"." + body, hashlib.sha256).hexdigest()
    return f"sha256={digest}"


class _Posting:
    """Posts JSON to a secret URL; errors never repeat the URL."""

    def __init__(self, name: str, url: str, http: HttpFactory) -> None:
        self.name, self._url, self._http = name, url, http

    def _post(self, body: bytes, headers: Mapping[str, str]) -> None:
        sent = {"Content-Type": "application/json", **headers}
        try:
            with self._http() as client:
                response = client.post(self._url, content=body, headers=sent)
        except httpx.HTTPError as exc:
            raise DeliveryError(f"{type(exc).__name__}: {self._hide(str(exc))}") from None
        if not response.is_success:
            raise DeliveryError(f"HTTP {response.status_code}: {self._hide(response.text[:200])}")

    def _hide(self, text: str) -> str:
        return text.replace(self._url, "<target URL>")


class TeamsWebhook(_Posting):
    def send(self, alert: Alert) -> None:
        self._post(json.dumps(teams_card(alert)).encode(), {})


class SlackWebhook(_Posting):
    def send(self, alert: Alert) -> None:
        self._post(json.dumps(slack_message(alert)).encode(), {})


class SignedWebhook(_Posting):
    def __init__(self, name: str, url: str, secret: str, http: HttpFactory, clock: Clock) -> None:
        super().__init__(name, url, http)
        self._secret, self._clock = secret.encode(), clock

    def send(self, alert: Alert) -> None:
        body = json.dumps(alert_json(alert), separators=(",", ":")).encode()
        timestamp = str(int(self._clock.now().timestamp()))
        headers = {
            TIMESTAMP_HEADER: timestamp,
            SIGNATURE_HEADER: sign(self._secret, timestamp, body),
        }
        self._post(body, headers)


class Email:
    """Sends each alert as one plain-text message through the configured SMTP server."""

    def __init__(self, config: EmailTarget, password: str | None) -> None:
        self.name, self._config, self._password = config.name, config, password

    def send(self, alert: Alert) -> None:
        message = self._message(alert)
        try:
            with self._connect() as smtp:
                if self._config.username and self._password is not None:
                    smtp.login(self._config.username, self._password)
                smtp.send_message(message)
        except (OSError, smtplib.SMTPException) as exc:
            text = str(exc)
            if self._password:
                text = text.replace(self._password, "***")
            raise DeliveryError(f"{type(exc).__name__}: {text}") from None

    def _connect(self) -> smtplib.SMTP:
        c = self._config
        if c.security == "tls":
            context = ssl.create_default_context()
            return smtplib.SMTP_SSL(c.host, c.port, timeout=TIMEOUT, context=context)
        smtp = smtplib.SMTP(c.host, c.port, timeout=TIMEOUT)
        if c.security == "starttls":
            smtp.starttls(context=ssl.create_default_context())
        return smtp

    def _message(self, alert: Alert) -> EmailMessage:
        message = EmailMessage()
        message["Subject"] = f"[cosell] {alert.title}"
        message["From"] = self._config.sender
        message["To"] = ", ".join(self._config.recipients)
        lines = [alert.text, "", f"Event: {alert.event}", f"Record: {alert.subject}"]
        if alert.link:
            lines.append(f"Open in cosell: {alert.link}")
        message.set_content("\n".join(lines) + "\n")
        return message


def targets_from_settings(
    settings: AlertsSettings,
    clock: Clock,
    environ: Mapping[str, str] = os.environ,
    http: HttpFactory = default_http,
) -> list[Target]:
    """The configured targets with their secrets read from the environment; ``ConfigError``
    names the setting whose variable is unset."""
    return [_target(t, index, clock, environ, http) for index, t in enumerate(settings.targets)]


def _target(
    config: AlertTarget, index: int, clock: Clock, environ: Mapping[str, str], http: HttpFactory
) -> Target:
    def secret(key: str, variable: str) -> str:
        value = environ.get(variable)
        if not value:
            raise ConfigError(f"alerts.targets.{index}.{key}", f"set {variable} ({config.name})")
        return value

    if isinstance(config, TeamsTarget):
        return TeamsWebhook(config.name, secret("url_env", config.url_env), http)
    if isinstance(config, SlackTarget):
        return SlackWebhook(config.name, secret("url_env", config.url_env), http)
    if isinstance(config, WebhookTarget):
        key = secret("secret_env", config.secret_env)
        return SignedWebhook(config.name, config.url, key, http, clock)
    password = secret("password_env", config.password_env) if config.password_env else None
    return Email(config, password)
