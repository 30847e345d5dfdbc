"""HubSpot authentication as ``httpx.Auth`` objects: a private app's static token, and OAuth
access tokens refreshed from ``expires_in`` (HubSpot's advice: a 401 is not the refresh
trigger) with one more refresh and resend if a call still answers 401.

Refresh tokens live in a ``TokenStore``; HubSpot keeps the same one across refreshes, but a
new one in an answer is saved before it is used.
"""

from __future__ import annotations

import threading
from collections.abc import Generator
from dataclasses import dataclass, field
from datetime import datetime, timedelta

import httpx

from cosell.clients.token_store import TokenStore
from cosell.clock import Clock, SystemClock
from cosell.errors import AuthError, ServerError, TransportError
from cosell.redaction import redact_text

TOKEN_PATH = "/oauth/v1/token"  # noqa: S105 (a URL path, not a secret)
_NO_AUTH = httpx.Auth()
REFRESH_MARGIN = timedelta(seconds=60)


class PrivateAppAuth(httpx.Auth):
    """A private app's access token: a static bearer."""

    def __init__(self, token: str) -> None:
        self._token = token

    def auth_flow(self, request: httpx.Request) -> Generator[httpx.Request, httpx.Response, None]:
        request.headers["Authorization"] = f"Bearer {self._token}"
        yield request


@dataclass
class _Access:
    token: str = field(repr=False)
    expires_at: datetime


class HubSpotOAuth(httpx.Auth):
    """OAuth bearer auth for a public app, refreshed before expiry and shared by all threads."""

    def __init__(
        self,
        client_id: str,
        client_secret: str,
        refresh_tokens: TokenStore,
        *,
        token_url: str,
        http: httpx.Client | None = None,
        clock: Clock | None = None,
    ) -> None:
        self.client_id = client_id
        self._secret = client_secret
        self.refresh_tokens = refresh_tokens
        self.token_url = token_url
        self._http = http or httpx.Client(timeout=30.0)
        self._clock = clock or SystemClock()
        self._lock = threading.Lock()
        self._access: _Access | None = None
        self._generation = 0
        self.refreshes = 0

    def auth_flow(self, request: httpx.Request) -> Generator[httpx.Request, httpx.Response, None]:
        token, generation = self._current()
        request.headers["Authorization"] = f"Bearer {token}"
        response = yield request
        if response.status_code != 401:
            return
        token, _ = self._renew(generation)
        request.headers["Authorization"] = f"Bearer {token}"
        yield request

    def _current(self) -> tuple[str, int]:
        with self._lock:
            access = self._access
            if access is None or access.expires_at - REFRESH_MARGIN <= self._clock.now():
                return self._renew_locked(self._generation)
            return access.token, self._generation

    def _renew(self, stale: int) -> tuple[str, int]:
        with self._lock:
            return self._renew_locked(stale)

    def _renew_locked(self, stale: int) -> tuple[str, int]:
        if self._access is None or self._generation == stale:
            self._access = self._refresh()
            self._generation += 1
        return self._access.token, self._generation

    def _refresh(self) -> _Access:
        refresh = self.refresh_tokens.load()
        if not refresh:
            raise AuthError("no HubSpot refresh token: install the app and store its token")
        form = {
            "grant_type": "refresh_token",
            "client_id": self.client_id,
            "client_secret": self._secret,
            "refresh_token": refresh,
        }
        self.refreshes += 1
        try:
            response = self._http.post(self.token_url, data=form, auth=_NO_AUTH)
        except httpx.TransportError as exc:
            raise TransportError(f"token refresh failed: {type(exc).__name__}") from exc
        if response.status_code >= 500:
            raise ServerError(
                "token refresh failed", url=self.token_url, status=response.status_code
            )
        if response.status_code != 200:
            raise AuthError(_refusal(response), url=self.token_url, status=response.status_code)
        payload = response.json()
        if payload.get("refresh_token") and payload["refresh_token"] != refresh:
            self.refresh_tokens.save(str(payload["refresh_token"]))
        expires = self._clock.now() + timedelta(seconds=float(payload.get("expires_in", 1800)))
        return _Access(str(payload["access_token"]), expires)


def _refusal(response: httpx.Response) -> str:
    try:
        body = response.json()
    except ValueError:
        return f"token refresh refused (HTTP {response.status_code})"
    if not isinstance(body, dict):
        return f"token refresh refused (HTTP {response.status_code})"
    error = body.get("status") or body.get("error") or "refused"
    return redact_text(f"token refresh refused: {error}: {body.get('message', '')}".rstrip(": "))
