"""OAuth token endpoint and sessions: JWT bearer, client credentials, refresh token, password.

Tokens carry no ``expires_in``; a session ends when idle longer than the configured timeout
(measured on the emulator's clock and extended on every use) or when revoked.
"""

from __future__ import annotations

import base64
import hashlib
import hmac
import secrets
import threading
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any

import jwt
from cryptography import x509
from cryptography.hazmat.primitives.serialization import load_pem_public_key

from cosell.clock import Clock
from cosell.emulators.salesforce.config import SalesforceEmulatorConfig

JWT_GRANT = "urn:ietf:params:oauth:grant-type:jwt-bearer"
MAX_ASSERTION_LIFETIME = 180


class OAuthError(Exception):
    """A token request refused with ``{"error", "error_description"}``."""

    def __init__(self, error: str, description: str, status: int = 400) -> None:
        super().__init__(f"{error}: {description}")
        self.error = error
        self.description = description
        self.status = status

    def body(self) -> dict[str, str]:
        return {"error": self.error, "error_description": self.description}


@dataclass
class Session:
    """A live access token's user and when it was last used."""

    user_id: str
    last_used: datetime


class SessionBook:
    """Live access tokens and refresh tokens of the org."""

    def __init__(self, config: SalesforceEmulatorConfig, clock: Clock) -> None:
        self._config = config
        self._clock = clock
        self._sessions: dict[str, Session] = {}
        self._refresh: dict[str, str] = {}
        self._lock = threading.Lock()

    def issue(self, user_id: str) -> str:
        token = f"{self._config.org_id[:15]}!{secrets.token_urlsafe(48)}"
        with self._lock:
            self._sessions[token] = Session(user_id, self._clock.now())
        return token

    def issue_refresh(self, user_id: str) -> str:
        token = secrets.token_urlsafe(40)
        with self._lock:
            self._refresh[token] = user_id
        return token

    def use(self, token: str) -> str | None:
        """The user behind a live token (extending its idle timer), or None."""
        now = self._clock.now()
        idle = timedelta(seconds=self._config.session_idle_timeout)
        with self._lock:
            session = self._sessions.get(token)
            if session is None or now - session.last_used > idle:
                self._sessions.pop(token, None)
                return None
            session.last_used = now
            return session.user_id

    def redeem_refresh(self, token: str) -> tuple[str, str | None]:
        """The user for a refresh token and, when rotation is on, its replacement."""
        with self._lock:
            user_id = self._refresh.get(token)
            if user_id is None:
                raise OAuthError("invalid_grant", "expired access/refresh token")
            if not self._config.rotate_refresh_tokens:
                return user_id, None
            del self._refresh[token]
        return user_id, self.issue_refresh(user_id)

    def revoke(self, token: str) -> bool:
        with self._lock:
            found = self._sessions.pop(token, None) is not None
            return self._refresh.pop(token, None) is not None or found

    def revoke_all(self) -> int:
        with self._lock:
            count = len(self._sessions)
            self._sessions.clear()
            return count


class TokenIssuer:
    """Checks a token request's grant and mints the session."""

    def __init__(
        self, config: SalesforceEmulatorConfig, clock: Clock, sessions: SessionBook, user_id: str
    ) -> None:
        self._config = config
        self._clock = clock
        self._sessions = sessions
        self._user_id = user_id

    def grant(self, form: dict[str, str], basic: tuple[str, str] | None) -> dict[str, Any]:
        kind = form.get("grant_type", "")
        handlers = {
            JWT_GRANT: self._jwt,
            "client_credentials": self._client_credentials,
            "refresh_token": self._refresh_token,
            "password": self._password,
        }
        handler = handlers.get(kind)
        if handler is None:
            raise OAuthError("unsupported_grant_type", "grant type not supported")
        return handler(form, basic)

    def _client(self, form: dict[str, str], basic: tuple[str, str] | None) -> None:
        client_id, secret = basic or (form.get("client_id", ""), form.get("client_secret", ""))
        if client_id != self._config.client_id:
            raise OAuthError("invalid_client_id", "client identifier invalid")
        if not hmac.compare_digest(secret, self._config.client_secret):
            raise OAuthError("invalid_client", "invalid client credentials")

    def _client_credentials(
        self, form: dict[str, str], basic: tuple[str, str] | None
    ) -> dict[str, Any]:
        self._client(form, basic)
        return self._response(self._user_id)

    def _password(self, form: dict[str, str], basic: tuple[str, str] | None) -> dict[str, Any]:
        self._client(form, basic)
        if form.get("username") != self._config.username or not hmac.compare_digest(
            form.get("password", ""), self._config.password
        ):
            raise OAuthError("invalid_grant", "authentication failure")
        return self._response(self._user_id)

    def _refresh_token(self, form: dict[str, str], basic: tuple[str, str] | None) -> dict[str, Any]:
        if basic or "client_secret" in form:
            self._client(form, basic)
        elif form.get("client_id") != self._config.client_id:
            raise OAuthError("invalid_client_id", "client identifier invalid")
        user_id, rotated = self._sessions.redeem_refresh(form.get("refresh_token", ""))
        body = self._response(user_id)
        if rotated:
            body["refresh_token"] = rotated
        return body

    def _jwt(self, form: dict[str, str], basic: tuple[str, str] | None) -> dict[str, Any]:
        claims = self._verified_claims(form.get("assertion", ""))
        if claims.get("iss") != self._config.client_id:
            raise OAuthError("invalid_client_id", "client identifier invalid")
        if claims.get("sub") != self._config.username:
            raise OAuthError("invalid_grant", "user hasn't approved this consumer")
        audiences = claims.get("aud")
        wanted = audiences if isinstance(audiences, list) else [audiences]
        if not {str(a).rstrip("/") for a in wanted} & self._config.accepted_audiences():
            raise OAuthError("invalid_grant", "audience is invalid")
        self._check_expiry(claims.get("exp"))
        return self._response(self._user_id)

    def _verified_claims(self, assertion: str) -> dict[str, Any]:
        if self._config.jwt_cert_pem is None:
            raise OAuthError("invalid_grant", "invalid assertion")
        try:
            claims: dict[str, Any] = jwt.decode(
                assertion,
                _public_key(self._config.jwt_cert_pem),
                algorithms=["RS256"],
                options={
                    "verify_exp": False,
                    "verify_aud": False,
                    "verify_iat": False,
                    "verify_nbf": False,
                },
            )
        except jwt.PyJWTError:
            raise OAuthError("invalid_grant", "invalid assertion") from None
        return claims

    def _check_expiry(self, claim: Any) -> None:
        exp = _epoch_seconds(claim)
        now = self._clock.now().timestamp()
        if exp <= now - self._config.jwt_skew_seconds:
            raise OAuthError("invalid_grant", "expired authorization code")
        if exp > now + MAX_ASSERTION_LIFETIME + self._config.jwt_skew_seconds:
            raise OAuthError("invalid_grant", "invalid assertion expiration time")

    def _response(self, user_id: str) -> dict[str, Any]:
        issued_at = str(int(self._clock.now().timestamp() * 1000))
        identity = f"{self._config.public_url}/id/{self._config.org_id}/{user_id}"
        digest = hmac.new(
            self._config.client_secret.encode(), (identity + issued_at).encode(), hashlib.sha256
        ).digest()
        return {
            "access_token": self._sessions.issue(user_id),
            "instance_url": self._config.public_url,
            "id": identity,
            "token_type": "Bearer",
            "issued_at": issued_at,
            "signature": base64.b64encode(digest).decode(),
            "scope": "api",
        }


def _epoch_seconds(claim: Any) -> float:
    """``exp`` as a number; simple-salesforce sends it as a string of digits, which is accepted."""
    if isinstance(claim, str) and claim.isdecimal():
        return float(claim)
    if isinstance(claim, int | float) and not isinstance(claim, bool):
        return float(claim)
    raise OAuthError("invalid_grant", "invalid assertion")


def _public_key(pem: bytes) -> Any:
    if b"CERTIFICATE" in pem:
        return x509.load_pem_x509_certificate(pem).public_key()
    return load_pem_public_key(pem)
