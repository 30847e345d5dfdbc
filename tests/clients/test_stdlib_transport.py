"""The transport over ``http.client``: connections kept alive and reused only while fit for a
request, response bodies streamed, and httpx's errors split where the request may have reached
the server and where it cannot have."""

from __future__ import annotations

import gzip
import socket
import ssl
import threading
from collections.abc import Callable, Iterator
from concurrent.futures import ThreadPoolExecutor
from contextlib import contextmanager
from pathlib import Path

import httpx
import pytest

from cosell.clients.partner_center import _UNSENT
from cosell.clients.stdlib_transport import StdlibTransport
from cosell.clients.turns import tls_context
from cosell.emulators.salesforce.tls import write_self_signed

Handler = Callable[["Peer"], None]
PATIENT = httpx.Timeout(5.0)


class Peer:
    """One accepted connection, read and answered by a test's handler."""

    def __init__(self, sock: socket.socket) -> None:
        self.sock = sock
        self._buffer = b""

    def _fill(self) -> bool:
        data = self.sock.recv(65536)
        self._buffer += data
        return bool(data)

    def request(self) -> tuple[str, dict[str, str], bytes] | None:
        """The next request's line, headers and body (chunked or sized); None at its end."""
        while b"\r\n\r\n" not in self._buffer:
            if not self._fill():
                return None
        head, self._buffer = self._buffer.split(b"\r\n\r\n", 1)
        line, *fields = head.decode("latin-1").split("\r\n")
        headers = {k.strip().lower(): v.strip() for k, v in (f.split(":", 1) for f in fields)}
        if headers.get("transfer-encoding") == "chunked":
            body = b""
            while True:
                while b"\r\n" not in self._buffer:
                    self._fill()
                size_line, self._buffer = self._buffer.split(b"\r\n", 1)
                size = int(size_line, 16)
                while len(self._buffer) < size + 2:
                    self._fill()
                body, self._buffer = body + self._buffer[:size], self._buffer[size + 2 :]
                if size == 0:
                    return line, headers, body
        size = int(headers.get("content-length", "0"))
        while len(self._buffer) < size:
            self._fill()
        body, self._buffer = self._buffer[:size], self._buffer[size:]
        return line, headers, body

    def answer(self, body: bytes, *headers: str, status: str = "200 OK") -> None:
        lines = [f"HTTP/1.1 {status}", f"Content-Length: {len(body)}", *headers]
        self.sock.sendall(("\r\n".join(lines) + "\r\n\r\n").encode() + body)


class Server:
    """A loopback server running ``handler`` for each connection it accepts (over TLS with
    ``tls``); it counts the connections and records each handler's end."""

    def __init__(self, handler: Handler, tls: ssl.SSLContext | None = None) -> None:
        self.handler = handler
        self.tls = tls
        self.listener = socket.create_server(("127.0.0.1", 0))
        self.connections = 0
        self.ended = threading.Semaphore(0)
        self.lock = threading.Lock()
        self.threads: list[threading.Thread] = []
        self.accepting = threading.Thread(target=self._accept, daemon=True)
        self.accepting.start()

    @property
    def url(self) -> str:
        scheme = "https" if self.tls else "http"
        return f"{scheme}://localhost:{self.listener.getsockname()[1]}"

    def _accept(self) -> None:
        while True:
            try:
                sock, _ = self.listener.accept()
            except OSError:
                return
            with self.lock:
                self.connections += 1
            thread = threading.Thread(target=self._serve, args=(sock,), daemon=True)
            self.threads.append(thread)
            thread.start()

    def _serve(self, sock: socket.socket) -> None:
        try:
            if self.tls is not None:
                sock = self.tls.wrap_socket(sock, server_side=True)
            self.handler(Peer(sock))
        except OSError:
            pass
        finally:
            sock.close()
            self.ended.release()

    def close(self) -> None:
        self.listener.close()


@contextmanager
def serving(handler: Handler, tls: ssl.SSLContext | None = None) -> Iterator[Server]:
    server = Server(handler, tls)
    try:
        yield server
    finally:
        server.close()


@contextmanager
def client(
    server: Server,
    transport: StdlibTransport | None = None,
    timeout: httpx.Timeout = PATIENT,
) -> Iterator[httpx.Client]:
    kept = transport or StdlibTransport(tls_context())
    with httpx.Client(base_url=server.url, transport=kept, timeout=timeout) as http:
        yield http


def echo(peer: Peer) -> None:
    """Answer each request with its line and body, keeping the connection open."""
    while (got := peer.request()) is not None:
        line, _, body = got
        peer.answer(line.encode() + b"|" + body)


def test_requests_one_after_another_go_on_one_kept_connection() -> None:
    with serving(echo) as server, client(server) as http:
        answers = [http.patch(f"/r/{n}", content=f"body {n}".encode()).text for n in range(5)]
    assert answers == [f"PATCH /r/{n} HTTP/1.1|body {n}" for n in range(5)]
    assert server.connections == 1


def test_a_connection_the_server_closed_is_not_used_again() -> None:
    def once(peer: Peer) -> None:  # answers, then closes without saying so
        got = peer.request()
        assert got is not None
        peer.answer(b"once")

    with serving(once) as server, client(server) as http:
        assert http.get("/a").text == "once"
        server.ended.acquire(timeout=10)  # the server has closed it
        assert http.get("/b").text == "once"  # on a new connection, no error
    assert server.connections == 2


def test_an_answer_that_closes_its_connection_leaves_none_to_reuse() -> None:
    def closing(peer: Peer) -> None:
        if peer.request() is not None:
            peer.answer(b"bye", "Connection: close")

    transport = StdlibTransport(tls_context())
    with serving(closing) as server, client(server, transport) as http:
        assert http.get("/").text == "bye"
        assert transport.idle_connections(("http", "localhost", _port(server))) == 0
        assert http.get("/").text == "bye"
    assert server.connections == 2


def test_an_idle_connection_past_its_expiry_is_closed_not_reused() -> None:
    transport = StdlibTransport(tls_context(), keepalive_expiry=0.0)
    with serving(echo) as server, client(server, transport) as http:
        http.get("/a")
        http.get("/b")
        server.ended.acquire(timeout=10)  # the first connection was closed by the client
    assert server.connections == 2


def test_nothing_listening_is_a_connect_error_the_clients_know_was_not_sent() -> None:
    closed = socket.create_server(("127.0.0.1", 0))
    port = closed.getsockname()[1]
    closed.close()
    with (
        httpx.Client(transport=StdlibTransport(tls_context())) as http,
        pytest.raises(httpx.ConnectError) as raised,
    ):
        http.get(f"http://127.0.0.1:{port}/")
    assert isinstance(raised.value, _UNSENT)


def test_a_server_that_closes_without_answering_may_have_had_the_request() -> None:
    def silent(peer: Peer) -> None:
        peer.request()  # read, then closed without a word

    with (
        serving(silent) as server,
        client(server) as http,
        pytest.raises(httpx.RemoteProtocolError) as raised,
    ):
        http.post("/r", content=b"x")
    assert not isinstance(raised.value, _UNSENT)  # it may have been acted on


def test_an_answer_that_does_not_come_in_time_is_a_read_timeout() -> None:
    release = threading.Event()

    def slow(peer: Peer) -> None:
        peer.request()
        release.wait(30)

    try:
        with (
            serving(slow) as server,
            client(server, timeout=httpx.Timeout(5.0, read=0.2)) as http,
            pytest.raises(httpx.ReadTimeout) as raised,
        ):
            http.get("/")
        assert not isinstance(raised.value, _UNSENT)
    finally:
        release.set()


def test_a_chunked_gzipped_answer_is_decoded_and_its_connection_kept() -> None:
    text = b"referral " * 5000
    packed = gzip.compress(text)

    def chunked(peer: Peer) -> None:
        while peer.request() is not None:
            head = "HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\nContent-Encoding: gzip\r\n\r\n"
            parts = [packed[i : i + 1000] for i in range(0, len(packed), 1000)]
            body = b"".join(b"%x\r\n%s\r\n" % (len(p), p) for p in parts) + b"0\r\n\r\n"
            peer.sock.sendall(head.encode() + body)

    with serving(chunked) as server, client(server) as http:
        assert http.get("/a").content == text
        assert http.get("/b").content == text
    assert server.connections == 1


def test_a_request_body_sent_in_chunks_arrives_whole() -> None:
    with serving(echo) as server, client(server) as http:
        answer = http.post("/c", content=iter([b"one ", b"two"]))
    assert answer.text == "POST /c HTTP/1.1|one two"


def test_a_body_left_unread_closes_its_connection_and_a_read_one_gives_it_back() -> None:
    big = b"x" * 300_000

    def large(peer: Peer) -> None:
        while peer.request() is not None:
            peer.answer(big)

    transport = StdlibTransport(tls_context())
    origin = ("http", "localhost", 0)
    with serving(large) as server, client(server, transport) as http:
        origin = ("http", "localhost", _port(server))
        with http.stream("GET", "/") as streamed:
            first = next(streamed.iter_raw())
        assert 0 < len(first) < len(big)
        assert transport.idle_connections(origin) == 0  # closed, not kept half read
        with http.stream("GET", "/") as streamed:
            assert streamed.read() == big
        assert transport.idle_connections(origin) == 1
    assert server.connections == 2


def test_threads_share_the_pool_a_connection_each_at_most() -> None:
    with serving(echo) as server, client(server) as http, ThreadPoolExecutor(4) as pool:
        answers = list(pool.map(lambda n: http.get(f"/{n}").text, range(40)))
    assert answers == [f"GET /{n} HTTP/1.1|" for n in range(40)]
    assert 1 <= server.connections <= 4


def test_closing_the_transport_closes_its_kept_connections() -> None:
    transport = StdlibTransport(tls_context())
    with serving(echo) as server:
        with client(server, transport) as http:
            http.get("/")
            assert transport.idle_connections(("http", "localhost", _port(server))) == 1
        assert server.ended.acquire(timeout=10)  # the server read the end of its connection


def test_tls_is_verified_with_the_context_given(tmp_path: Path) -> None:
    certfile, keyfile = write_self_signed(tmp_path)
    served = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
    served.load_cert_chain(certfile, keyfile)
    trusting = ssl.create_default_context(cafile=str(certfile))
    with serving(echo, served) as server:
        with client(server, StdlibTransport(trusting)) as http:
            assert http.get("/t").text == "GET /t HTTP/1.1|"
            assert http.get("/u").text == "GET /u HTTP/1.1|"
        with (
            client(server, StdlibTransport(tls_context())) as http,  # the public CAs only
            pytest.raises(httpx.ConnectError, match="CERTIFICATE_VERIFY_FAILED"),
        ):
            http.get("/")
    assert server.connections == 2


def test_a_url_that_is_not_http_is_refused() -> None:
    transport = StdlibTransport(tls_context())
    with pytest.raises(httpx.UnsupportedProtocol):
        transport.handle_request(httpx.Request("GET", "ftp://localhost/file"))


def _port(server: Server) -> int:
    return int(server.listener.getsockname()[1])
