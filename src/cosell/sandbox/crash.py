"""A deliberate crash at one exact point, for proving that a restart creates no duplicates.

``cosell sandbox --crash-after referral-create`` (hidden; also ``COSELL_SANDBOX_CRASH_AFTER``)
ends the process the moment Partner Center has answered a referral create, before the connector
could commit anything locally: the worst moment for a crash.
"""

from __future__ import annotations

import os
from collections.abc import Callable

import httpx

from cosell.clients.connect import TIMEOUT, HttpFactory

CRASH_STATUS = 70
CRASH_POINTS: dict[str, tuple[str, str, int]] = {
    "referral-create": ("POST", "/v1.0/engagements/referrals", 201),
}


class CrashingTransport(httpx.BaseTransport):
    """Passes requests on; exits the process when the response matches the crash point."""

    def __init__(
        self,
        point: tuple[str, str, int],
        inner: httpx.BaseTransport | None = None,
        exit_process: Callable[[int], object] = os._exit,
    ) -> None:
        self._method, self._path, self._status = point
        self._inner = inner or httpx.HTTPTransport()
        self._exit = exit_process

    def handle_request(self, request: httpx.Request) -> httpx.Response:
        response = self._inner.handle_request(request)
        hit = request.method == self._method and request.url.path.rstrip("/") == self._path
        if hit and response.status_code == self._status:
            self._exit(CRASH_STATUS)
        return response

    def close(self) -> None:
        self._inner.close()


def crashing_http(point: str) -> HttpFactory:
    """An ``HttpFactory`` whose clients crash the process at ``point`` (see ``CRASH_POINTS``)."""

    def make(base_url: str, auth: httpx.Auth | None) -> httpx.Client:
        transport = CrashingTransport(CRASH_POINTS[point])
        return httpx.Client(
            base_url=base_url,
            auth=auth,
            timeout=TIMEOUT,
            follow_redirects=False,
            transport=transport,
        )

    return make
