"""An httpx transport over the standard library's ``http.client``: HTTP/1.1 on kept-alive
connections, pooled per origin.

httpx's own transport (httpcore, h11 parsing each message as a stream of events, a pool that
re-examines its connections on every request) is the larger part of a request's CPU: on
loopback a GET through httpx cost 0.42 ms of a thread's CPU, 0.58-0.62 ms four at once; through
httpx over this transport 0.33 and 0.40 (``http.client`` alone 0.13 and 0.17). Partner Center
has no batch write, so a backfill PATCHes each referral on its own: 5,000 referrals' write-backs
took 4.7-4.9 s of the connector's CPU through httpcore and 3.5-3.9 s through this transport
(three alternating pairs). No synchronous transport for httpx in the package registries is
lighter (urllib3's pool: 0.32 ms a GET), so this one keeps httpx's client (auth, timeouts,
decoding, its errors) and replaces only the connections.

What it keeps of httpx's transport:

* HTTP/1.1 only (httpx's default too), TLS verified with the context it is given;
* a connection is reused while it has been idle less than ``keepalive_expiry`` and is not
  readable (a server that closed it has sent its end of file): the freshest first, at most
  ``max_keepalive`` idle ones per origin;
* a response's body streams: its connection goes back to the pool once the body was read to the
  end (and the server keeps it open), and is closed when the response is closed before that;
* httpx's errors, split as httpx splits them: ``ConnectError`` and ``ConnectTimeout`` only
  while connecting (nothing was sent: the clients retry those for any request), and
  ``WriteError``, ``WriteTimeout``, ``ReadError``, ``ReadTimeout``, ``RemoteProtocolError``
  once the request may have reached the server.

Proxies are not its business: httpx uses the environment's proxies only for a client given no
transport (cosell's clients have been given one since their connections were bounded, see
:mod:`cosell.clients.turns`).
"""

from __future__ import annotations

import http.client
import select
import ssl
import threading
import time
from collections.abc import Iterator, Mapping
from typing import TypeAlias

import httpx

Origin: TypeAlias = tuple[str, str, int]
CHUNK = 65_536
"""Bytes of a response body read at a time."""
_PORTS = {"http": 80, "https": 443}


class StdlibTransport(httpx.BaseTransport):
    """HTTP/1.1 over ``http.client``, connections kept alive and shared by the threads."""

    def __init__(
        self,
        ssl_context: ssl.SSLContext,
        *,
        max_keepalive: int = 32,
        keepalive_expiry: float | None = 5.0,
    ) -> None:
        self._ssl = ssl_context
        self._max_keepalive = max_keepalive
        self._expiry = keepalive_expiry
        self._lock = threading.Lock()
        self._idle: dict[Origin, list[tuple[http.client.HTTPConnection, float]]] = {}
        self._closed = False

    def handle_request(self, request: httpx.Request) -> httpx.Response:
        origin = _origin(request)
        timeouts = request.extensions.get("timeout", {})
        connection = self._reused(origin)
        if connection is None:
            connection = self._connected(origin, timeouts.get("connect"), request)
        try:
            response = _exchange(connection, request, timeouts)
        except BaseException:
            connection.close()
            raise
        return httpx.Response(
            response.status,
            headers=response.getheaders(),
            stream=_Body(self, origin, connection, response, request),
            extensions={
                "http_version": b"HTTP/1.1" if response.version == 11 else b"HTTP/1.0",
                "reason_phrase": response.reason.encode("latin-1", "replace"),
            },
        )

    def close(self) -> None:
        with self._lock:
            self._closed = True
            idle = [connection for kept in self._idle.values() for connection, _ in kept]
            self._idle.clear()
        for connection in idle:
            connection.close()

    def idle_connections(self, origin: Origin) -> int:
        """Connections to ``origin`` kept for reuse now."""
        with self._lock:
            return len(self._idle.get(origin, ()))

    def _reused(self, origin: Origin) -> http.client.HTTPConnection | None:
        """The freshest idle connection to ``origin`` still fit for a request; those that are
        not (expired, or closed by the server) are closed on the way."""
        stale: list[http.client.HTTPConnection] = []
        found = None
        now = time.monotonic()
        with self._lock:
            kept = self._idle.get(origin, [])
            while kept:
                connection, since = kept.pop()
                if self._expiry is not None and now - since >= self._expiry:
                    stale.append(connection)
                    stale += [c for c, _ in kept]  # older still
                    kept.clear()
                    break
                if _readable(connection):
                    stale.append(connection)
                    continue
                found = connection
                break
        for connection in stale:
            connection.close()
        return found

    def _connected(
        self, origin: Origin, timeout: float | None, request: httpx.Request
    ) -> http.client.HTTPConnection:
        scheme, host, port = origin
        connection: http.client.HTTPConnection
        if scheme == "https":
            connection = http.client.HTTPSConnection(host, port, timeout=timeout, context=self._ssl)
        else:
            connection = http.client.HTTPConnection(host, port, timeout=timeout)
        try:
            connection.connect()  # (it sets TCP_NODELAY: headers and body go as two sends)
        except TimeoutError as exc:
            connection.close()
            raise httpx.ConnectTimeout(str(exc) or "connecting timed out", request=request) from exc
        except OSError as exc:  # refused, unreachable, TLS refused or not verified
            connection.close()
            raise httpx.ConnectError(str(exc), request=request) from exc
        return connection

    def _give_back(self, origin: Origin, connection: http.client.HTTPConnection) -> None:
        with self._lock:
            kept = self._idle.setdefault(origin, [])
            if not self._closed and len(kept) < self._max_keepalive:
                kept.append((connection, time.monotonic()))
                return
        connection.close()


class _Body(httpx.SyncByteStream):
    """A response's body, read from its connection as it is iterated; closing it gives the
    connection back (read to the end) or closes it (not)."""

    def __init__(
        self,
        transport: StdlibTransport,
        origin: Origin,
        connection: http.client.HTTPConnection,
        response: http.client.HTTPResponse,
        request: httpx.Request,
    ) -> None:
        self._transport = transport
        self._origin = origin
        self._connection = connection
        self._response = response
        self._request = request
        self._read = False
        self._closed = False

    def __iter__(self) -> Iterator[bytes]:
        response = self._response
        try:
            while True:
                size = response.length  # known, and small: read at once
                small = size is not None and size <= CHUNK
                chunk = response.read() if small else response.read(CHUNK)
                if not chunk:
                    break
                yield chunk
        except TimeoutError as exc:
            raise httpx.ReadTimeout(str(exc) or "reading timed out", request=self._request) from exc
        except http.client.HTTPException as exc:  # the body ended short, a bad chunk
            raise httpx.RemoteProtocolError(str(exc), request=self._request) from exc
        except OSError as exc:
            raise httpx.ReadError(str(exc), request=self._request) from exc
        self._read = True

    def close(self) -> None:
        if self._closed:
            return
        self._closed = True
        if self._read and not self._response.will_close:
            self._transport._give_back(self._origin, self._connection)
        else:
            self._connection.close()


def _origin(request: httpx.Request) -> Origin:
    url = request.url
    if url.scheme not in _PORTS:
        raise httpx.UnsupportedProtocol(f"not an http or https URL: {url.scheme!r}")
    # the host as it goes on the wire: an internationalised name in its IDNA (ASCII) form
    return url.scheme, url.raw_host.decode("ascii"), url.port or _PORTS[url.scheme]


def _exchange(
    connection: http.client.HTTPConnection,
    request: httpx.Request,
    timeouts: Mapping[str, float | None],
) -> http.client.HTTPResponse:
    """Send ``request`` and read its answer's status line and headers."""
    sock = connection.sock
    try:
        sock.settimeout(timeouts.get("write"))
        target = request.url.raw_path.decode("ascii")
        connection.putrequest(request.method, target, skip_host=True, skip_accept_encoding=True)
        chunked = False
        for name, value in request.headers.raw:
            chunked |= name.lower() == b"transfer-encoding" and value.lower() == b"chunked"
            connection.putheader(name, value)
        body = request.read()
        connection.endheaders(body if body or chunked else None, encode_chunked=chunked)
    except TimeoutError as exc:
        raise httpx.WriteTimeout(str(exc) or "writing timed out", request=request) from exc
    except OSError as exc:
        raise httpx.WriteError(str(exc), request=request) from exc
    try:
        sock.settimeout(timeouts.get("read"))
        return connection.getresponse()
    except TimeoutError as exc:
        raise httpx.ReadTimeout(str(exc) or "reading timed out", request=request) from exc
    except http.client.HTTPException as exc:  # closed without an answer, a bad status line
        raise httpx.RemoteProtocolError(str(exc), request=request) from exc
    except OSError as exc:
        raise httpx.ReadError(str(exc), request=request) from exc


def _readable(connection: http.client.HTTPConnection) -> bool:
    """Whether an idle connection has something to read: the server closed it (or broke the
    protocol); either way it cannot carry a request."""
    sock = connection.sock
    if sock is None:
        return True
    poller = select.poll()
    poller.register(sock, select.POLLIN | select.POLLERR | select.POLLHUP)
    return bool(poller.poll(0))
