import logging
from collections.abc import Iterator
from pathlib import Path

import httpx
import pytest
import structlog
from click.testing import CliRunner
from starlette.applications import Starlette
from starlette.testclient import TestClient

from cosell.cli.common import CommandDeps
from cosell.cli.main import main
from cosell.emulators.partner_center import create_app as partner_center_emulator
from cosell.emulators.partner_center.config import PartnerCenterEmulatorConfig
from cosell.webhooks.events import EVENTS

EMULATOR = PartnerCenterEmulatorConfig()
CONFIG = f"""
[partner_center]
api_url = "http://pc.test"
webhook_api_url = "http://pc.test"
authority = "http://pc.test"
tenant = "{EMULATOR.tenant}"
client_id = "{EMULATOR.client_id}"
auth_mode = "ropc"
username = "{EMULATOR.username}"
"""


@pytest.fixture(autouse=True)
def environment(monkeypatch: pytest.MonkeyPatch) -> None:
    import os

    for name in list(os.environ):
        if name.startswith("COSELL_"):
            monkeypatch.delenv(name)
    monkeypatch.setenv("COSELL_PC_PASSWORD", EMULATOR.password)
    monkeypatch.setenv("COSELL_PC_CLIENT_SECRET", EMULATOR.client_secret)


@pytest.fixture(autouse=True)
def restore_logging() -> Iterator[None]:
    root = logging.getLogger()
    handlers, level = root.handlers[:], root.level
    yield
    root.handlers, root.level = handlers, level
    structlog.reset_defaults()


@pytest.fixture
def config(tmp_path: Path) -> Path:
    path = tmp_path / "cosell.toml"
    path.write_text(CONFIG)
    return path


@pytest.fixture
def emulator() -> Iterator[Starlette]:
    app = partner_center_emulator(EMULATOR)
    yield app
    app.state.emulator.close()


def deps_for(app: Starlette) -> CommandDeps:
    def http(base_url: str, auth: httpx.Auth | None) -> httpx.Client:
        client = TestClient(app, base_url=base_url or "http://testserver")
        client.auth = auth  # type: ignore[assignment]
        return client

    return CommandDeps(http=http)


def cosell(app: Starlette, *args: str) -> tuple[int, str, str]:
    result = CliRunner().invoke(main, list(args), obj=deps_for(app))
    return result.exit_code, result.stdout, result.stderr


def test_register_creates_the_registration_for_the_four_events(
    emulator: Starlette, config: Path
) -> None:
    url = "https://cosell.partner.example/webhooks/partner-center"
    code, out, err = cosell(emulator, "webhooks", "register", "--url", url, "--config", str(config))
    assert (code, err) == (0, "")
    assert f"url: {url}" in out
    for event in EVENTS:
        assert event in out
    code, out, _ = cosell(emulator, "webhooks", "show", "--config", str(config))
    assert code == 0
    assert f"url: {url}" in out


def test_register_again_without_overwrite_names_the_current_url(
    emulator: Starlette, config: Path
) -> None:
    first, second = "https://one.example/webhooks/partner-center", "https://two.example/hook"
    assert cosell(emulator, "webhooks", "register", "--url", first, "--config", str(config))[0] == 0
    code, _, err = cosell(
        emulator, "webhooks", "register", "--url", second, "--config", str(config)
    )
    assert code == 1
    assert first in err
    assert f"--overwrite to point it at {second}" in err
    assert err.startswith("error: ")
    assert len(err.strip().splitlines()) == 1
    assert "url: " + first in cosell(emulator, "webhooks", "show", "--config", str(config))[1]


def test_register_with_overwrite_replaces_it(emulator: Starlette, config: Path) -> None:
    first, second = "https://one.example/webhooks/partner-center", "https://two.example/hook"
    cosell(emulator, "webhooks", "register", "--url", first, "--config", str(config))
    code, out, _ = cosell(
        emulator, "webhooks", "register", "--url", second, "--overwrite", "--config", str(config)
    )
    assert code == 0
    assert f"url: {second}" in out
    assert f"url: {second}" in cosell(emulator, "webhooks", "show", "--config", str(config))[1]


def test_show_without_registration_fails_cleanly(emulator: Starlette, config: Path) -> None:
    code, _, err = cosell(emulator, "webhooks", "show", "--config", str(config))
    assert code == 1
    assert err.startswith("error: ")


def test_test_event_is_requested_and_checked(emulator: Starlette, config: Path) -> None:
    url = "https://cosell.partner.example/webhooks/partner-center"
    args = ("--url", url, "--include-test-event", "--config", str(config))
    assert cosell(emulator, "webhooks", "register", *args)[0] == 0
    code, out, _ = cosell(emulator, "webhooks", "test", "--config", str(config))
    assert code == 0
    correlation_id = out.rsplit("--check ", 1)[1].strip()
    code, out, _ = cosell(
        emulator, "webhooks", "test", "--check", correlation_id, "--config", str(config)
    )
    assert code == 0
    assert out.startswith("status: ")


def test_bad_config_is_one_line_naming_the_key_and_exit_2(tmp_path: Path) -> None:
    path = tmp_path / "bad.toml"
    path.write_text('[salesforce]\ninstance_url = 5\n[service]\nport = "eighty"\n')
    result = CliRunner().invoke(main, ["run", "--config", str(path)])
    assert result.exit_code == 2
    assert result.stderr.strip().splitlines() == [result.stderr.strip()]
    assert "salesforce.instance_url" in result.stderr or "service.port" in result.stderr


def test_missing_sign_in_setting_is_named_before_anything_starts(tmp_path: Path) -> None:
    path = tmp_path / "cosell.toml"
    path.write_text('[partner_center]\nclient_id = "app"\n')
    result = CliRunner().invoke(
        main, ["run", "--config", str(path)], obj=CommandDeps(handler_factory=lambda parts: print)
    )
    assert result.exit_code == 2
    assert result.stderr.startswith("error: salesforce.instance_url: required")


def test_register_needs_a_url(config: Path, emulator: Starlette) -> None:
    code, _, err = cosell(emulator, "webhooks", "register", "--config", str(config))
    assert code == 2
    assert "webhook_public_url" in err
