"""Serving ASGI apps with uvicorn on threads, on loopback sockets bound before the app is built.

Binding first tells the sandbox each server's URL (port 0 picks a free port) before the app
that needs to know its own URL (an emulator's links, webhook certificate URL) is created.
"""

from __future__ import annotations

import socket
import threading

import uvicorn
from starlette.types import ASGIApp

from cosell.service.server import SettledServer

LOOPBACK = "127.0.0.1"


def bind(port: int, host: str = LOOPBACK) -> socket.socket:
    """A listening-ready TCP socket on ``host:port`` (0: a free port)."""
    sock = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
    sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
    # Accepted connections inherit it: without it a response written in two parts (headers,
    # then body) waits for the client's delayed ACK, 40 ms a call on Linux loopback.
    sock.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
    try:
        sock.bind((host, port))
    except OSError:
        sock.close()
        raise
    return sock


class ServedApp:
    """One app on one pre-bound socket, served by uvicorn on a daemon thread."""

    def __init__(self, name: str, sock: socket.socket) -> None:
        self.name = name
        self._sock = sock
        self._server: SettledServer | None = None
        self._thread: threading.Thread | None = None

    @property
    def port(self) -> int:
        return int(self._sock.getsockname()[1])

    @property
    def url(self) -> str:
        host = self._sock.getsockname()[0]
        return f"http://{host}:{self.port}"

    def start(self, app: ASGIApp, timeout: float = 15.0) -> None:
        """Serve ``app``; ``RuntimeError`` when uvicorn did not start within ``timeout``."""
        # The emulated APIs send their own ``Date`` (the emulated clock), not uvicorn's.
        config = uvicorn.Config(
            app, log_config=None, access_log=False, lifespan="on", date_header=False
        )
        self._server = SettledServer(config)
        self._thread = threading.Thread(target=self._run, name=f"serve-{self.name}", daemon=True)
        self._thread.start()
        self._server.settled.wait(timeout)
        if not self._server.started:
            self.stop()
            raise RuntimeError(f"the {self.name} server did not start on {self.url}")

    def _run(self) -> None:
        assert self._server is not None
        try:
            self._server.run(sockets=[self._sock])
        except SystemExit:  # uvicorn exits when it cannot start; start() reports it
            pass
        finally:
            self._server.settled.set()

    def stop(self, timeout: float = 15.0) -> None:
        """Stop accepting requests; in-flight ones get ``timeout`` seconds to finish."""
        if self._server is not None:
            self._server.should_exit = True
        if self._thread is not None and self._thread.is_alive():
            self._thread.join(timeout)
        self._sock.close()
