"""A wrong password ends every command with one line naming the refusal, never a traceback."""

from __future__ import annotations

from pathlib import Path

import httpx
import pytest
from click.testing import CliRunner
from engine_world import PC_BASE, SF_BASE, START, World
from starlette.testclient import TestClient
from test_full_sync import ENV, config_file

from cosell.cli.common import CommandDeps
from cosell.cli.main import main
from cosell.clock import ManualClock


@pytest.mark.parametrize(
    ("command", "password"),
    [
        (("sync", "--once"), "COSELL_SF_PASSWORD"),
        (("sync", "--once"), "COSELL_PC_PASSWORD"),
    ],
)
def test_a_wrong_password_is_one_line_and_a_non_zero_exit(
    world: World, tmp_path: Path, command: tuple[str, ...], password: str
) -> None:
    apps = {PC_BASE: world.pc_app, SF_BASE: world.sf_app}

    def http(base_url: str, auth: httpx.Auth | None) -> httpx.Client:
        client = TestClient(apps[base_url.rstrip("/")], base_url=base_url)
        if auth is not None:
            client.auth = auth
        return client

    deps = CommandDeps(clock=ManualClock(START), http=http)
    args = [*command, "--config", str(config_file(tmp_path))]
    env = ENV | {password: "not-the-password"}
    result = CliRunner().invoke(main, args, obj=deps, env=env)
    assert result.exit_code not in (0, None)
    assert "Traceback" not in result.output
    assert result.exception is None or isinstance(result.exception, SystemExit)
    errors = [line for line in result.output.splitlines() if line.startswith("error:")]
    assert len(errors) == 1
    assert "not-the-password" not in result.output
