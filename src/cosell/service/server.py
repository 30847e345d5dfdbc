"""The web app served by uvicorn inside the cosell process, on a thread of its own."""

from __future__ import annotations

import threading
from typing import Any

import uvicorn
from starlette.types import ASGIApp


class SettledServer(uvicorn.Server):
    """A uvicorn server that says when it listens (or has given up)."""

    def __init__(self, config: uvicorn.Config) -> None:
        super().__init__(config)
        self.settled = threading.Event()

    async def startup(self, sockets: Any = None) -> None:
        await super().startup(sockets)
        self.settled.set()


class WebServer:
    """Serves ``app`` on ``host:port`` (port 0 picks a free one; see ``port``)."""

    def __init__(self, app: ASGIApp, host: str, port: int) -> None:
        config = uvicorn.Config(app, host=host, port=port, log_config=None, access_log=False)
        self._server = SettledServer(config)
        self._thread = threading.Thread(target=self._run, name="web", daemon=True)

    def _run(self) -> None:
        try:
            self._server.run()
        except SystemExit:  # uvicorn exits when it cannot bind; start() reports it
            pass
        finally:
            self._server.settled.set()

    def start(self, timeout: float = 15.0) -> None:
        """Start listening; ``RuntimeError`` when the server could not bind in ``timeout``."""
        self._thread.start()
        self._server.settled.wait(timeout)
        if not self._server.started:
            self.stop()
            raise RuntimeError(f"the web server did not start on {self.address}")

    def stop(self, timeout: float = 15.0) -> None:
        """Stop accepting requests; in-flight ones get ``timeout`` seconds to finish."""
        self._server.should_exit = True
        if self._thread.is_alive():
            self._thread.join(timeout)

    @property
    def port(self) -> int:
        """The port actually bound (useful with port 0)."""
        for server in getattr(self._server, "servers", []):
            for sock in server.sockets:
                return int(sock.getsockname()[1])
        return int(self._server.config.port)

    @property
    def address(self) -> str:
        return f"http://{self._server.config.host}:{self.port}"
