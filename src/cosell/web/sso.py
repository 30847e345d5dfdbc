"""Console sign-in with Microsoft Entra ID (OpenID Connect, authorization code with PKCE).

``GET /sign-in/sso`` sends the browser to the issuer's authorize endpoint (from its discovery
document) with a fresh state, nonce and PKCE verifier kept in a signed, ten-minute cookie.
``GET /sign-in/sso/callback`` checks the state, redeems the code at the token endpoint, and
verifies the ID token's signature (the issuer's JWKS), issuer, audience, expiry and nonce
(joserfc, Authlib's JOSE library). The token's user name (``preferred_username`` unless
configured) must belong to a cosell user (``cosell users add NAME --sso``): single sign-on says
who someone is; cosell still decides what they may do.
"""

from __future__ import annotations

import secrets
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any
from urllib.parse import urlencode

import httpx
import structlog
from authlib.oauth2.rfc7636 import create_s256_code_challenge
from itsdangerous import BadSignature, URLSafeTimedSerializer
from joserfc import jwt
from joserfc.errors import JoseError
from joserfc.jwk import KeySet
from joserfc.jwt import JWTClaimsRegistry
from starlette.concurrency import run_in_threadpool
from starlette.requests import Request
from starlette.responses import PlainTextResponse, RedirectResponse, Response
from starlette.routing import Route

from cosell.web.auth import Authenticator, client_address, is_https, safe_next

log = structlog.get_logger(__name__)
FLOW_COOKIE = "cosell_sso"
FLOW_SECONDS = 600
CALLBACK = "/sign-in/sso/callback"


@dataclass(frozen=True)
class SsoConfig:
    """The issuer and this app's registration with it."""

    issuer: str
    client_id: str
    client_secret: str | None = None
    redirect_url: str | None = None
    username_claim: str = "preferred_username"


class SsoError(Exception):
    """The sign-in could not be completed; the message says why, for the person signing in."""


class EntraSignIn:
    """The two routes of the OpenID Connect sign-in."""

    def __init__(
        self,
        config: SsoConfig,
        auth: Authenticator,
        session_key: str,
        http: Callable[[], httpx.Client] = lambda: httpx.Client(timeout=10.0),
    ) -> None:
        self.config = config
        self.auth = auth
        self._http = http
        self._flows = URLSafeTimedSerializer(session_key, salt="cosell-sso")
        self._discovery: dict[str, Any] | None = None

    def routes(self) -> list[Route]:
        return [
            Route("/sign-in/sso", self.start, methods=["GET"]),
            Route(CALLBACK, self.callback, methods=["GET"]),
        ]

    async def start(self, request: Request) -> Response:
        try:
            found = await run_in_threadpool(self.discovery)
        except SsoError as exc:
            return PlainTextResponse(str(exc), 502)
        state, nonce = secrets.token_urlsafe(24), secrets.token_urlsafe(24)
        verifier = secrets.token_urlsafe(48)
        params = {
            "client_id": self.config.client_id,
            "response_type": "code",
            "redirect_uri": self._redirect_uri(request),
            "scope": "openid profile email",
            "state": state,
            "nonce": nonce,
            "code_challenge": create_s256_code_challenge(verifier),
            "code_challenge_method": "S256",
        }
        flow = {"state": state, "nonce": nonce, "verifier": verifier}
        flow["next"] = safe_next(request.query_params.get("next"))
        response = RedirectResponse(f"{found['authorization_endpoint']}?{urlencode(params)}", 303)
        response.set_cookie(
            FLOW_COOKIE,
            self._flows.dumps(flow),
            max_age=FLOW_SECONDS,
            httponly=True,
            samesite="lax",  # the issuer's redirect back is a cross-site top-level GET
            secure=is_https(request),
            path=self.auth.cookie_path,
        )
        return response

    async def callback(self, request: Request) -> Response:
        try:
            flow = self._flow(request)
            name = await run_in_threadpool(self._user_name, request, flow)
        except SsoError as exc:
            log.warning("sign_in.sso_failed", client=client_address(request), error=str(exc))
            return PlainTextResponse(f"Single sign-on failed: {exc}", 403)
        directory = self.auth.directory
        assert directory is not None
        user = await run_in_threadpool(directory.table.by_name, name)
        if user is None:
            log.warning("sign_in.sso_unknown_user", user=name, client=client_address(request))
            message = (
                f"{name} has no cosell user; an admin adds one with: cosell users add {name} --sso"
            )
            return PlainTextResponse(message, 403)
        session = await run_in_threadpool(directory.open_session, user)
        log.info("sign_in.ok", user=name, client=client_address(request), via="sso")
        target = self.auth.url(safe_next(str(flow.get("next") or "/")))
        response = RedirectResponse(target, status_code=303)
        self.auth.start_session(request, response, session)
        response.delete_cookie(FLOW_COOKIE, path=self.auth.cookie_path)
        return response

    # --- steps -----------------------------------------------------------------------------------

    def discovery(self) -> dict[str, Any]:
        if self._discovery is None:
            url = self.config.issuer.rstrip("/") + "/.well-known/openid-configuration"
            found = self._get_json(url)
            if found.get("issuer") != self.config.issuer:
                raise SsoError(f"the discovery document names issuer {found.get('issuer')!r}")
            self._discovery = found
        return self._discovery

    def _flow(self, request: Request) -> dict[str, Any]:
        try:
            flow: dict[str, Any] = self._flows.loads(
                request.cookies.get(FLOW_COOKIE, ""), max_age=FLOW_SECONDS
            )
        except BadSignature:
            raise SsoError("the sign-in took too long or did not start here; try again") from None
        given = request.query_params.get("state", "")
        if not secrets.compare_digest(given, str(flow.get("state"))):
            raise SsoError("the answer does not belong to this sign-in (state)")
        if "error" in request.query_params:
            raise SsoError(request.query_params.get("error_description") or "refused by the issuer")
        return flow

    def _user_name(self, request: Request, flow: dict[str, Any]) -> str:
        found = self.discovery()
        form = {
            "grant_type": "authorization_code",
            "code": request.query_params.get("code", ""),
            "redirect_uri": self._redirect_uri(request),
            "client_id": self.config.client_id,
            "code_verifier": str(flow["verifier"]),
        }
        if self.config.client_secret:
            form["client_secret"] = self.config.client_secret
        with self._http() as http:
            answer = http.post(found["token_endpoint"], data=form)
        if answer.status_code != 200:
            raise SsoError(f"the token endpoint answered {answer.status_code}")
        id_token = str(answer.json().get("id_token") or "")
        claims = self._verified(id_token, found["jwks_uri"], str(flow["nonce"]))
        name = claims.get(self.config.username_claim) or claims.get("email")
        if not isinstance(name, str) or not name:
            raise SsoError(f"the ID token has no {self.config.username_claim}")
        return name

    def _verified(self, id_token: str, jwks_uri: str, nonce: str) -> dict[str, Any]:
        keys = KeySet.import_key_set(self._get_json(jwks_uri))  # type: ignore[arg-type]
        try:
            token = jwt.decode(id_token, keys, algorithms=["RS256"])
            JWTClaimsRegistry(
                iss={"essential": True, "value": self.config.issuer},
                aud={"essential": True, "value": self.config.client_id},
                exp={"essential": True},
                nonce={"essential": True, "value": nonce},
            ).validate(token.claims)
        except (JoseError, ValueError) as exc:
            raise SsoError(f"the ID token is not valid ({type(exc).__name__}: {exc})") from None
        return dict(token.claims)

    def _get_json(self, url: str) -> dict[str, Any]:
        try:
            with self._http() as http:
                answer = http.get(url)
            answer.raise_for_status()
            found: dict[str, Any] = answer.json()
        except (httpx.HTTPError, ValueError) as exc:
            raise SsoError(f"could not read {url}: {type(exc).__name__}") from None
        return found

    def _redirect_uri(self, request: Request) -> str:
        base = str(request.base_url).rstrip("/")
        return self.config.redirect_url or base + self.auth.url(CALLBACK)
