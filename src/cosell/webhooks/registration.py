"""Partner Center webhook registration resources, read whatever the key casing."""

from __future__ import annotations

from typing import Any

from pydantic import BaseModel, ConfigDict, model_validator
from pydantic.alias_generators import to_camel


class CaseTolerantModel(BaseModel):
    """Accepts ``WebhookUrl`` and ``webhookUrl`` alike (docs use PascalCase, swagger camelCase)."""

    model_config = ConfigDict(extra="allow", alias_generator=to_camel, validate_by_name=False)

    @model_validator(mode="before")
    @classmethod
    def _camel_keys(cls, data: Any) -> Any:
        if not isinstance(data, dict):
            return data
        return {_lower_first(key): value for key, value in data.items()}


class WebhookRegistration(CaseTolerantModel):
    """The one registration a partner tenant has: a URL and the events sent to it."""

    subscriber_id: str | None = None
    webhook_url: str | None = None
    webhook_events: list[str] = []
    signature_token_to_ms_signature_header: bool | None = None


class ValidationResult(CaseTolerantModel):
    """One delivery attempt of a validation event."""

    response_code: str | None = None
    response_message: str | None = None
    system_error: bool | None = None
    date_time_utc: str | None = None


class ValidationEvent(CaseTolerantModel):
    """The status of a validation (``test-created``) event and its delivery attempts."""

    correlation_id: str | None = None
    partner_id: str | None = None
    status: str | None = None
    callback_url: str | None = None
    results: list[ValidationResult] = []


def registration_body(url: str, events: list[str], signature_in_ms_header: bool) -> dict[str, Any]:
    """The POST/PUT body, in the PascalCase the documentation shows."""
    return {
        "WebhookUrl": url,
        "WebhookEvents": list(events),
        "SignatureTokenToMsSignatureHeader": signature_in_ms_header,
    }


def _lower_first(key: Any) -> Any:
    return key[:1].lower() + key[1:] if isinstance(key, str) else key
