"""Apps served on pre-bound loopback sockets: the URL is known before serving, stop frees it."""

from __future__ import annotations

import socket

import httpx
import pytest
from starlette.applications import Starlette
from starlette.requests import Request
from starlette.responses import PlainTextResponse
from starlette.routing import Route

from cosell.sandbox.servers import ServedApp, bind


async def hello(request: Request) -> PlainTextResponse:
    return PlainTextResponse("hello")


def test_served_app_answers_on_the_port_chosen_at_bind_time() -> None:
    served = ServedApp("hello", bind(0))
    url = served.url
    assert served.port > 0
    served.start(Starlette(routes=[Route("/", hello)]))
    try:
        assert httpx.get(url + "/").text == "hello"
    finally:
        served.stop()
    with pytest.raises(httpx.ConnectError):
        httpx.get(url + "/", timeout=2)


def test_bind_refuses_a_port_in_use() -> None:
    taken = bind(0)
    taken.listen()
    try:
        with pytest.raises(OSError, match="in use"):
            bind(taken.getsockname()[1])
    finally:
        taken.close()


def test_connections_accepted_on_a_bound_socket_send_without_delay() -> None:
    # A response written as headers then body would otherwise wait for the client's delayed
    # ACK: 40 ms on every emulator call with a body, which the benchmarks measured as latency.
    listener = bind(0)
    listener.listen()
    client = socket.create_connection(listener.getsockname())
    accepted, _ = listener.accept()
    try:
        assert accepted.getsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY)
    finally:
        for sock in (accepted, client, listener):
            sock.close()
