"""The CLI serves the emulator: start it, get a token, list referrals, stop it."""

import socket
import subprocess
import sys

import httpx
import pytest

from support.wait import wait_until


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        port: int = sock.getsockname()[1]
        return port


@pytest.mark.e2e
def test_cli_serves_the_emulator() -> None:
    port = free_port()
    command = [sys.executable, "-m", "cosell", "emulate", "partner-center", "--port", str(port)]
    process = subprocess.Popen(command, stdout=subprocess.PIPE, stderr=subprocess.PIPE)
    base = f"http://127.0.0.1:{port}"
    try:
        with httpx.Client(base_url=base, timeout=2) as http:

            def up() -> bool:
                try:
                    http.get("/_emulator/clock")
                except httpx.TransportError:
                    assert process.poll() is None, process.stderr.read() if process.stderr else ""
                    return False
                return True

            wait_until(up, 20, what="the emulator to start")
            form = {
                "grant_type": "password",
                "client_id": "cosell-sandbox",
                "username": "referrals-admin@partner.example",
                "password": "sandbox-password",
            }
            token = http.post("/sandbox-tenant/oauth2/token", data=form).json()["access_token"]
            listed = http.get(
                "/v1.0/engagements/referrals", headers={"Authorization": f"Bearer {token}"}
            )
            assert listed.status_code == 200
            assert listed.json()["value"] == []
            assert listed.json()["@odata.context"].startswith(base)
    finally:
        process.terminate()
        process.wait(timeout=10)
        for stream in (process.stdout, process.stderr):
            if stream:
                stream.close()
