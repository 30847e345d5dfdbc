"""Entra ID (Azure AD) tokens for Partner Center, as ``httpx.Auth`` objects.

``BearerAuth`` holds an access token for one *grant* and renews it when it is missing, about to
expire, or refused with 401 (then resends once). Grants say how a token is obtained:

- ``RefreshTokenGrant`` — App+User, the referrals API's only mode; saves each rotated refresh
  token to a :class:`~cosell.clients.token_store.TokenStore` before using the new access token.
- ``PasswordGrant`` — legacy ROPC with the v1 ``resource=`` form shown in Microsoft's docs.
- ``ClientCredentialsGrant`` — app-only, enough for the webhook registration API.

``DeviceCodeLogin`` performs the first interactive sign-in and stores the refresh token.
Token endpoints are built from an authority URL, so an emulator can stand in for Entra ID.
Secrets are ``SecretStr`` and never appear in reprs or error messages.
"""

from __future__ import annotations

import threading
from collections.abc import Callable, Generator
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from typing import Any, Literal, Protocol

import httpx
from pydantic import SecretStr

from cosell.clients.retry import parse_retry_after
from cosell.clients.token_store import TokenStore
from cosell.clock import Clock, SystemClock
from cosell.errors import AuthError, RetryableError, TransportError, error_for_status

DEFAULT_AUTHORITY = "https://login.microsoftonline.com"
REFERRALS_RESOURCE = "https://api.partner.microsoft.com"
WEBHOOKS_RESOURCE = "https://api.partnercenter.microsoft.com"
DEVICE_CODE_GRANT = "urn:ietf:params:oauth:grant-type:device_code"

Version = Literal["v1", "v2"]


@dataclass(frozen=True)
class Authority:
    """An Entra ID authority and tenant: where token requests go."""

    tenant: str = "common"
    url: str = DEFAULT_AUTHORITY

    def token_url(self, version: Version = "v2") -> str:
        path = "oauth2/token" if version == "v1" else "oauth2/v2.0/token"
        return f"{self.url.rstrip('/')}/{self.tenant}/{path}"

    @property
    def device_code_url(self) -> str:
        return f"{self.url.rstrip('/')}/{self.tenant}/oauth2/v2.0/devicecode"


@dataclass(frozen=True)
class Audience:
    """What a token is for: a v1 ``resource`` or a v2 ``scope`` (``{resource}/.default``)."""

    resource: str = REFERRALS_RESOURCE
    version: Version = "v2"
    scope: str | None = None

    def form(self, offline: bool = False) -> dict[str, str]:
        if self.version == "v1":
            return {"resource": self.resource}
        scope = self.scope or f"{self.resource.rstrip('/')}/.default"
        return {"scope": f"{scope} offline_access" if offline else scope}


@dataclass(frozen=True)
class AppCredentials:
    """The app registration: client id and, for confidential clients, its secret."""

    client_id: str
    client_secret: SecretStr | None = None

    def form(self) -> dict[str, str]:
        form = {"client_id": self.client_id}
        if self.client_secret is not None:
            form["client_secret"] = self.client_secret.get_secret_value()
        return form


@dataclass(frozen=True)
class TokenSet:
    """An access token, when it expires, and the refresh token that came with it (if any)."""

    access_token: SecretStr
    expires_at: datetime
    refresh_token: SecretStr | None = None

    def fresh(self, now: datetime, skew: timedelta) -> bool:
        return now + skew < self.expires_at


class Grant(Protocol):
    """How to ask for a token, and what to keep from the answer."""

    def request(self) -> httpx.Request: ...

    def accept(self, tokens: TokenSet) -> None: ...


@dataclass(frozen=True)
class RefreshTokenGrant:
    """App+User tokens from a stored refresh token; rotated refresh tokens are saved."""

    app: AppCredentials
    store: TokenStore
    authority: Authority = field(default_factory=Authority)
    audience: Audience = field(default_factory=Audience)

    def request(self) -> httpx.Request:
        refresh = self.store.load()
        if not refresh:
            raise AuthError("no refresh token is stored; sign in with the device code first")
        form = {"grant_type": "refresh_token", "refresh_token": refresh}
        form |= self.app.form() | self.audience.form(offline=True)
        return _token_request(self.authority.token_url(self.audience.version), form)

    def accept(self, tokens: TokenSet) -> None:
        if tokens.refresh_token is not None:
            self.store.save(tokens.refresh_token.get_secret_value())


@dataclass(frozen=True)
class PasswordGrant:
    """Legacy ROPC (``grant_type=password``, v1 ``resource=``); fails for MFA-enforced users."""

    app: AppCredentials
    username: str
    password: SecretStr
    authority: Authority = field(default_factory=Authority)
    audience: Audience = field(default_factory=lambda: Audience(version="v1"))

    def request(self) -> httpx.Request:
        form = {"grant_type": "password", "username": self.username, "scope": "openid"}
        form |= {"password": self.password.get_secret_value()}
        form |= self.app.form() | self.audience.form()
        return _token_request(self.authority.token_url(self.audience.version), form)

    def accept(self, tokens: TokenSet) -> None:
        """ROPC tokens are re-obtained from the password; nothing to keep."""


@dataclass(frozen=True)
class ClientCredentialsGrant:
    """App-only tokens (the webhook API accepts them; the referrals API does not)."""

    app: AppCredentials
    authority: Authority = field(default_factory=Authority)
    audience: Audience = field(default_factory=lambda: Audience(resource=WEBHOOKS_RESOURCE))

    def request(self) -> httpx.Request:
        form = {"grant_type": "client_credentials"} | self.app.form() | self.audience.form()
        return _token_request(self.authority.token_url(self.audience.version), form)

    def accept(self, tokens: TokenSet) -> None:
        """Nothing to keep: a new token is requested with the same credentials."""


class BearerAuth(httpx.Auth):
    """Adds ``Authorization: Bearer …``; renews the token when stale or on a 401, then resends
    once. Threads share one renewal: whoever holds the lock refreshes, the others reuse it."""

    requires_response_body = True

    def __init__(self, grant: Grant, *, clock: Clock | None = None, skew: float = 120.0) -> None:
        self._grant = grant
        self._clock = clock or SystemClock()
        self._skew = timedelta(seconds=skew)
        self._tokens: TokenSet | None = None
        self._lock = threading.Lock()

    def auth_flow(self, request: httpx.Request) -> Generator[httpx.Request, httpx.Response, None]:
        tokens = yield from self._current(stale=None)
        _authorize(request, tokens)
        response = yield request
        if response.status_code != 401:
            return
        tokens = yield from self._current(stale=tokens)
        _authorize(request, tokens)
        response = yield request
        if response.status_code == 401:
            raise AuthError(
                "the API refused a freshly issued token",
                method=request.method,
                url=str(request.url),
                status=401,
            )

    def _current(
        self, stale: TokenSet | None
    ) -> Generator[httpx.Request, httpx.Response, TokenSet]:
        held = self._usable(stale)
        if held is not None:  # the common case: no lock on the hot path
            return held
        with self._lock:
            held = self._usable(stale)
            if held is not None:  # another thread renewed it while we waited
                return held
            response = yield self._grant.request()
            tokens = parse_token_response(response, self._now())
            self._grant.accept(tokens)
            self._tokens = tokens
            return tokens

    def _usable(self, stale: TokenSet | None) -> TokenSet | None:
        held = self._tokens
        if held is None or held is stale or not held.fresh(self._clock.now(), self._skew):
            return None
        return held

    def _now(self) -> datetime:
        return self._clock.now()

    def __repr__(self) -> str:
        return f"BearerAuth({type(self._grant).__name__})"


@dataclass
class DeviceCodeLogin:
    """The first interactive consent: show a code, poll until the user signs in, keep the
    refresh token. ``show`` receives Entra's message ("To sign in, use a web browser …")."""

    http: httpx.Client
    app: AppCredentials
    store: TokenStore
    show: Callable[[str], None]
    authority: Authority = field(default_factory=Authority)
    audience: Audience = field(default_factory=Audience)
    clock: Clock = field(default_factory=SystemClock)

    def run(self) -> TokenSet:
        form = {"client_id": self.app.client_id} | self.audience.form(offline=True)
        code = _json(self._post(self.authority.device_code_url, form), "device code request")
        self.show(str(code.get("message") or _sign_in_text(code)))
        tokens = self._poll(code)
        if tokens.refresh_token is not None:
            self.store.save(tokens.refresh_token.get_secret_value())
        return tokens

    def _poll(self, code: dict[str, Any]) -> TokenSet:
        interval = float(code.get("interval") or 5)
        deadline = self.clock.monotonic() + float(code.get("expires_in") or 900)
        form = {"grant_type": DEVICE_CODE_GRANT, "device_code": str(code.get("device_code"))}
        form |= self.app.form()
        while self.clock.monotonic() < deadline:
            self.clock.sleep(interval)
            response = self._post(self.authority.token_url("v2"), form)
            error = _error_code(response)
            if error == "authorization_pending":
                continue
            if error == "slow_down":
                interval += 5
                continue
            return parse_token_response(response, self.clock.now())
        raise AuthError("the device code expired before sign-in completed", code="expired_token")

    def _post(self, url: str, form: dict[str, str]) -> httpx.Response:
        try:
            return self.http.post(url, data=form, headers={"Accept": "application/json"})
        except httpx.RequestError as exc:
            raise TransportError(f"{type(exc).__name__} calling Entra ID", url=url) from exc


def parse_token_response(response: httpx.Response, now: datetime) -> TokenSet:
    """Tokens from a 200 answer; ``AuthError`` naming Entra's error code otherwise (a 429/5xx
    is a ``RetryableError`` instead: the credentials may be fine)."""
    body = _json_or_empty(response)
    access = body.get("access_token")
    if response.status_code == 200 and isinstance(access, str) and access:
        refresh = body.get("refresh_token")
        return TokenSet(
            access_token=SecretStr(access),
            expires_at=now + timedelta(seconds=_seconds(body.get("expires_in"))),
            refresh_token=SecretStr(refresh) if isinstance(refresh, str) and refresh else None,
        )
    raise _token_error(response, body)


def _token_error(response: httpx.Response, body: dict[str, Any]) -> Exception:
    code = str(body.get("error") or f"http_{response.status_code}")
    aadsts = " ".join(f"AADSTS{n}" for n in body.get("error_codes") or [] if isinstance(n, int))
    message = f"token request refused: {code}" + (f" ({aadsts})" if aadsts else "")
    context: dict[str, Any] = {"method": "POST", "status": response.status_code, "code": code}
    context["url"] = str(response.request.url)
    cls = error_for_status(response.status_code)
    if issubclass(cls, RetryableError):
        return cls(message, retry_after=parse_retry_after(response), **context)
    return AuthError(message, **context)


def _token_request(url: str, form: dict[str, str]) -> httpx.Request:
    return httpx.Request("POST", url, data=form, headers={"Accept": "application/json"})


def _authorize(request: httpx.Request, tokens: TokenSet) -> None:
    request.headers["Authorization"] = f"Bearer {tokens.access_token.get_secret_value()}"


def _error_code(response: httpx.Response) -> str | None:
    if response.status_code == 200:
        return None
    error = _json_or_empty(response).get("error")
    return error if isinstance(error, str) else None


def _json(response: httpx.Response, what: str) -> dict[str, Any]:
    body = _json_or_empty(response)
    if response.status_code != 200 or not body:
        raise _token_error(response, body) if body else AuthError(f"{what} failed")
    return body


def _json_or_empty(response: httpx.Response) -> dict[str, Any]:
    try:
        body = response.json()
    except ValueError:
        return {}
    return body if isinstance(body, dict) else {}


def _seconds(value: Any) -> float:
    try:
        return float(value)
    except (TypeError, ValueError):
        return 3600.0


def _sign_in_text(code: dict[str, Any]) -> str:
    return f"Open {code.get('verification_uri')} and enter the code {code.get('user_code')}"
