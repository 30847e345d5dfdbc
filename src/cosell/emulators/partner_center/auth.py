"""Entra ID look-alike tokens (v1 and v2) and the bearer check of the data APIs.

Grants: ``password`` (ROPC), ``refresh_token`` (rotating: a used refresh token stops working),
``client_credentials`` (app-only, for the webhook API) and the device-code flow. Tokens are opaque
random strings that expire on the emulator clock.
"""

from __future__ import annotations

import secrets
import string
from typing import Any

from starlette.responses import Response

from cosell.emulators.partner_center.host import Host
from cosell.emulators.partner_center.responses import ApiError, json_response, new_id
from cosell.emulators.partner_center.state import DeviceCode, TokenGrant

DEFAULT_AUDIENCE = "https://api.partner.microsoft.com"
PARTNER_AUDIENCES = frozenset({DEFAULT_AUDIENCE, "https://api.partnercenter.microsoft.com"})
DEVICE_CODE_GRANT = "urn:ietf:params:oauth:grant-type:device_code"
DEVICE_CODE_TTL = 900
APP_SUBJECT = "app"


class AadError(Exception):
    """An error in the Entra ID token-endpoint shape (``error``, ``error_description`` …)."""

    def __init__(self, status: int, error: str, code: int, description: str) -> None:
        super().__init__(description)
        self.status, self.error, self.code, self.description = status, error, code, description

    def response(self, now: str) -> Response:
        body = {
            "error": self.error,
            "error_description": f"AADSTS{self.code}: {self.description}",
            "error_codes": [self.code],
            "timestamp": now,
            "trace_id": new_id(),
            "correlation_id": new_id(),
        }
        return json_response(body, self.status)


class TokenService:
    """Issues, rotates and checks tokens against the emulator's store (caller holds the lock)."""

    def __init__(self, host: Host) -> None:
        self.host = host

    def grant(self, version: str, form: dict[str, str]) -> dict[str, Any]:
        grant_type = form.get("grant_type", "")
        audience = _audience(form.get("resource") if version == "v1" else form.get("scope"))
        if grant_type == "client_credentials":
            self._check_client(form, secret_required=True)
            return self._issue(version, APP_SUBJECT, audience, form, refresh=False)
        self._check_client(form, secret_required=False)
        if grant_type == "password":
            self._check_user(form)
            subject = self.host.config.username
        elif grant_type == "refresh_token":
            subject, audience = self._redeem_refresh(form.get("refresh_token", ""), audience, form)
        elif grant_type == DEVICE_CODE_GRANT:
            form = {**form, "scope": self._redeem_device_code(form.get("device_code", ""))}
            subject, audience = self.host.config.username, _audience(form["scope"])
        else:
            raise AadError(400, "unsupported_grant_type", 70003, f"Grant {grant_type!r} unknown.")
        refresh = version == "v1" or "offline_access" in form.get("scope", "").split()
        return self._issue(version, subject, audience, form, refresh=refresh)

    def device_code(self, form: dict[str, str]) -> dict[str, Any]:
        self._check_client(form, secret_required=False)
        user_code = "".join(secrets.choice(string.ascii_uppercase) for _ in range(9))
        code = DeviceCode(
            device_code=secrets.token_urlsafe(32),
            user_code=user_code,
            client_id=form["client_id"],
            scope=form.get("scope", ""),
            expires_at=self._now() + DEVICE_CODE_TTL,
            approved=self.host.config.auto_approve_device_codes,
        )
        self.host.data.device_codes[code.device_code] = code
        uri = f"{self.host.config.base_url}/_emulator/device-codes"
        return {
            "device_code": code.device_code,
            "user_code": user_code,
            "verification_uri": uri,
            "expires_in": DEVICE_CODE_TTL,
            "interval": 1,
            "message": f"To sign in, approve code {user_code} at {uri}/{user_code}/approve.",
        }

    def approve(self, user_code: str) -> bool:
        for code in self.host.data.device_codes.values():
            if code.user_code == user_code.upper() and code.expires_at > self._now():
                code.approved = True
                return True
        return False

    def check_bearer(self, header: str | None, *, user_required: bool) -> TokenGrant:
        """The grant behind ``Authorization: Bearer …``, or an ApiError 401/403."""
        scheme, _, token = (header or "").partition(" ")
        grant = self.host.data.tokens.get(token.strip()) if scheme.lower() == "bearer" else None
        if grant is None or grant.kind != "access" or grant.audience not in PARTNER_AUDIENCES:
            raise _unauthenticated("The bearer token is missing or not valid.")
        if grant.expires_at <= self._now():
            raise _unauthenticated("The bearer token has expired.")
        if user_required and grant.subject == APP_SUBJECT:
            raise ApiError(403, "accessDenied", "App-only tokens are not supported.", "token")
        return grant

    def _issue(
        self, version: str, subject: str, audience: str, form: dict[str, str], *, refresh: bool
    ) -> dict[str, Any]:
        now, ttl = self._now(), self.host.config.token_ttl
        scope = form.get("scope", "") or f"{audience}/.default"
        access = secrets.token_urlsafe(32)
        self.host.data.tokens[access] = TokenGrant(
            "access", subject, audience, now + ttl, version, scope
        )
        body: dict[str, Any] = {
            "token_type": "Bearer",
            "scope": scope,
            "expires_in": ttl,
            "ext_expires_in": ttl,
            "access_token": access,
        }
        if version == "v1":
            body |= {"expires_on": str(int(now + ttl)), "not_before": str(int(now))}
            body |= {"resource": audience}
            del body["scope"]
        if refresh:
            token = secrets.token_urlsafe(48)
            self.host.data.tokens[token] = TokenGrant(
                "refresh", subject, audience, now + 90 * 86400, version, scope
            )
            body["refresh_token"] = token
        return body

    def _check_client(self, form: dict[str, str], *, secret_required: bool) -> None:
        config = self.host.config
        if form.get("client_id") != config.client_id:
            raise AadError(400, "unauthorized_client", 700016, "Application not found.")
        secret = form.get("client_secret")
        if (secret_required or secret is not None) and secret != config.client_secret:
            raise AadError(401, "invalid_client", 7000215, "Invalid client secret provided.")

    def _check_user(self, form: dict[str, str]) -> None:
        config = self.host.config
        if form.get("username") != config.username or form.get("password") != config.password:
            raise AadError(400, "invalid_grant", 50126, "Invalid username or password.")

    def _redeem_refresh(self, token: str, audience: str, form: dict[str, str]) -> tuple[str, str]:
        grant = self.host.data.tokens.pop(token, None)
        if grant is None or grant.kind != "refresh" or grant.expires_at <= self._now():
            raise AadError(400, "invalid_grant", 70008, "The refresh token is invalid or expired.")
        explicit = form.get("resource") or form.get("scope")
        return grant.subject, audience if explicit else grant.audience

    def _redeem_device_code(self, device_code: str) -> str:
        """The scope the approved device code was issued for."""
        code = self.host.data.device_codes.get(device_code)
        if code is None:
            raise AadError(400, "invalid_grant", 70000, "The device code is not valid.")
        if code.expires_at <= self._now():
            raise AadError(400, "expired_token", 70020, "The device code has expired.")
        if not code.approved:
            raise AadError(400, "authorization_pending", 70016, "Waiting for the user to sign in.")
        del self.host.data.device_codes[device_code]
        return code.scope

    def _now(self) -> float:
        return self.host.clock.now().timestamp()


def _audience(value: str | None) -> str:
    """The resource a v1 ``resource`` or v2 ``scope`` names (``https://host/.default`` → host)."""
    for item in (value or "").split():
        if "://" in item:
            scheme, _, rest = item.partition("://")
            return f"{scheme}://{rest.split('/')[0]}"
    return DEFAULT_AUDIENCE


def _unauthenticated(message: str) -> ApiError:
    error = ApiError(401, "unauthenticated", message, "Authorization")
    error.headers["WWW-Authenticate"] = 'Bearer error="invalid_token"'
    return error
