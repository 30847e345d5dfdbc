"""A bounded number of requests in flight to one host, the rest waiting their turn outside the
connection pool.

The transport under it opens a connection for each request that finds none idle: unbounded, a
backfill's hundreds of workers would open hundreds of connections to one host. A request waits
on a semaphore before it reaches the transport and gives its turn back when its response is
closed (its connection is free again then), so the transport only ever holds the requests it
can serve. (Under httpx's own pool, httpcore, which re-examines every queued request and every
connection each time a request arrives or finishes, the waiting requests' bookkeeping had been a
third of the connector's CPU; ``httpx.Limits`` capped the connections but still queued the
requests inside the pool. The transport is now :mod:`cosell.clients.stdlib_transport`.)
"""

from __future__ import annotations

import ssl
import threading
from collections.abc import Iterator
from functools import cache

import httpx

from cosell.clients.stdlib_transport import StdlibTransport

CONNECTIONS = 32
"""Requests in flight to one host at most: at Partner Center's latency (tenths of a second) 32
connections carry about a hundred writes a second (its referral throttling limits are not
published)."""


class _GiveBack(httpx.SyncByteStream):
    """A response body that returns its request's turn when it is closed (read to the end,
    closed on an error, or left by the caller's ``with``)."""

    def __init__(self, stream: httpx.SyncByteStream, turns: Turns) -> None:
        self._stream = stream
        self._turns = turns
        self._given_back = False

    def __iter__(self) -> Iterator[bytes]:
        yield from self._stream

    def close(self) -> None:
        try:
            self._stream.close()
        finally:
            if not self._given_back:
                self._given_back = True
                self._turns.give_back()


class Turns:
    """``size`` turns for requests, and how many requests hold or wait for one."""

    def __init__(self, size: int) -> None:
        if size < 1:
            raise ValueError(f"a host needs at least one connection, not {size}")
        self.size = size
        self._free = threading.BoundedSemaphore(size)
        self._count = threading.Lock()
        self.waiting = 0
        """Requests waiting for a turn (none while fewer than ``size`` are in flight)."""
        self.in_flight = 0
        """Requests holding a turn: sent, or their response not yet closed."""

    def take(self, timeout: float | None, request: httpx.Request | None = None) -> None:
        """A turn, or ``httpx.PoolTimeout`` (naming ``request``) after ``timeout`` seconds
        (``None``: no limit)."""
        taken = self._free.acquire(blocking=False)
        if not taken:
            with self._count:
                self.waiting += 1
            try:
                taken = self._free.acquire(timeout=-1 if timeout is None else timeout)
            finally:
                with self._count:
                    self.waiting -= 1
        if not taken:
            raise httpx.PoolTimeout(f"no connection free within {timeout} s", request=request)
        with self._count:
            self.in_flight += 1

    def give_back(self) -> None:
        with self._count:
            self.in_flight -= 1
        self._free.release()


@cache
def tls_context() -> ssl.SSLContext:
    """The TLS settings every transport verifies servers with, as httpx makes them by default
    (its CA bundle, ``SSL_CERT_FILE`` honoured), made once: each transport made its own, and
    loading the bundle cost ~25 ms of CPU a client (the sandbox's clock, following the
    emulator's, opens one every five seconds: 3% of a backfill's CPU)."""
    return httpx.create_ssl_context()


class BoundedTransport(httpx.BaseTransport):
    """Connections over ``http.client`` (see :mod:`cosell.clients.stdlib_transport`) with at
    most ``size`` requests (and so connections) at a time."""

    def __init__(self, size: int = CONNECTIONS, *, keepalive_expiry: float | None = 5.0) -> None:
        self.turns = Turns(size)
        self._inner = StdlibTransport(
            tls_context(), max_keepalive=size, keepalive_expiry=keepalive_expiry
        )

    def handle_request(self, request: httpx.Request) -> httpx.Response:
        timeouts = request.extensions.get("timeout", {})
        self.turns.take(timeouts.get("pool"), request)
        try:
            response = self._inner.handle_request(request)
            assert isinstance(response.stream, httpx.SyncByteStream)  # the inner transport's
        except BaseException:
            self.turns.give_back()
            raise
        response.stream = _GiveBack(response.stream, self.turns)
        return response

    def close(self) -> None:
        self._inner.close()
