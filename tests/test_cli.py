import json
import os
import subprocess
import sys
from pathlib import Path

import click
import pytest
from click.testing import CliRunner
from cryptography.fernet import Fernet

from cosell import __version__
from cosell.cli.main import COMMANDS, EMULATE_COMMANDS, SETUP_COMMANDS, LazyCommand, main
from cosell.cli.mapping import MAPPING_COMMANDS

TABLES = {
    (): COMMANDS,
    ("emulate",): EMULATE_COMMANDS,
    ("setup",): SETUP_COMMANDS,
    ("mapping",): MAPPING_COMMANDS,
}
LISTED = [
    pytest.param(group, name, entry, id=" ".join((*group, name)))
    for group, table in TABLES.items()
    for name, entry in table.items()
]
HEAVY = ("cosell.emulators", "cosell.service", "cosell.store", "cosell.sync", "cosell.web")
HEAVY_LIBRARIES = ("alembic", "httpx", "pydantic", "rich", "sqlalchemy", "starlette", "uvicorn")

# Runs the real entry point in a fresh interpreter, then reports which modules it imported.
PROBE = """
import json, sys
from cosell.cli.main import main
status = None
try:
    main(sys.argv[1:], prog_name="cosell", terminal_width=80)
except SystemExit as exc:
    status = exc.code
print(json.dumps({"status": status, "modules": sorted(sys.modules)}), file=sys.stderr)
"""


def probe(*args: str) -> tuple[str, set[str]]:
    done = subprocess.run(
        [sys.executable, "-c", PROBE, *args], capture_output=True, text=True, timeout=60
    )
    report = json.loads(done.stderr.strip().splitlines()[-1])
    assert report["status"] == 0, done.stderr
    return done.stdout, set(report["modules"])


def loaded_under(modules: set[str], roots: tuple[str, ...]) -> set[str]:
    return {m for m in modules if m in roots or m.startswith(tuple(f"{r}." for r in roots))}


def test_version_is_printed() -> None:
    result = CliRunner().invoke(main, ["--version"])
    assert result.exit_code == 0
    assert __version__ in result.output


def test_help_lists_command_groups() -> None:
    result = CliRunner().invoke(main, ["--help"])
    assert result.exit_code == 0
    assert "emulate" in result.output


@pytest.mark.parametrize(("group", "name", "entry"), LISTED)
def test_every_listed_command_loads_and_shows_its_help(
    group: tuple[str, ...], name: str, entry: LazyCommand
) -> None:
    command = entry.load()
    assert command.name == name
    result = CliRunner().invoke(main, [*group, name, "--help"], prog_name="cosell")
    assert result.exit_code == 0, result.output
    assert result.output.startswith(f"Usage: cosell {' '.join((*group, name))} ")


@pytest.mark.parametrize(("group", "name", "entry"), LISTED)
def test_listed_summary_reads_as_the_commands_own(
    group: tuple[str, ...], name: str, entry: LazyCommand
) -> None:
    command, stand_in = entry.load(), entry.listing(name)
    for limit in range(10, 130, 3):
        assert stand_in.get_short_help_str(limit) == command.get_short_help_str(limit)


def test_every_nested_command_shows_its_help() -> None:
    def walk(command: click.Command, path: list[str]) -> list[list[str]]:
        if not isinstance(command, click.Group):
            return [path]
        ctx = click.Context(command)
        found = [path]
        for name in command.list_commands(ctx):
            sub = command.get_command(ctx, name)
            assert sub is not None, [*path, name]
            found += walk(sub, [*path, name])
        return found

    paths = walk(main, [])
    assert ["mapping", "check"] in paths
    assert ["webhooks", "register"] in paths
    for path in paths:
        result = CliRunner().invoke(main, [*path, "--help"], prog_name="cosell")
        assert result.exit_code == 0, (path, result.output)


@pytest.mark.parametrize("group", [[], ["emulate"], ["setup"]], ids=lambda g: " ".join(g) or "root")
def test_group_help_imports_no_command_and_reads_as_when_loaded(group: list[str]) -> None:
    output, modules = probe(*group, "--help")
    assert not loaded_under(modules, HEAVY + HEAVY_LIBRARIES)
    for entry in TABLES[tuple(group)].values():
        entry.load()
    loaded = CliRunner().invoke(main, [*group, "--help"], prog_name="cosell", terminal_width=80)
    assert output == loaded.output


def test_a_command_imports_only_its_own_module() -> None:
    _, modules = probe("emulate", "partner-center", "--help")
    assert "cosell.emulators.partner_center.command" in modules
    assert not loaded_under(modules, ("cosell.emulators.salesforce", "cosell.orgsetup"))


def test_unknown_command_is_refused() -> None:
    result = CliRunner().invoke(main, ["emulate", "nonesuch"])
    assert result.exit_code == 2
    assert "No such command 'nonesuch'" in result.output


def test_python_dash_m_runs_the_command() -> None:
    done = subprocess.run(
        [sys.executable, "-m", "cosell", "--version"], capture_output=True, text=True, timeout=60
    )
    assert done.returncode == 0, done.stderr
    assert done.stdout.strip() == f"cosell, version {__version__}"


def test_mapping_check_does_not_load_the_engine() -> None:
    """``mapping check`` needs the mapping alone, not the store, the clients or the web stack."""
    _, modules = probe("mapping", "check")
    assert "cosell.sync.core.mapping" in modules
    heavy = (
        "cosell.store",
        "cosell.service",
        "cosell.web",
        "cosell.sync.engine.engine",
        "sqlalchemy",
    )
    assert not loaded_under(modules, (*heavy, "httpx", "starlette"))


# Loads, then stops at the first call to a remote (nothing listens on port 9).
OFFLINE_CONFIG = """
[partner_center]
api_url = "http://127.0.0.1:9"
webhook_api_url = "http://127.0.0.1:9"
authority = "http://127.0.0.1:9"
tenant = "t"
client_id = "app"
[salesforce]
instance_url = "http://127.0.0.1:9"
login_url = "http://127.0.0.1:9"
client_id = "c"
auth_mode = "client_credentials"
[service]
database_url = "sqlite:///{database}"
"""


@pytest.mark.parametrize("args", [["sync", "--once"], ["audit", "some-id"], ["status"]])
def test_day_to_day_commands_load_no_web_stack(args: list[str], tmp_path: Path) -> None:
    """Commands an operator runs by hand load neither Starlette, the web package nor the service."""
    config = tmp_path / "cosell.toml"
    config.write_text(OFFLINE_CONFIG.format(database=tmp_path / "cosell.db"))
    env = {k: v for k, v in os.environ.items() if not k.startswith("COSELL_")}
    env |= {"COSELL_PC_CLIENT_SECRET": "s", "COSELL_SF_CLIENT_SECRET": "s"}
    env["COSELL_TOKEN_KEY"] = Fernet.generate_key().decode()
    done = subprocess.run(
        [sys.executable, "-c", PROBE, *args, "--config", str(config)],
        capture_output=True,
        text=True,
        timeout=60,
        env=env,
    )
    report = json.loads(done.stderr.strip().splitlines()[-1])
    assert report["status"] in (0, 1), done.stderr  # 1: a remote refused, after the imports
    modules = set(report["modules"])
    assert "cosell.cli.common" in modules
    assert not loaded_under(modules, ("starlette", "uvicorn", "cosell.web", "cosell.service"))
