"""The sandbox's ``cosell.toml``: read back by ``load_settings`` with the secrets from the
environment, it gives the same settings the sandbox runs with, and it holds no secret."""

from __future__ import annotations

from pathlib import Path
from types import SimpleNamespace
from typing import Any, cast

import pytest

from cosell.emulators.partner_center import PartnerCenterEmulatorConfig
from cosell.emulators.salesforce import SalesforceEmulatorConfig
from cosell.sandbox.connector import (
    build_settings,
    config_data,
    secret_env,
    write_config,
    write_secrets,
)
from cosell.sandbox.emulators import Emulators
from cosell.settings import load_settings


def emulators() -> Emulators:
    pc = SimpleNamespace(url="http://127.0.0.1:18601")
    sf = SimpleNamespace(url="http://127.0.0.1:18602")
    fake: Any = SimpleNamespace(
        partner_center=pc,
        salesforce=sf,
        pc_config=PartnerCenterEmulatorConfig(public_url=pc.url),
        sf_config=SalesforceEmulatorConfig(public_url=sf.url),
    )
    return cast(Emulators, fake)


@pytest.fixture(autouse=True)
def no_cosell_environment(monkeypatch: pytest.MonkeyPatch) -> None:
    import os

    for name in list(os.environ):
        if name.startswith("COSELL_"):
            monkeypatch.delenv(name)


def test_written_config_reads_back_as_the_sandbox_settings(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    both = emulators()
    data, secrets = config_data(both, tmp_path, 0), secret_env(both)
    path = tmp_path / "cosell.toml"
    write_config(path, data)
    text = path.read_text()
    for value in secrets.values():
        assert value not in text
    for name, value in secrets.items():
        monkeypatch.setenv(name, value)
    assert load_settings(path) == build_settings(data, secrets)


def test_the_written_config_finds_the_secrets_without_any_exported(tmp_path: Path) -> None:
    both = emulators()
    data, secrets = config_data(both, tmp_path, 0), secret_env(both)
    write_secrets(tmp_path, data, secrets)
    path = tmp_path / "cosell.toml"
    write_config(path, data)
    text = path.read_text()
    for value in secrets.values():
        assert value not in text
    assert (tmp_path / "secrets.json").stat().st_mode & 0o777 == 0o600
    settings = load_settings(path)
    assert settings.partner_center.password == build_settings(data, secrets).partner_center.password
    assert settings.salesforce.password is not None
    assert settings.salesforce.password.get_secret_value() == secrets["COSELL_SF_PASSWORD"]


def test_settings_point_at_both_emulators_and_trust_the_emulator_ca(tmp_path: Path) -> None:
    both = emulators()
    settings = build_settings(config_data(both, tmp_path, 0), secret_env(both))
    settings.require_partner_center()
    settings.require_salesforce()
    assert settings.partner_center.api_url == "http://127.0.0.1:18601"
    assert settings.partner_center.webhook_trust_ca == "http://127.0.0.1:18601/_emulator/ca.pem"
    assert settings.salesforce.instance_url == "http://127.0.0.1:18602"
    assert settings.database_url == f"sqlite:///{tmp_path / 'cosell.db'}"


def test_environment_overrides_the_sandbox_timings(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("COSELL_SYNC__SWEEP_INTERVAL", "2.5")
    both = emulators()
    settings = build_settings(config_data(both, tmp_path, 0), secret_env(both))
    assert settings.sync.sweep_interval == 2.5
