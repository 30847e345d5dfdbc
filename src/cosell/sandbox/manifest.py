"""``sandbox.json``: where everything in a running sandbox is and how to sign in to it.

Written once everything is up (atomically), removed when the sandbox stops: its presence means
"ready", so scripts and tests wait for it.
"""

from __future__ import annotations

import json
import os
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from cosell.clients.salesforce_auth import TOKEN_PATH
from cosell.files import write_atomically
from cosell.sandbox.emulators import Emulators
from cosell.webhooks.events import PATH

MANIFEST_FILE = "sandbox.json"


@dataclass(frozen=True)
class Places:
    """The running sandbox's state directory and the connector's address."""

    state_dir: Path
    connector_url: str
    database_url: str
    config_file: Path


def manifest(
    emulators: Emulators, places: Places, env: dict[str, str], seeded: dict[str, Any]
) -> dict[str, Any]:
    """The manifest's content."""
    pc, sf = emulators.pc_config, emulators.sf_config
    pc_url, sf_url = emulators.partner_center.url, emulators.salesforce.url
    return {
        "connector": {
            "url": places.connector_url,
            "webhook_url": f"{places.connector_url}{PATH}",
            "status_url": f"{places.connector_url}/",
            "health_url": f"{places.connector_url}/healthz",
            "metrics_url": f"{places.connector_url}/metrics",
        },
        "partner_center": {
            "url": pc_url,
            "token_url": f"{pc_url}/{pc.tenant}/oauth2/token",
            "resource": "https://api.partner.microsoft.com",
            "client_id": pc.client_id,
            "client_secret": pc.client_secret,
            "username": pc.username,
            "password": pc.password,
            "tenant": pc.tenant,
            "control_url": f"{pc_url}/_emulator",
        },
        "salesforce": {
            "url": sf_url,
            "token_url": f"{sf_url}{TOKEN_PATH}",
            "client_id": sf.client_id,
            "client_secret": sf.client_secret,
            "username": sf.username,
            "password": sf.password,
            "control_url": f"{sf_url}/_emulator",
        },
        "state_dir": str(places.state_dir),
        "database_url": places.database_url,
        "config_file": str(places.config_file),
        "env": env,
        "pid": os.getpid(),
        "seeded": seeded,
    }


def write_manifest(path: Path, content: dict[str, Any]) -> None:
    """Write atomically: a reader never sees half a file."""
    write_atomically(path, json.dumps(content, indent=2), prefix=".sandbox-")
