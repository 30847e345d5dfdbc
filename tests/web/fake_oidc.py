"""A small OpenID Connect provider for the console's single-sign-on tests: discovery, JWKS, an
authorize endpoint that signs in ``user`` at once, and a token endpoint that checks the code,
the client and the PKCE verifier and returns an RS256-signed ID token."""

from __future__ import annotations

import base64
import hashlib
import secrets
import time
from dataclasses import dataclass, field
from typing import Any
from urllib.parse import urlencode

from joserfc import jwt
from joserfc.jwk import RSAKey
from starlette.applications import Starlette
from starlette.requests import Request
from starlette.responses import JSONResponse, RedirectResponse, Response
from starlette.routing import Route

CLIENT_ID = "cosell-console"


@dataclass
class FakeProvider:
    issuer: str = ""
    user: str = "sam@contoso.example"
    key: RSAKey = field(default_factory=lambda: RSAKey.generate_key(2048, {"kid": "k1"}))
    signing_key: RSAKey | None = None  # sign with another key than the one published
    wrong_nonce: bool = False
    codes: dict[str, dict[str, str]] = field(default_factory=dict)

    def app(self) -> Starlette:
        return Starlette(
            routes=[
                Route("/.well-known/openid-configuration", self.discovery),
                Route("/keys", self.keys),
                Route("/authorize", self.authorize),
                Route("/token", self.token, methods=["POST"]),
            ]
        )

    async def discovery(self, request: Request) -> Response:
        return JSONResponse(
            {
                "issuer": self.issuer,
                "authorization_endpoint": f"{self.issuer}/authorize",
                "token_endpoint": f"{self.issuer}/token",
                "jwks_uri": f"{self.issuer}/keys",
            }
        )

    async def keys(self, request: Request) -> Response:
        return JSONResponse({"keys": [self.key.as_dict(private=False)]})

    async def authorize(self, request: Request) -> Response:
        query = request.query_params
        code = secrets.token_urlsafe(16)
        self.codes[code] = {
            "nonce": query["nonce"],
            "challenge": query["code_challenge"],
            "client_id": query["client_id"],
            "redirect_uri": query["redirect_uri"],
        }
        answer = urlencode({"code": code, "state": query["state"]})
        return RedirectResponse(f"{query['redirect_uri']}?{answer}", 302)

    async def token(self, request: Request) -> Response:
        form = await request.form()
        issued = self.codes.pop(str(form.get("code")), None)
        if issued is None or form.get("client_id") != issued["client_id"]:
            return JSONResponse({"error": "invalid_grant"}, 400)
        digest = hashlib.sha256(str(form.get("code_verifier")).encode()).digest()
        if base64.urlsafe_b64encode(digest).rstrip(b"=").decode() != issued["challenge"]:
            return JSONResponse({"error": "invalid_grant", "error_description": "PKCE"}, 400)
        now = int(time.time())
        claims: dict[str, Any] = {
            "iss": self.issuer,
            "aud": issued["client_id"],
            "iat": now,
            "exp": now + 300,
            "nonce": "not-yours" if self.wrong_nonce else issued["nonce"],
            "preferred_username": self.user,
        }
        key = self.signing_key or self.key
        token = jwt.encode({"alg": "RS256", "kid": "k1"}, claims, key)
        return JSONResponse({"id_token": token, "access_token": "x", "token_type": "Bearer"})
