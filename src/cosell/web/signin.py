"""``/sign-in`` and ``/sign-out``: local users' passwords, throttled, every failure logged.

The form carries a CSRF token bound to a nonce cookie (there is no session yet); a success opens
a new session and revokes the old one. Failures say the same thing whether the user exists or
not; after a few, each further try for that user name or client address waits longer (429).
"""

from __future__ import annotations

import math
import secrets

import structlog
from starlette.concurrency import run_in_threadpool
from starlette.requests import Request
from starlette.responses import RedirectResponse, Response
from starlette.routing import Route

from cosell.web.auth import (
    LOGIN_COOKIE,
    Authenticator,
    client_address,
    cross_site,
    is_https,
    safe_next,
)
from cosell.web.pages import Pages

log = structlog.get_logger(__name__)
WRONG = "User name or password is wrong."


class SignIn:
    """The sign-in form and its handling."""

    def __init__(self, auth: Authenticator, pages: Pages, *, sso: bool = False) -> None:
        self.auth = auth
        self.pages = pages
        self.sso = sso

    def routes(self) -> list[Route]:
        return [
            Route("/sign-in", self.form, methods=["GET"]),
            Route("/sign-in", self.submit, methods=["POST"]),
            Route("/sign-out", self.sign_out, methods=["POST"]),
        ]

    async def form(self, request: Request) -> Response:
        if self.auth.open_access:
            return RedirectResponse(self.auth.url("/"), status_code=303)
        return self._form(request, next_=safe_next(request.query_params.get("next")))

    async def submit(self, request: Request) -> Response:
        if self.auth.open_access or self.auth.directory is None:
            return RedirectResponse(self.auth.url("/"), status_code=303)
        form = await request.form()
        name, password = str(form.get("username") or ""), str(form.get("password") or "")
        next_ = safe_next(str(form.get("next") or ""))
        if cross_site(request) or not self.auth.login_token_valid(request, str(form.get("csrf"))):
            return self._form(request, next_, name, "The form expired; try again.", 403)
        keys = (f"user:{name.casefold()}", f"client:{client_address(request)}")
        assert self.auth.throttle is not None
        wait = self.auth.throttle.wait_for(*keys)
        if wait > 0:
            log.warning("sign_in.throttled", user=name, client=client_address(request))
            message = f"Too many failed sign-ins; try again in {math.ceil(wait)} s."
            response = self._form(request, next_, name, message, 429)
            response.headers["Retry-After"] = str(math.ceil(wait))
            return response
        user = await run_in_threadpool(self.auth.directory.authenticate, name, password)
        if user is None:
            failures = self.auth.throttle.failed(*keys)
            log.warning(
                "sign_in.failed", user=name, client=client_address(request), failures=failures
            )
            return self._form(request, next_, name, WRONG, 401)
        self.auth.throttle.succeeded(*keys)
        session = await run_in_threadpool(self.auth.directory.open_session, user)
        log.info("sign_in.ok", user=name, client=client_address(request))
        response = RedirectResponse(self.auth.url(next_), status_code=303)
        self.auth.start_session(request, response, session)
        return response

    async def sign_out(self, request: Request) -> Response:
        viewer = await run_in_threadpool(self.auth.viewer, request)
        form = await request.form()
        given = str(form.get("csrf") or "")
        if viewer is not None and secrets.compare_digest(given, viewer.csrf):
            response = RedirectResponse(self.auth.url("/sign-in"), status_code=303)
            await run_in_threadpool(self.auth.end_session, request, response)
            return response
        return RedirectResponse(self.auth.url("/"), status_code=303)

    def _form(
        self, request: Request, next_: str, username: str = "", error: str = "", status: int = 200
    ) -> Response:
        nonce = request.cookies.get(LOGIN_COOKIE) or secrets.token_urlsafe(16)
        response = self.pages.render(
            request,
            "sign_in.html",
            status,
            title="Sign in",
            login_csrf=self.auth.login_token(nonce),
            next=next_,
            username=username,
            error=error,
            sso=self.sso,
        )
        response.set_cookie(
            LOGIN_COOKIE,
            nonce,
            httponly=True,
            samesite="strict",
            secure=is_https(request),
            path=self.auth.cookie_path,
        )
        return response
