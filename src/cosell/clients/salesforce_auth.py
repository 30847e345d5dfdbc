"""Salesforce OAuth: grants that obtain a token, and an ``httpx.Auth`` that keeps one fresh.

Salesforce token responses carry no ``expires_in``: a token is good until a call answers
401 ``INVALID_SESSION_ID``. ``SalesforceAuth`` then logs in again *once* and resends. Threads
that hit the 401 together share that one login: each remembers the token generation it used,
and only the first to take the lock while its generation is still current asks for a token.
"""

from __future__ import annotations

import threading
from collections.abc import Generator, Mapping
from dataclasses import dataclass, field
from typing import Any, Protocol

import httpx
import jwt

from cosell.clock import Clock, SystemClock
from cosell.errors import AuthError, ServerError, TransportError
from cosell.redaction import redact_text

TOKEN_PATH = "/services/oauth2/token"  # noqa: S105 (a URL path, not a secret)
_NO_AUTH = httpx.Auth()  # the token request itself is never bearer-authenticated
JWT_BEARER = "urn:ietf:params:oauth:grant-type:jwt-bearer"


@dataclass(frozen=True)
class Token:
    """An access token and where to use it."""

    access_token: str = field(repr=False)
    instance_url: str
    identity_url: str | None = None

    @property
    def user_id(self) -> str | None:
        """The user's record id, the last segment of the identity URL ``…/id/<org>/<user>``."""
        return self.identity_url.rstrip("/").rsplit("/", 1)[-1] if self.identity_url else None

    @classmethod
    def parse(cls, payload: Mapping[str, Any]) -> Token:
        if not payload.get("access_token") or not payload.get("instance_url"):
            raise AuthError("token response lacks access_token or instance_url")
        identity = payload.get("id")
        return cls(str(payload["access_token"]), str(payload["instance_url"]), identity)


class Grant(Protocol):
    """One OAuth flow: the form to post, and what to keep from the answer."""

    def form(self) -> dict[str, str]: ...

    def accept(self, payload: Mapping[str, Any]) -> None: ...


@dataclass
class JwtBearerGrant:
    """JWT bearer flow: an RS256 assertion signed with the connected app's private key."""

    client_id: str
    username: str
    private_key: str = field(repr=False)
    audience: str = "https://login.salesforce.com"
    clock: Clock = field(default_factory=SystemClock)
    lifetime: float = 180.0

    def assertion(self) -> str:
        claims = {
            "iss": self.client_id,
            "sub": self.username,
            "aud": self.audience,
            "exp": int(self.clock.now().timestamp() + self.lifetime),
        }
        return jwt.encode(claims, self.private_key, algorithm="RS256")

    def form(self) -> dict[str, str]:
        return {"grant_type": JWT_BEARER, "assertion": self.assertion()}

    def accept(self, payload: Mapping[str, Any]) -> None:
        return None


@dataclass
class ClientCredentialsGrant:
    """Client-credentials flow: the app acts as its configured run-as user (My Domain only)."""

    client_id: str
    client_secret: str = field(repr=False)

    def form(self) -> dict[str, str]:
        return {
            "grant_type": "client_credentials",
            "client_id": self.client_id,
            "client_secret": self.client_secret,
        }

    def accept(self, payload: Mapping[str, Any]) -> None:
        return None


@dataclass
class RefreshTokenGrant:
    """Refresh-token flow; keeps the new refresh token when the app rotates them."""

    client_id: str
    refresh_token: str = field(repr=False)
    client_secret: str | None = field(default=None, repr=False)

    def form(self) -> dict[str, str]:
        form = {
            "grant_type": "refresh_token",
            "client_id": self.client_id,
            "refresh_token": self.refresh_token,
        }
        if self.client_secret:
            form["client_secret"] = self.client_secret
        return form

    def accept(self, payload: Mapping[str, Any]) -> None:
        if payload.get("refresh_token"):
            self.refresh_token = str(payload["refresh_token"])


@dataclass
class PasswordGrant:
    """Username-password flow: for sandboxes and the emulator only."""

    client_id: str
    client_secret: str = field(repr=False)
    username: str
    password: str = field(repr=False)

    def form(self) -> dict[str, str]:
        return {
            "grant_type": "password",
            "client_id": self.client_id,
            "client_secret": self.client_secret,
            "username": self.username,
            "password": self.password,
        }

    def accept(self, payload: Mapping[str, Any]) -> None:
        return None


class SalesforceAuth(httpx.Auth):
    """Bearer auth that logs in on first use and once more after a 401, shared by all threads.

    ``http`` posts to ``token_url``; it may be the same client the data calls use (the token
    request is sent without this auth) or a separate one for the login host.
    """

    def __init__(self, grant: Grant, token_url: str, *, http: httpx.Client | None = None) -> None:
        self.grant = grant
        self.token_url = token_url
        self._http = http or httpx.Client(timeout=30.0)
        self._lock = threading.Lock()
        self._token: Token | None = None
        self._generation = 0
        self.logins = 0

    @property
    def token(self) -> Token | None:
        """The token in use (None before the first login)."""
        with self._lock:
            return self._token

    def login(self) -> Token:
        """Get a new token now (e.g. to learn ``instance_url`` before building the client)."""
        with self._lock:
            return self._renew_locked(self._generation)[0]

    def auth_flow(self, request: httpx.Request) -> Generator[httpx.Request, httpx.Response, None]:
        token, generation = self._current()
        request.headers["Authorization"] = f"Bearer {token.access_token}"
        response = yield request
        if response.status_code != 401:
            return
        token, _ = self._renew(generation)
        request.headers["Authorization"] = f"Bearer {token.access_token}"
        yield request

    def _current(self) -> tuple[Token, int]:
        with self._lock:
            if self._token is None:
                return self._renew_locked(self._generation)
            return self._token, self._generation

    def _renew(self, stale: int) -> tuple[Token, int]:
        with self._lock:
            return self._renew_locked(stale)

    def _renew_locked(self, stale: int) -> tuple[Token, int]:
        if self._token is None or self._generation == stale:
            self._token = self._request_token()
            self._generation += 1
        return self._token, self._generation

    def _request_token(self) -> Token:
        self.logins += 1
        try:
            response = self._http.post(self.token_url, data=self.grant.form(), auth=_NO_AUTH)
        except httpx.TransportError as exc:
            raise TransportError(f"login failed: {type(exc).__name__}", url=self.token_url) from exc
        if response.status_code >= 500:
            raise ServerError("login failed", url=self.token_url, status=response.status_code)
        if response.status_code != 200:
            raise AuthError(_oauth_error(response), url=self.token_url, status=response.status_code)
        payload = response.json()
        self.grant.accept(payload)
        return Token.parse(payload)


def _oauth_error(response: httpx.Response) -> str:
    try:
        body = response.json()
    except ValueError:
        return f"login refused (HTTP {response.status_code})"
    if not isinstance(body, dict):
        return f"login refused (HTTP {response.status_code})"
    error = body.get("error", "login refused")
    return redact_text(f"{error}: {body.get('error_description', '')}".rstrip(": "))
