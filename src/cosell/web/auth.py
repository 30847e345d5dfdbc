"""Who is asking: sessions (signed cookie), API tokens, roles, CSRF and sign-in throttling.

A browser signs in with a local user's password (or single sign-on) and gets a random session
token in an HttpOnly, SameSite=Strict cookie signed with the deployment's session key; the store
keeps only its digest, with the user's CSRF token and an expiry. Signing in always issues a new
session (an older cookie is revoked). Every POST needs the session's CSRF token (form field
``csrf`` or header ``X-CSRF-Token``) and must not come from another site. Scripts send
``Authorization: Bearer <API token>`` instead (no cookie, so no CSRF token).

With ``open_access`` (the sandbox on loopback only) everyone is an admin named ``sandbox``;
forms still carry a CSRF token.

A deployment of several tenants serves each tenant's console under its own ``root``
(``/t/<tenant>``): paths inside a console are written relative to it, the cookies are scoped to
it, and its directory knows that tenant's users only.
"""

from __future__ import annotations

import secrets
import threading
from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from datetime import datetime, timedelta
from urllib.parse import quote, urlsplit

import structlog
from itsdangerous import BadSignature, Signer
from starlette.concurrency import run_in_threadpool
from starlette.requests import Request
from starlette.responses import JSONResponse, PlainTextResponse, RedirectResponse, Response

from cosell.clock import Clock
from cosell.operations.users import NewSession, Role, UserDirectory, role_allows

log = structlog.get_logger(__name__)

SESSION_COOKIE = "cosell_session"
LOGIN_COOKIE = "cosell_login"
CSRF_FIELD = "csrf"
CSRF_HEADER = "x-csrf-token"
Endpoint = Callable[[Request], Awaitable[Response]]


@dataclass(frozen=True)
class Viewer:
    """The person (or script) behind a request."""

    name: str
    role: str
    csrf: str
    via: str  # "session", "token" or "open"

    def may(self, needed: Role) -> bool:
        return role_allows(self.role, needed)


class SignInThrottle:
    """Failed sign-ins per user name (``user:…`` keys) and per client address (``client:…``):
    after ``free`` failures (``client_free`` for an address, which a proxy or an office may
    share) each further try waits twice as long as the last (capped), until a success or a
    quiet ``window``. Held in memory: a restart forgets it, which only gives back free tries."""

    def __init__(
        self,
        clock: Clock,
        free: int = 5,
        cap: timedelta = timedelta(minutes=15),
        window: timedelta = timedelta(minutes=15),
        client_free: int = 20,
    ) -> None:
        self._clock, self._free, self._cap, self._window = clock, free, cap, window
        self._client_free = client_free
        self._lock = threading.Lock()
        self._failures: dict[str, tuple[int, datetime]] = {}

    def wait_for(self, *keys: str) -> float:
        """Seconds until these keys may try again (0: now)."""
        now = self._clock.now()
        with self._lock:
            return max((self._wait(key, now) for key in keys), default=0.0)

    def failed(self, *keys: str) -> int:
        """Count a failure; the largest count among the keys."""
        now = self._clock.now()
        counts = []
        with self._lock:
            for key in keys:
                count, last = self._failures.get(key, (0, now))
                count = 0 if now - last > self._window else count
                self._failures[key] = (count + 1, now)
                counts.append(count + 1)
        return max(counts)

    def succeeded(self, *keys: str) -> None:
        with self._lock:
            for key in keys:
                self._failures.pop(key, None)

    def _wait(self, key: str, now: datetime) -> float:
        count, last = self._failures.get(key, (0, now))
        free = self._client_free if key.startswith("client:") else self._free
        if count < free or now - last > self._window:
            return 0.0
        delay = min(timedelta(seconds=2 ** (count - free)), self._cap)
        return max((last + delay - now).total_seconds(), 0.0)


class Authenticator:
    """Resolves the viewer of a request and guards endpoints by role."""

    def __init__(
        self,
        directory: UserDirectory | None,
        session_key: str,
        *,
        open_access: bool = False,
        root: str = "",
    ) -> None:
        if directory is None and not open_access:
            raise ValueError("sign-in needs a user directory unless access is open")
        self.directory = directory
        self.open_access = open_access
        self.root = root.rstrip("/")
        self._signer = Signer(session_key, salt="cosell-session")
        self._open_csrf = secrets.token_urlsafe(32)
        clock = directory.clock if directory is not None else None
        self.throttle = SignInThrottle(clock) if clock is not None else None

    # --- who is asking ----------------------------------------------------------------------------

    def viewer(self, request: Request) -> Viewer | None:
        if self.open_access:
            return Viewer("sandbox", "admin", self._open_csrf, "open")
        assert self.directory is not None
        scheme, _, token = request.headers.get("authorization", "").partition(" ")
        if scheme.lower() == "bearer" and token:
            user = self.directory.by_token(token.strip())
            return None if user is None else Viewer(user.name, user.role, "", "token")
        raw = self._unsign(request.cookies.get(SESSION_COOKIE))
        found = self.directory.session(raw) if raw else None
        if found is None:
            return None
        return Viewer(found.user.name, found.user.role, found.csrf, "session")

    def guard(self, needed: Role, endpoint: Endpoint, *, api: bool = False) -> Endpoint:
        """``endpoint`` for viewers of at least ``needed``; POSTs need a same-site CSRF token."""

        async def guarded(request: Request) -> Response:
            viewer = await run_in_threadpool(self.viewer, request)
            if viewer is None:
                return self._unauthenticated(request, api)
            if request.method == "POST":
                refused = await self._refuse_post(request, viewer)
                if refused is not None:
                    return refused
            if not viewer.may(needed):
                return _refused(api, 403, f"your role ({viewer.role}) cannot do this")
            request.state.viewer = viewer
            return await endpoint(request)

        return guarded

    async def _refuse_post(self, request: Request, viewer: Viewer) -> Response | None:
        api = self.local(request).startswith("/api/")
        if viewer.via == "token":
            return None
        if cross_site(request):
            return _refused(api, 403, "cross-site form posts are refused")
        given = request.headers.get(CSRF_HEADER)
        if given is None:
            form = await request.form()
            given = str(form.get(CSRF_FIELD) or "")
        if not given or not secrets.compare_digest(given, viewer.csrf):
            return _refused(api, 403, "the form's CSRF token is missing or stale; reload the page")
        return None

    def local(self, request: Request) -> str:
        """The request's path inside this console (``/records``, not ``/t/alpha/records``)."""
        return inside(request.url.path, self.root)

    def url(self, local: str) -> str:
        """The path a browser follows to ``local`` inside this console."""
        return self.root + local

    def _unauthenticated(self, request: Request, api: bool) -> Response:
        local = self.local(request)
        if api or local.startswith("/api/"):
            headers = {"WWW-Authenticate": 'Bearer realm="cosell"'}
            return JSONResponse({"error": "sign in or send an API token"}, 401, headers=headers)
        target = local + (f"?{request.url.query}" if request.url.query else "")
        sign_in = self.url(f"/sign-in?next={quote(target, safe='')}")
        return RedirectResponse(sign_in, status_code=303)

    @property
    def cookie_path(self) -> str:
        return self.root + "/"

    # --- signing in and out -----------------------------------------------------------------------

    def login_token(self, nonce: str) -> str:
        """The sign-in form's CSRF token, bound to the ``cosell_login`` cookie's nonce."""
        return self._signer.sign(f"login:{nonce}").decode()

    def login_token_valid(self, request: Request, given: str) -> bool:
        nonce = request.cookies.get(LOGIN_COOKIE, "")
        return bool(nonce) and self._unsign(given) == f"login:{nonce}"

    def start_session(self, request: Request, response: Response, session: NewSession) -> None:
        """Set the new session's cookie, revoking the one the browser had (rotation)."""
        old = self._unsign(request.cookies.get(SESSION_COOKIE))
        if old and self.directory is not None:
            self.directory.close_session(old)
        assert self.directory is not None
        response.set_cookie(
            SESSION_COOKIE,
            self._signer.sign(session.token).decode(),
            max_age=int(self.directory.session_lifetime.total_seconds()),
            httponly=True,
            secure=is_https(request),
            samesite="strict",
            path=self.cookie_path,
        )
        response.delete_cookie(LOGIN_COOKIE, path=self.cookie_path)

    def end_session(self, request: Request, response: Response) -> None:
        old = self._unsign(request.cookies.get(SESSION_COOKIE))
        if old and self.directory is not None:
            self.directory.close_session(old)
        response.delete_cookie(SESSION_COOKIE, path=self.cookie_path)

    def _unsign(self, value: str | None) -> str | None:
        if not value:
            return None
        try:
            return self._signer.unsign(value).decode()
        except BadSignature:
            return None


def inside(path: str, root: str) -> str:
    """``path`` as seen from a console served under ``root`` (unchanged outside it)."""
    if root and (path == root or path.startswith(root + "/")):
        return path[len(root) :] or "/"
    return path


def cross_site(request: Request) -> bool:
    """Browsers say where a post came from in ``Sec-Fetch-Site``; older ones send ``Origin``,
    compared with the host the browser addressed (a proxy may forward it)."""
    fetch_site = request.headers.get("sec-fetch-site")
    if fetch_site is not None:
        return fetch_site not in ("same-origin", "none")
    origin = request.headers.get("origin")
    if not origin:
        return False
    hosts = {request.headers.get("host", ""), request.headers.get("x-forwarded-host", "")}
    return urlsplit(origin).netloc not in hosts - {""}


def is_https(request: Request) -> bool:
    return request.url.scheme == "https"


def client_address(request: Request) -> str:
    return request.client.host if request.client else "unknown"


def safe_next(target: str | None) -> str:
    """A local path to go to after signing in (anything else goes home)."""
    if not target or not target.startswith("/") or target.startswith("//") or "\\" in target:
        return "/"
    return target


def _refused(api: bool, status: int, message: str) -> Response:
    if api:
        return JSONResponse({"error": message}, status)
    return PlainTextResponse(message, status)
