"""Tokens the emulator accepts: the private app's static token, OAuth access and refresh
tokens (``/oauth/v1/token``), and user tokens minted by ``/_emulator`` to act as a HubSpot user
in the UI.

A 401 names ``INVALID_AUTHENTICATION`` for an unknown token and ``EXPIRED_AUTHENTICATION``
(with how long ago) for an expired OAuth token.
"""

from __future__ import annotations

import hmac
import secrets
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any
from urllib.parse import urlencode

from starlette.requests import Request
from starlette.responses import JSONResponse, RedirectResponse, Response
from starlette.routing import Route

from cosell.clock import Clock
from cosell.emulators.hubspot.config import HubSpotEmulatorConfig
from cosell.emulators.hubspot.records import Source
from cosell.emulators.hubspot.wire import HubSpotError

SCOPES = (
    "oauth",
    "crm.objects.deals.read",
    "crm.objects.deals.write",
    "crm.objects.companies.read",
    "crm.objects.companies.write",
    "crm.objects.contacts.read",
    "crm.objects.contacts.write",
    "crm.objects.line_items.read",
    "crm.objects.line_items.write",
    "crm.schemas.deals.read",
    "crm.schemas.deals.write",
)
_MISSING_CREDENTIALS = (
    "Authentication credentials not found. This API supports OAuth 2.0 authentication and you "
    "can find more details at https://developers.hubspot.com/docs/methods/auth/oauth-overview"
)


@dataclass(frozen=True)
class Caller:
    """Who a request is from: its source for history and events, and its rate-limit bucket."""

    source: Source
    bucket: str  # the app whose ten-second burst the call spends; "" for the UI (not limited)
    oauth: bool = False


@dataclass
class AccessToken:
    user_id: int
    expires_at: datetime
    refresh_token: str


class TokenBook:
    """Issued OAuth tokens, pending authorization codes, and UI user tokens."""

    def __init__(self, config: HubSpotEmulatorConfig, clock: Clock) -> None:
        self.config, self.clock = config, clock
        self.access: dict[str, AccessToken] = {}
        self.refresh: dict[str, int] = {}
        self.codes: dict[str, tuple[int, str]] = {}  # code → user id, redirect uri
        self.users: dict[str, int] = {}  # UI token → user id

    def caller(self, authorization: str) -> Caller:
        scheme, _, token = authorization.partition(" ")
        if scheme.lower() != "bearer" or not token:
            raise HubSpotError(401, "INVALID_AUTHENTICATION", _MISSING_CREDENTIALS)
        app = self.config.app_id
        if hmac.compare_digest(token, self.config.private_app_token):
            return Caller(Source("INTEGRATION", str(app), None, app), f"app:{app}")
        if token in self.users:
            user = self.users[token]
            return Caller(Source("CRM_UI", f"userId:{user}", user, None), "")
        grant = self.access.get(token)
        if grant is None:
            raise HubSpotError(401, "INVALID_AUTHENTICATION", _MISSING_CREDENTIALS)
        late = (self.clock.now() - grant.expires_at).total_seconds()
        if late >= 0:
            raise HubSpotError(
                401,
                "EXPIRED_AUTHENTICATION",
                f"The OAuth token used to make this call expired {int(late)} second(s) ago.",
                context={"expire time": [grant.expires_at.isoformat()]},
            )
        return Caller(Source("INTEGRATION", str(app), None, app), f"oauth:{app}", oauth=True)

    def authorize(self, user_id: int, redirect_uri: str) -> str:
        code = secrets.token_urlsafe(16)
        self.codes[code] = (user_id, redirect_uri)
        return code

    def user_token(self, user_id: int) -> str:
        token = f"ui-{secrets.token_urlsafe(24)}"
        self.users[token] = user_id
        return token

    def expire_all(self) -> None:
        now = self.clock.now() - timedelta(seconds=1)
        for grant in self.access.values():
            grant.expires_at = min(grant.expires_at, now)

    def grant(self, form: dict[str, str]) -> dict[str, Any]:
        """The token endpoint: ``authorization_code`` and ``refresh_token`` grants."""
        if form.get("client_id") != self.config.client_id or not hmac.compare_digest(
            form.get("client_secret", ""), self.config.client_secret
        ):
            raise OAuthError(
                "invalid_client", "The client ID or secret is not valid.", "BAD_CLIENT_ID"
            )
        kind = form.get("grant_type")
        if kind == "authorization_code":
            user_id, redirect = self.codes.pop(form.get("code", ""), (0, ""))
            if not user_id or redirect != form.get("redirect_uri"):
                raise OAuthError(
                    "invalid_grant", "The authorization code is not valid.", "BAD_AUTH_CODE"
                )
            refresh = secrets.token_urlsafe(24)
            self.refresh[refresh] = user_id
            return self._issue(user_id, refresh)
        if kind == "refresh_token":
            refresh = form.get("refresh_token", "")
            if refresh not in self.refresh:
                raise OAuthError(
                    "invalid_grant",
                    "refresh token is invalid, expired or revoked",
                    "BAD_REFRESH_TOKEN",
                )
            return self._issue(self.refresh[refresh], refresh)
        raise OAuthError(
            "unsupported_grant_type", f"grant_type {kind!r} is not supported.", "BAD_GRANT_TYPE"
        )

    def _issue(self, user_id: int, refresh: str) -> dict[str, Any]:
        token = f"CK{secrets.token_urlsafe(48)}"
        expires = self.clock.now() + timedelta(seconds=self.config.token_ttl)
        self.access[token] = AccessToken(user_id, expires, refresh)
        return {
            "token_type": "bearer",
            "refresh_token": refresh,
            "access_token": token,
            "expires_in": self.config.token_ttl,
        }

    def describe(self, token: str) -> dict[str, Any]:
        grant = self.access.get(token)
        if grant is None:
            raise HubSpotError(404, "OBJECT_NOT_FOUND", "The access token was not found.")
        left = int((grant.expires_at - self.clock.now()).total_seconds())
        return {
            "token": token,
            "user": f"user{grant.user_id}@portal.example",
            "hub_domain": f"portal-{self.config.portal_id}.example",
            "scopes": list(SCOPES),
            "hub_id": self.config.portal_id,
            "app_id": self.config.app_id,
            "expires_in": max(left, 0),
            "user_id": grant.user_id,
            "token_type": "access",
        }


class OAuthError(Exception):
    def __init__(self, error: str, description: str, status: str) -> None:
        super().__init__(description)
        self.body = {
            "error": error,
            "error_description": description,
            "status": status,
            "message": description,
        }


def _book(request: Request) -> TokenBook:
    book: TokenBook = request.app.state.emulator.tokens
    return book


async def token_endpoint(request: Request) -> Response:
    form = {k: str(v) for k, v in (await request.form()).items()}
    emulator = request.app.state.emulator
    try:
        with emulator.lock:
            body = _book(request).grant(form)
    except OAuthError as exc:
        return JSONResponse(exc.body, status_code=400)
    return JSONResponse(body)


async def authorize(request: Request) -> Response:
    """Stands in for the consent screen: approves at once and redirects with a code."""
    params = request.query_params
    if params.get("client_id") != _book(request).config.client_id or not params.get("redirect_uri"):
        return JSONResponse({"error": "invalid_client"}, status_code=400)
    redirect = params["redirect_uri"]
    code = _book(request).authorize(int(params.get("user_id", "1")), redirect)
    query = {"code": code, **({"state": params["state"]} if "state" in params else {})}
    return RedirectResponse(f"{redirect}?{urlencode(query)}", status_code=302)


async def access_token_info(request: Request) -> Response:
    try:
        return JSONResponse(_book(request).describe(request.path_params["token"]))
    except HubSpotError as exc:
        return exc.response()


async def refresh_token_info(request: Request) -> Response:
    book, token = _book(request), request.path_params["token"]
    if token not in book.refresh:
        return HubSpotError(404, "OBJECT_NOT_FOUND", "The refresh token was not found.").response()
    if request.method == "DELETE":
        del book.refresh[token]
        return Response(status_code=204)
    user_id = book.refresh[token]
    return JSONResponse(
        {
            "token": token,
            "user": f"user{user_id}@portal.example",
            "hub_id": book.config.portal_id,
            "client_id": book.config.client_id,
            "scopes": list(SCOPES),
            "user_id": user_id,
            "token_type": "refresh",
        }
    )


routes = [
    Route("/oauth/v1/token", token_endpoint, methods=["POST"]),
    Route("/oauth/authorize", authorize, methods=["GET"]),
    Route("/oauth/v1/access-tokens/{token}", access_token_info, methods=["GET"]),
    Route("/oauth/v1/refresh-tokens/{token}", refresh_token_info, methods=["GET", "DELETE"]),
]
