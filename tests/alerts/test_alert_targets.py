"""Each alert target against a local receiver: the payload its service takes, the signature,
and failures that never repeat the secret URL or password."""

from __future__ import annotations

import hashlib
import hmac
import json

import pytest
from pydantic import TypeAdapter

from cosell.alerts.targets import (
    SIGNATURE_HEADER,
    TIMESTAMP_HEADER,
    DeliveryError,
    targets_from_settings,
)
from cosell.clock import ManualClock
from cosell.errors import ConfigError
from cosell.settings import AlertsSettings
from cosell.store.alerts import Alert
from support.alert_receivers import http_receiver, smtp_server

ALERT = Alert(
    subject="referral:r-1",
    change="refused@2026-12-03T07:00:00+00:00",
    event="refused",
    title="Fabrikam rollout: refused by Salesforce",
    text="Currency CHF is not enabled in the org <ask an admin> & retry",
    link="https://cosell.example.com/records/referral/r-1",
)


def configured(targets: list[dict[str, object]]) -> AlertsSettings:
    return TypeAdapter(AlertsSettings).validate_python({"targets": targets})


def test_teams_gets_an_adaptive_card() -> None:
    with http_receiver() as box:
        env = {"TEAMS_URL": box.url}
        (target,) = targets_from_settings(
            configured([{"kind": "teams", "name": "ops", "url_env": "TEAMS_URL"}]),
            ManualClock(),
            env,
        )
        target.send(ALERT)
    (got,) = box.received
    body = json.loads(got.body)
    assert got.path == "/hook/T0KEN-in-the-path"
    assert body["type"] == "message"
    (attachment,) = body["attachments"]
    assert attachment["contentType"] == "application/vnd.microsoft.card.adaptive"
    card = attachment["content"]
    assert card["type"] == "AdaptiveCard"
    assert card["body"][0]["text"] == ALERT.title
    assert card["body"][1]["text"] == ALERT.text
    assert card["actions"][0]["url"] == ALERT.link


def test_slack_gets_text_and_escaped_blocks() -> None:
    with http_receiver() as box:
        (target,) = targets_from_settings(
            configured([{"kind": "slack", "name": "ops", "url_env": "SLACK_URL"}]),
            ManualClock(),
            {"SLACK_URL": box.url},
        )
        target.send(ALERT)
    body = json.loads(box.received[0].body)
    assert body["text"].startswith(ALERT.title)
    section = body["blocks"][0]["text"]["text"]
    assert "&lt;ask an admin&gt; &amp; retry" in section
    assert f"<{ALERT.link}|Open in cosell>" in section


def test_email_reaches_a_local_smtp_server() -> None:
    with smtp_server() as (port, mailbox):
        settings = configured(
            [
                {
                    "kind": "email",
                    "name": "mail",
                    "host": "127.0.0.1",
                    "port": port,
                    "security": "none",
                    "sender": "cosell@example.com",
                    "recipients": ["ops@example.com", "sales-ops@example.com"],
                }
            ]
        )
        (target,) = targets_from_settings(settings, ManualClock(), {})
        target.send(ALERT)
    ((sender, recipients, message),) = mailbox.messages
    assert sender == "cosell@example.com"
    assert recipients == ["ops@example.com", "sales-ops@example.com"]
    assert message["Subject"] == f"[cosell] {ALERT.title}"
    text = message.get_payload(decode=True).decode()
    assert ALERT.text in text
    assert ALERT.link in text


def email_settings(port: int) -> AlertsSettings:
    target = {
        "kind": "email",
        "name": "mail",
        "host": "127.0.0.1",
        "port": port,
        "security": "none",
        "sender": "cosell@example.com",
        "recipients": ["ops@example.com"],
        "username": "cosell",
        "password_env": "SMTP_PASSWORD",
    }
    return configured([target])


def test_email_signs_in_with_the_password_from_the_environment() -> None:
    with smtp_server(login=("cosell", "smtp-pa55word")) as (port, mailbox):
        (target,) = targets_from_settings(
            email_settings(port), ManualClock(), {"SMTP_PASSWORD": "smtp-pa55word"}
        )
        target.send(ALERT)
    assert len(mailbox.messages) == 1


def test_a_refused_smtp_sign_in_never_repeats_the_password() -> None:
    with smtp_server(login=("cosell", "the-right-one")) as (port, mailbox):
        (target,) = targets_from_settings(
            email_settings(port), ManualClock(), {"SMTP_PASSWORD": "wr0ng-pa55word"}
        )
        with pytest.raises(DeliveryError) as failed:
            target.send(ALERT)
    assert "SMTPAuthenticationError" in str(failed.value)
    assert "wr0ng-pa55word" not in str(failed.value)
    assert mailbox.messages == []


def test_the_generic_webhook_is_signed_over_timestamp_and_body() -> None:
    clock = ManualClock()
    with http_receiver() as box:
        settings = configured(
            [{"kind": "webhook", "name": "hook", "url": box.url, "secret_env": "HOOK_KEY"}]
        )
        (target,) = targets_from_settings(settings, clock, {"HOOK_KEY": "s3cret"})
        target.send(ALERT)
    (got,) = box.received
    stamp = got.headers[TIMESTAMP_HEADER]
    assert stamp == str(int(clock.now().timestamp()))
    expected = hmac.new(b"s3cret", stamp.encode() + b"." + got.body, hashlib.sha256).hexdigest()
    assert got.headers[SIGNATURE_HEADER] == f"sha256={expected}"
    assert json.loads(got.body)["subject"] == "referral:r-1"
    assert "s3cret" not in got.body.decode()


def test_a_refusal_names_the_status_but_never_the_secret_url() -> None:
    with http_receiver() as box:
        box.statuses.append(500)
        (target,) = targets_from_settings(
            configured([{"kind": "teams", "name": "ops", "url_env": "TEAMS_URL"}]),
            ManualClock(),
            {"TEAMS_URL": box.url},
        )
        with pytest.raises(DeliveryError) as failed:
            target.send(ALERT)
    assert "HTTP 500" in str(failed.value)
    assert "T0KEN" not in str(failed.value)


def test_an_unreachable_target_fails_without_its_url() -> None:
    with http_receiver() as box:
        url = box.url
    (target,) = targets_from_settings(
        configured([{"kind": "slack", "name": "ops", "url_env": "SLACK_URL"}]),
        ManualClock(),
        {"SLACK_URL": url},
    )
    with pytest.raises(DeliveryError) as failed:
        target.send(ALERT)
    assert "T0KEN" not in str(failed.value)


def test_a_missing_secret_variable_names_the_setting() -> None:
    settings = configured([{"kind": "slack", "name": "ops", "url_env": "SLACK_URL"}])
    with pytest.raises(ConfigError) as failed:
        targets_from_settings(settings, ManualClock(), {})
    assert failed.value.key == "alerts.targets.0.url_env"
    assert "SLACK_URL" in str(failed.value)


def test_target_names_must_differ() -> None:
    with pytest.raises(ValueError, match="own name"):
        configured(
            [
                {"kind": "slack", "name": "ops", "url_env": "A"},
                {"kind": "teams", "name": "ops", "url_env": "B"},
            ]
        )
