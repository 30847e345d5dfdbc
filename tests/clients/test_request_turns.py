"""A client holds at most ``CONNECTIONS`` requests in flight to its host; the rest wait outside
its connection pool and go as responses are closed; nothing is lost or sent twice."""

from __future__ import annotations

import ssl
import threading
from collections.abc import Iterator
from concurrent.futures import ThreadPoolExecutor
from contextlib import contextmanager
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any

import httpx
import pytest

from cosell.clients.connect import default_http
from cosell.clients.turns import CONNECTIONS, BoundedTransport, Turns, tls_context
from support.wait import wait_until


class Host:
    """A loopback HTTP/1.1 server whose answers wait for ``gate``; it counts requests in
    progress (and their most at once), requests answered, and connections accepted."""

    def __init__(self) -> None:
        self.gate = threading.Event()
        self.lock = threading.Lock()
        self.now = self.most = self.answered = self.connections = 0
        self.paths: list[str] = []
        host = self

        class Handler(BaseHTTPRequestHandler):
            protocol_version = "HTTP/1.1"

            def setup(self) -> None:
                super().setup()
                with host.lock:
                    host.connections += 1

            def do_GET(self) -> None:
                with host.lock:
                    host.now += 1
                    host.most = max(host.most, host.now)
                    host.paths.append(self.path)
                host.gate.wait(30)
                body = self.path.encode()
                self.send_response(200)
                self.send_header("Content-Length", str(len(body)))
                self.end_headers()
                self.wfile.write(body)
                with host.lock:
                    host.now -= 1
                    host.answered += 1

            def log_message(self, format: str, *args: object) -> None:
                pass

        self.server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.server.daemon_threads = True
        self.url = f"http://127.0.0.1:{self.server.server_address[1]}"

    @contextmanager
    def running(self) -> Iterator[Host]:
        thread = threading.Thread(target=self.server.serve_forever, daemon=True)
        thread.start()
        try:
            yield self
        finally:
            self.gate.set()
            self.server.shutdown()
            self.server.server_close()


def test_a_client_sends_at_most_its_connections_at_once_and_the_rest_wait_outside_its_pool() -> (
    None
):
    extra = 8
    with Host().running() as host, default_http(host.url, None) as client:
        transport = client._transport
        assert isinstance(transport, BoundedTransport)
        with ThreadPoolExecutor(CONNECTIONS + extra) as pool:
            answers = [pool.submit(client.get, f"/{n}") for n in range(CONNECTIONS + extra)]
            wait_until(lambda: host.now == CONNECTIONS, 10, what="a full set of requests in")
            wait_until(lambda: transport.turns.waiting == extra, 10, what="the rest waiting")
            assert (host.now, transport.turns.in_flight) == (CONNECTIONS, CONNECTIONS)
            host.gate.set()
            texts = sorted(answer.result(timeout=30).text for answer in answers)
    assert texts == sorted(f"/{n}" for n in range(CONNECTIONS + extra))
    assert host.most == CONNECTIONS
    assert host.answered == CONNECTIONS + extra
    assert host.connections <= CONNECTIONS
    assert (transport.turns.in_flight, transport.turns.waiting) == (0, 0)


def test_a_turn_comes_back_when_the_response_is_closed_not_when_its_headers_arrive() -> None:
    with Host().running() as host:
        host.gate.set()
        transport = BoundedTransport(1)
        with httpx.Client(base_url=host.url, transport=transport) as client:
            with client.stream("GET", "/streamed") as response:
                assert transport.turns.in_flight == 1
                with pytest.raises(
                    httpx.PoolTimeout, match=r"no connection free within 0\.05 s"
                ) as e:
                    client.get("/second", timeout=httpx.Timeout(5.0, pool=0.05))
                assert str(e.value.request.url) == f"{host.url}/second"
                assert response.read() == b"/streamed"
            assert transport.turns.in_flight == 0
            assert client.get("/third").text == "/third"
    assert host.paths == ["/streamed", "/third"]
    assert (transport.turns.in_flight, transport.turns.waiting) == (0, 0)


def test_a_request_that_fails_gives_its_turn_back() -> None:
    transport = BoundedTransport(1)
    with Host().running() as host:
        url = host.url
    with httpx.Client(base_url=url, transport=transport) as client:
        for _ in range(2):
            with pytest.raises(httpx.ConnectError):
                client.get("/gone")
    assert (transport.turns.in_flight, transport.turns.waiting) == (0, 0)


def test_a_host_needs_at_least_one_connection() -> None:
    with pytest.raises(ValueError, match="at least one connection, not 0"):
        Turns(0)


def test_every_client_verifies_servers_with_one_tls_context(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    """Loading the CA bundle is the dearest part of making a client (~25 ms of CPU): it is
    loaded once, however many clients are made (the sandbox's clock made one every five
    seconds)."""
    loads: list[object] = []
    real = ssl.SSLContext.load_verify_locations

    def counted(self: ssl.SSLContext, *args: Any, **kwargs: Any) -> None:
        loads.append(args)
        real(self, *args, **kwargs)

    tls_context.cache_clear()
    monkeypatch.setattr(ssl.SSLContext, "load_verify_locations", counted)
    try:
        for _ in range(3):
            default_http("https://partner.example", None).close()
    finally:
        tls_context.cache_clear()
    assert len(loads) == 1
