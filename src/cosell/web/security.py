"""Response headers that keep the console out of frames and scripts to its own files, and the
Host allowlist (a request naming any other host is refused, which defeats DNS rebinding)."""

from __future__ import annotations

from collections.abc import Iterable
from urllib.parse import urlsplit

from starlette.datastructures import MutableHeaders
from starlette.types import ASGIApp, Message, Receive, Scope, Send

CONTENT_SECURITY_POLICY = (
    "default-src 'none'; script-src 'self'; style-src 'self'; img-src 'self' data:; "
    "connect-src 'self'; form-action 'self'; frame-ancestors 'none'; base-uri 'none'"
)
SECURITY_HEADERS = {
    "content-security-policy": CONTENT_SECURITY_POLICY,
    "x-content-type-options": "nosniff",
    "x-frame-options": "DENY",
    "referrer-policy": "same-origin",
    "cross-origin-opener-policy": "same-origin",
}
LOOPBACK_HOSTS = ("127.0.0.1", "localhost", "[::1]", "::1")


class SecurityHeaders:
    """Adds ``SECURITY_HEADERS`` to every HTTP response that does not set them itself."""

    def __init__(self, app: ASGIApp) -> None:
        self.app = app

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return

        async def send_with_headers(message: Message) -> None:
            if message["type"] == "http.response.start":
                headers = MutableHeaders(scope=message)
                for name, value in SECURITY_HEADERS.items():
                    headers.setdefault(name, value)
            await send(message)

        await self.app(scope, receive, send_with_headers)


def allowed_hosts(listen_host: str, extra: Iterable[str], urls: Iterable[str | None]) -> list[str]:
    """Loopback names, the listening address (unless a wildcard), the hosts of the public
    URLs and the configured extras."""
    hosts = [*LOOPBACK_HOSTS, *extra]
    if listen_host not in ("0.0.0.0", "::", ""):  # noqa: S104 (compared, not bound)
        hosts.append(listen_host)
    hosts += [urlsplit(url).hostname or "" for url in urls if url]
    return sorted({h for h in hosts if h})
