"""``cosell emulate salesforce`` served as a subprocess on a free loopback port."""

import os
import socket
import ssl
import subprocess
import sys
from collections.abc import Iterator

import httpx
import pytest

from support.wait import wait_until


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        port: int = sock.getsockname()[1]
        return port


def read_line_with(process: subprocess.Popen[str], marker: str) -> str:
    assert process.stdout is not None
    for line in process.stdout:
        if marker in line:
            return line.strip()
    raise AssertionError(f"no line with {marker!r}; exit code {process.poll()}")


def wait_for_token(client: httpx.Client, url: str) -> httpx.Response:
    form = {
        "grant_type": "password",
        "client_id": "cosell-sandbox-consumer-key",
        "client_secret": "sandbox-consumer-secret",
        "username": "integration@partner.example",
        "password": "sandbox-password",
    }
    token_url = f"{url}/services/oauth2/token"
    return wait_until(
        lambda: client.post(token_url, data=form),
        20,
        what="the emulator to answer",
        ignoring=(httpx.TransportError,),
    )


@pytest.fixture(params=[False, True], ids=["http", "https"])
def served(request: pytest.FixtureRequest) -> Iterator[tuple[str, ssl.SSLContext | bool]]:
    port = free_port()
    args = [
        sys.executable,
        "-m",
        "cosell",
        "emulate",
        "salesforce",
        "--port",
        str(port),
        "--query-batch-size",
        "2",
    ]
    if request.param:
        args.append("--tls")
    env = {**os.environ, "PYTHONUNBUFFERED": "1"}
    process = subprocess.Popen(
        args, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True, env=env
    )
    try:
        verify: ssl.SSLContext | bool = True
        if request.param:
            cafile = read_line_with(process, "Self-signed certificate:").split()[2]
            verify = ssl.create_default_context(cafile=cafile)
        line = read_line_with(process, "Salesforce emulator on")
        yield line.rsplit(" ", 1)[-1], verify
    finally:
        process.terminate()
        process.wait(timeout=10)
        if process.stdout is not None:
            process.stdout.close()


def test_cli_serves_token_and_query(served: tuple[str, ssl.SSLContext | bool]) -> None:
    url, verify = served
    assert url.startswith("https://" if verify is not True else "http://")
    with httpx.Client(verify=verify, trust_env=False, timeout=10) as client:
        token = wait_for_token(client, url)
        assert token.status_code == 200
        assert token.json()["instance_url"] == url
        headers = {"Authorization": f"Bearer {token.json()['access_token']}"}
        users = client.get(
            f"{url}/services/data/v62.0/query",
            params={"q": "SELECT Id, Username FROM User ORDER BY Username"},
            headers=headers,
        )
        assert users.status_code == 200
        page = users.json()
        assert page["totalSize"] >= 3
        assert len(page["records"]) == 2
        more = client.get(f"{url}{page['nextRecordsUrl']}", headers=headers)
        assert more.status_code == 200
        assert more.json()["records"][0]["attributes"]["type"] == "User"
        client.post(f"{url}/_emulator/faults", json={"kind": "drop_connection"})
        with pytest.raises(httpx.TransportError):
            client.get(f"{url}/services/data/v62.0/limits", headers=headers)
        assert client.get(f"{url}/services/data/v62.0/limits", headers=headers).status_code == 200
