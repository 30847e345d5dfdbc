"""Forged callbacks naming a slow certificate host never hold the threads /healthz needs."""

from __future__ import annotations

import asyncio
import threading
from collections.abc import Iterator
from functools import partial
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

import httpx
import pytest
from receiver_ca import SigningAuthority

from cosell.clock import SystemClock
from cosell.operations.service_status import ServiceStatus
from cosell.web.app import create_app
from cosell.web.metrics import ServiceMetrics
from cosell.web.receiver import WebhookReceiver
from cosell.webhooks.certificates import CertificateCache, TrustPolicy
from cosell.webhooks.events import PATH
from cosell.webhooks.signature import verify_callback

FORGED = 60
GUARD = 60.0  # only so a regression fails instead of hanging; ordering is asserted by events


class SlowCertificateHost:
    """A local HTTP server that holds every request until ``release`` is set."""

    def __init__(self) -> None:
        self.release = threading.Event()
        self.arrived = threading.Semaphore(0)
        host = self

        class Handler(BaseHTTPRequestHandler):
            def do_GET(self) -> None:
                host.arrived.release()
                host.release.wait(GUARD)
                self.send_response(404)
                self.send_header("Content-Length", "0")
                self.end_headers()

            def log_message(self, *args: object) -> None:
                pass

        self.server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.server.daemon_threads = True
        self.port = self.server.server_address[1]
        self.thread = threading.Thread(target=self.server.serve_forever, daemon=True)
        self.thread.start()

    def close(self) -> None:
        self.release.set()
        self.server.shutdown()
        self.server.server_close()


@pytest.fixture
def slow_host() -> Iterator[SlowCertificateHost]:
    host = SlowCertificateHost()
    yield host
    host.close()


def test_slow_certificate_fetches_do_not_delay_healthz(slow_host: SlowCertificateHost) -> None:
    authority = SigningAuthority()
    policy = TrustPolicy.sandbox_mode(authority.ca_pem, [f"127.0.0.1:{slow_host.port}"])
    certificates = CertificateCache(httpx.Client(), policy, deadline=GUARD)
    metrics, status = ServiceMetrics(), ServiceStatus("acme", SystemClock())
    health_checks: list[str] = []
    receiver = WebhookReceiver(
        verify=partial(verify_callback, certificates=certificates),
        queue=None,  # type: ignore[arg-type]  # nothing verifies, so nothing is enqueued
        tenant=None,  # type: ignore[arg-type]
        is_linked=lambda _: False,
        sweep_hint=lambda: None,
        metrics=metrics,
        status=status,
    )
    app = create_app(
        receiver=receiver,
        status=status,
        metrics=metrics,
        health_check=lambda: health_checks.append("ok"),
    )
    body = b'{"EventName": "referral-updated"}'

    async def scenario() -> tuple[int, list[int]]:
        transport = httpx.ASGITransport(app=app)
        async with httpx.AsyncClient(transport=transport, base_url="http://127.0.0.1") as http:
            forged = [
                asyncio.create_task(
                    http.post(
                        PATH,
                        content=body,
                        headers=authority.headers(
                            b"forged", f"http://127.0.0.1:{slow_host.port}/cert/{i}.cer"
                        ),
                    )
                )
                for i in range(FORGED)
            ]
            # The first verification is waiting on the slow host before /healthz is asked.
            assert await asyncio.to_thread(slow_host.arrived.acquire, True, GUARD)
            health = await asyncio.wait_for(http.get("/healthz"), GUARD)
            # /healthz answered while every forged callback was still pending on the host.
            assert not slow_host.release.is_set()
            assert not any(task.done() for task in forged)
            slow_host.release.set()
            answers = await asyncio.gather(*forged)
        return health.status_code, [answer.status_code for answer in answers]

    try:
        health, answers = asyncio.run(scenario())
    finally:
        receiver.close()
    assert health == 200
    assert health_checks == ["ok"]
    assert answers == [401] * FORGED
