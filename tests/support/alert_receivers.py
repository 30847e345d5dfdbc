"""Local receivers for alert tests: an HTTP listener in a thread and an aiosmtpd server."""

from __future__ import annotations

import socket
import threading
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from email import message_from_bytes
from email.message import Message
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any

from aiosmtpd.controller import Controller
from aiosmtpd.smtp import AuthResult, LoginPassword


@dataclass
class Received:
    path: str
    headers: dict[str, str]
    body: bytes


@dataclass
class HttpReceiver:
    """Answers each POST with the next status in ``statuses`` (then 200) and keeps it."""

    url: str
    received: list[Received] = field(default_factory=list)
    statuses: list[int] = field(default_factory=list)


@contextmanager
def http_receiver() -> Iterator[HttpReceiver]:
    box = HttpReceiver("")

    class Handler(BaseHTTPRequestHandler):
        def do_POST(self) -> None:
            length = int(self.headers.get("Content-Length") or 0)
            body = self.rfile.read(length)
            box.received.append(Received(self.path, dict(self.headers.items()), body))
            status = box.statuses.pop(0) if box.statuses else 200
            self.send_response(status)
            self.send_header("Content-Length", "2")
            self.end_headers()
            self.wfile.write(b"ok")

        def log_message(self, format: str, *args: Any) -> None:
            del format, args

    server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    box.url = f"http://127.0.0.1:{server.server_address[1]}/hook/T0KEN-in-the-path"
    try:
        yield box
    finally:
        server.shutdown()
        server.server_close()
        thread.join(5)


class _Mailbox:
    def __init__(self) -> None:
        self.messages: list[tuple[str, list[str], Message]] = []

    async def handle_DATA(self, server: Any, session: Any, envelope: Any) -> str:
        del server, session
        message = message_from_bytes(envelope.content)
        self.messages.append((envelope.mail_from, list(envelope.rcpt_tos), message))
        return "250 Message accepted for delivery"


@contextmanager
def smtp_server(
    login: tuple[str, str] | None = None,
) -> Iterator[tuple[int, _Mailbox]]:
    """A local SMTP server on a free port; with ``login`` it requires that user and password
    (over plain SMTP: the test has no certificate)."""
    mailbox = _Mailbox()
    port = _free_port()
    auth: dict[str, Any] = {}
    if login is not None:

        def check(
            server: Any, session: Any, envelope: Any, mechanism: str, data: Any
        ) -> AuthResult:
            del server, session, envelope, mechanism
            ok = (
                isinstance(data, LoginPassword)
                and (
                    data.login.decode(),
                    data.password.decode(),
                )
                == login
            )
            return AuthResult(success=ok, handled=False)

        auth = {"authenticator": check, "auth_require_tls": False}
    controller = Controller(mailbox, hostname="127.0.0.1", port=port, **auth)
    controller.start()
    try:
        yield port, mailbox
    finally:
        controller.stop()


def _free_port() -> int:
    # aiosmtpd's controller checks its server by connecting to the port it was given, so it
    # needs a real number rather than 0.
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return int(probe.getsockname()[1])
