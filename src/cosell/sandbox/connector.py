"""The connector half of a sandbox: its settings, the org setup, the service and its webhook.

Each step runs the same code as the command a user would run against real services:
``cosell setup salesforce`` (``orgsetup``), ``cosell run`` (``build_runtime``) and
``cosell webhooks register`` (``register_or_overwrite``).
"""

from __future__ import annotations

import json
from collections.abc import Iterator, Mapping
from contextlib import contextmanager
from pathlib import Path
from typing import Any

import httpx

from cosell.clients.connect import HttpFactory, default_http, partner_center_client
from cosell.clients.salesforce_auth import TOKEN_PATH, PasswordGrant
from cosell.clock import Clock
from cosell.errors import ConfigError
from cosell.files import write_atomically
from cosell.orgsetup.connect import connect
from cosell.orgsetup.salesforce import Report
from cosell.orgsetup.spec import connector_spec_for
from cosell.sandbox.emulators import Emulators
from cosell.service.runtime import Role, Runtime, build_runtime
from cosell.settings import SECRET_ENV, Settings
from cosell.sync.core.mapping import SyncMapping, default_mapping, load_mapping
from cosell.sync.engine.engine import queue_handler
from cosell.webhooks.events import EVENTS, PATH

CONFIG_FILE = "cosell.toml"
SECRETS_FILE = "secrets.json"
"""The sandbox's secrets (0600), named by ``service.secrets_file`` in its ``cosell.toml``, so
``cosell … --config STATE_DIR/cosell.toml`` needs nothing exported."""
SYNC_DEFAULTS = {
    "poll_min_interval": 0.5,
    "poll_max_interval": 2.0,
    "related_poll_interval": 2.0,
    "settle_seconds": 3.0,
    "sweep_interval": 30.0,
    "expiry_watch_interval": 60.0,
}
"""Quicker signals than production: a sandbox answers within seconds and has no API budget."""


def config_data(emulators: Emulators, state_dir: Path, port: int) -> dict[str, Any]:
    """The connector's configuration (secrets excluded) pointing at both emulators."""
    pc, sf = emulators.pc_config, emulators.sf_config
    pc_url, sf_url = emulators.partner_center.url, emulators.salesforce.url
    return {
        "tenant": {"name": "sandbox"},
        "service": {
            "host": "127.0.0.1",
            "port": port,
            "state_dir": str(state_dir),
            "dashboard_sign_in": False,
        },
        "partner_center": {
            "api_url": pc_url,
            "portal_url": pc_url,
            "webhook_api_url": pc_url,
            "authority": pc_url,
            "tenant": pc.tenant,
            "client_id": pc.client_id,
            "auth_mode": "ropc",
            "username": pc.username,
            "webhook_trust_ca": f"{pc_url}/_emulator/ca.pem",
            "emulated_clock": True,
        },
        "salesforce": {
            "instance_url": sf_url,
            "login_url": sf_url,
            "client_id": sf.client_id,
            "auth_mode": "password",
            "username": sf.username,
        },
        "sync": dict(SYNC_DEFAULTS),
    }


def secret_env(emulators: Emulators) -> dict[str, str]:
    """The secrets as the environment variables ``cosell`` reads them from."""
    pc, sf = emulators.pc_config, emulators.sf_config
    values = {
        ("partner_center", "client_secret"): pc.client_secret,
        ("partner_center", "password"): pc.password,
        ("salesforce", "client_secret"): sf.client_secret,
        ("salesforce", "password"): sf.password,
    }
    return {name: values[place] for name, place in SECRET_ENV.items() if place in values}


def build_settings(data: Mapping[str, Any], secrets: Mapping[str, str]) -> Settings:
    """Settings from ``data`` plus the secrets; ``COSELL_…`` environment variables still win."""
    merged: dict[str, Any] = {section: dict(values) for section, values in data.items()}
    for name, value in secrets.items():
        section, key = SECRET_ENV[name]
        merged[section].setdefault(key, value)
    return Settings(**merged)


def write_secrets(state_dir: Path, data: dict[str, Any], secrets: Mapping[str, str]) -> None:
    """Keep the secrets in ``STATE_DIR/secrets.json`` (0600) and name it in ``data``."""
    path = state_dir / SECRETS_FILE
    write_atomically(path, json.dumps(dict(secrets), indent=2, sort_keys=True) + "\n")
    data["service"]["secrets_file"] = str(path)


def write_config(path: Path, data: Mapping[str, Any]) -> None:
    """``cosell.toml`` for ``cosell run/sync --config`` (secrets: ``secrets.json`` beside it;
    ``COSELL_…`` environment variables still win)."""
    lines = ["# Written by `cosell sandbox`; secrets: service.secrets_file.", ""]
    for section, values in data.items():
        lines.append(f"[{section}]")
        lines += [f"{key} = {_toml_value(value)}" for key, value in values.items()]
        lines.append("")
    path.write_text("\n".join(lines), encoding="utf-8")


def _toml_value(value: object) -> str:
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, int | float):
        return repr(value)
    return json.dumps(str(value))  # a JSON string is a valid TOML basic string


@contextmanager
def opened_clients() -> Iterator[HttpFactory]:
    opened: list[httpx.Client] = []

    def make(base_url: str, auth: httpx.Auth | None = None) -> httpx.Client:
        client = default_http(base_url, auth)
        opened.append(client)
        return client

    try:
        yield make
    finally:
        for client in opened:
            client.close()


def mapping_of(settings: Settings) -> SyncMapping:
    """The configured mapping file, or the shipped default."""
    path = settings.sync.mapping_file
    return load_mapping(path) if path is not None else default_mapping()


def set_up_salesforce(settings: Settings) -> Report:
    """What ``cosell setup salesforce`` does: the fields, object, field access and stages the
    mapping needs."""
    sf = settings.salesforce
    secret, password = sf.client_secret, sf.password
    if secret is None or password is None:
        raise ConfigError("salesforce.password", "the sandbox needs the emulator's credentials")
    grant = PasswordGrant(
        str(sf.client_id), secret.get_secret_value(), str(sf.username), password.get_secret_value()
    )
    token_url = f"{sf.login_url.rstrip('/')}{TOKEN_PATH}"
    with opened_clients() as http:
        setup = connect(
            lambda base: http(base, None),
            grant,
            token_url,
            sf.instance_url,
            sf.api_version,
            connector_spec_for(mapping_of(settings)),
        )
        return setup.apply()


def register_webhook(settings: Settings, clock: Clock, receiver_url: str) -> None:
    """What ``cosell webhooks register --overwrite`` does, for the receiver's URL."""
    with opened_clients() as http:
        client = partner_center_client(settings, clock, http)
        client.register_or_overwrite(f"{receiver_url}{PATH}", list(EVENTS), overwrite=True)


def start_service(
    settings: Settings, clock: Clock, http: HttpFactory = default_http, role: Role = "all"
) -> Runtime:
    """What ``cosell run`` (or ``cosell web``) runs, started."""
    runtime = build_runtime(settings, queue_handler, clock=clock, http=http, role=role)
    runtime.start()
    return runtime
