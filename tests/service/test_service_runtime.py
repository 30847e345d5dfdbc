import threading
from pathlib import Path

import httpx
import pytest
from starlette.applications import Starlette
from starlette.responses import PlainTextResponse
from starlette.routing import Route

from cosell.clock import ManualClock, SystemClock
from cosell.queue.embedded import EmbeddedQueue
from cosell.service.runtime import Runtime
from cosell.service.server import WebServer
from cosell.signals.cadence import Cadence
from cosell.signals.loop import SignalLoop
from cosell.store.records import Job
from cosell.store.sql import Store


class BlockingHandler:
    """Reconciles block until released, so a shutdown catches one in flight."""

    def __init__(self) -> None:
        self.started = threading.Event()
        self.release = threading.Event()
        self.finished: list[str] = []

    def __call__(self, job: Job) -> None:
        self.started.set()
        assert self.release.wait(20)
        self.finished.append(job.key)


class IdleFeed:
    def look(self) -> int:
        return 0


def hello_app() -> Starlette:
    async def hello(request: object) -> PlainTextResponse:
        return PlainTextResponse("hello")

    return Starlette(routes=[Route("/", hello)])


def test_graceful_stop_lets_the_in_flight_reconcile_finish(tmp_path: Path) -> None:
    store = Store.open(f"sqlite:///{tmp_path / 'cosell.db'}", clock=SystemClock())
    tenant = store.ensure_tenant("acme")
    handler = BlockingHandler()
    queue = EmbeddedQueue(store, handler, workers=2)
    signal = SignalLoop("poll", IdleFeed(), Cadence(60.0, 60.0), ManualClock())
    server = WebServer(hello_app(), "127.0.0.1", 0)
    closed: list[str] = []
    runtime = Runtime(
        queue=queue, signals=[signal], server=server, closers=[lambda: closed.append("store")]
    )
    runtime.start()
    assert httpx.get(f"{server.address}/").text == "hello"
    queue.enqueue(tenant, "referral:r-1")
    assert handler.started.wait(10)

    result: list[bool] = []
    stopper = threading.Thread(target=lambda: result.append(runtime.stop(timeout=20)))
    stopper.start()
    stopper.join(0.5)  # bounded wait: stop must be held up by the in-flight reconcile
    assert stopper.is_alive()
    assert handler.finished == []
    assert closed == []

    handler.release.set()
    stopper.join(20)
    assert result == [True]
    assert handler.finished == ["referral:r-1"]
    assert closed == ["store"]
    assert store.stats(tenant).queue_depth == 0
    assert signal._thread is not None
    assert not signal._thread.is_alive()
    with pytest.raises(httpx.TransportError):
        httpx.get(f"{server.address}/", timeout=2)
    store.close()


def test_web_server_reports_a_port_it_cannot_bind() -> None:
    first = WebServer(hello_app(), "127.0.0.1", 0)
    first.start()
    try:
        second = WebServer(hello_app(), "127.0.0.1", first.port)
        with pytest.raises(RuntimeError, match=str(first.port)):
            second.start(timeout=10)
    finally:
        first.stop()
