"""``cosell sandbox --crm hubspot``: Partner Center's and HubSpot's emulators and the connector
between them, with the portal set up (``cosell setup hubspot``), the Partner Center webhook
registered and ``sandbox.json`` written; stopped in the reverse order.

The HubSpot emulator keeps its portal in memory (a restarted sandbox starts an empty portal);
the connector learns HubSpot changes from the app's signed webhook deliveries (subscribed here,
as a developer does in the app's settings) and from its deal poll.
"""

from __future__ import annotations

import os
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import httpx
from starlette.applications import Starlette

from cosell.clients.connect import hubspot_client
from cosell.clock import Clock, SystemClock
from cosell.emulators.hubspot import HubSpotEmulatorConfig
from cosell.emulators.hubspot import create_app as hubspot_app
from cosell.emulators.partner_center import PartnerCenterEmulatorConfig
from cosell.emulators.partner_center import create_app as partner_center_app
from cosell.errors import ConfigError
from cosell.orgsetup.hubspot import PortalSetup
from cosell.orgsetup.hubspot_spec import portal_spec_for, webhook_subscriptions
from cosell.private_files import private_dir
from cosell.sandbox import connector
from cosell.sandbox.emulators import PC_STATE_FILE
from cosell.sandbox.manifest import MANIFEST_FILE, write_manifest
from cosell.sandbox.servers import ServedApp, bind
from cosell.service.runtime import Runtime
from cosell.settings import Settings
from cosell.sync.engine.engine import mapping_from_settings
from cosell.web.hubspot_receiver import PATH as HUBSPOT_WEBHOOK_PATH
from cosell.webhooks.events import PATH


@dataclass(frozen=True)
class Prepared:
    """A stack set up but not yet connected (see :meth:`HubSpotSandbox.prepare`)."""

    partner_center: PartnerCenterEmulatorConfig
    hubspot: HubSpotEmulatorConfig
    settings: Settings
    config_file: Path
    env: dict[str, str]


class HubSpotSandbox:
    """Starts everything in a safe order; ``stop()`` drains the connector, then the emulators."""

    def __init__(
        self,
        state_dir: Path,
        ports: tuple[int, int, int],
        clock: Clock | None = None,
        database_url: str | None = None,
    ) -> None:
        self.state_dir = state_dir.resolve()
        self.database_url = database_url
        """The store's database (``service.database_url``); None: SQLite in ``state_dir``."""
        self.port, self.pc_port, self.hs_port = ports
        self.clock = clock or SystemClock()
        self.manifest_path = self.state_dir / MANIFEST_FILE
        self.served: list[ServedApp] = []
        self.pc_app: Starlette | None = None
        self.runtime: Runtime | None = None

    def start(self) -> dict[str, Any]:
        prepared = self.prepare()
        self.runtime = connector.start_service(prepared.settings, self.clock)
        url = self.runtime.server.address if self.runtime.server else ""
        self.connect(prepared, url)
        content = self.manifest_for(prepared, url)
        write_manifest(self.manifest_path, content)
        return content

    def prepare(self) -> Prepared:
        """Both emulators served, the connector's configuration and secrets written and the
        portal set up: all but the service, which :meth:`start` runs in this process (a soak
        runs ``cosell run`` in its own, then calls :meth:`connect`)."""
        private_dir(self.state_dir)
        self.manifest_path.unlink(missing_ok=True)
        pc_config, hs_config = self._serve()
        data = self._config(pc_config, hs_config)
        config_file = self.state_dir / connector.CONFIG_FILE
        env = self._env(pc_config, hs_config)
        connector.write_secrets(self.state_dir, data, env)
        connector.write_config(config_file, data)
        settings = connector.build_settings(data, env)
        self._prepare_portal(settings)
        return Prepared(pc_config, hs_config, settings, config_file, env)

    def connect(self, prepared: Prepared, url: str) -> None:
        """Partner Center's webhook registered and HubSpot's app subscribed, both at ``url``
        (the service answering there)."""
        connector.register_webhook(prepared.settings, self.clock, url)
        target = f"{url}{HUBSPOT_WEBHOOK_PATH}"
        self._subscribe(prepared.settings, prepared.hubspot, target)

    def manifest_for(self, prepared: Prepared, url: str) -> dict[str, Any]:
        """What ``sandbox.json`` says of this stack with the service at ``url``."""
        return self._manifest(
            prepared.partner_center,
            prepared.hubspot,
            url,
            prepared.settings,
            prepared.config_file,
            prepared.env,
        )

    def _serve(self) -> tuple[PartnerCenterEmulatorConfig, HubSpotEmulatorConfig]:
        pc_served = ServedApp("partner-center", bind(self.pc_port))
        self.served.append(pc_served)
        hs_served = ServedApp("hubspot", bind(self.hs_port))
        self.served.append(hs_served)
        pc_file = self.state_dir / PC_STATE_FILE
        pc_config = PartnerCenterEmulatorConfig(public_url=pc_served.url, state_file=pc_file)
        hs_config = HubSpotEmulatorConfig(public_url=hs_served.url)
        self.pc_app = partner_center_app(pc_config)
        pc_served.start(self.pc_app)
        hs_served.start(hubspot_app(hs_config))
        return pc_config, hs_config

    def _config(self, pc: PartnerCenterEmulatorConfig, hs: HubSpotEmulatorConfig) -> dict[str, Any]:
        pc_url = pc.base_url
        service: dict[str, Any] = {
            "host": "127.0.0.1",
            "port": self.port,
            "state_dir": str(self.state_dir),
            "dashboard_sign_in": False,
        }
        if self.database_url is not None:
            service["database_url"] = self.database_url
        return {
            "tenant": {"name": "sandbox"},
            "service": service,
            "partner_center": {
                "api_url": pc_url,
                "webhook_api_url": pc_url,
                "authority": pc_url,
                "tenant": pc.tenant,
                "client_id": pc.client_id,
                "auth_mode": "ropc",
                "username": pc.username,
                "webhook_trust_ca": f"{pc_url}/_emulator/ca.pem",
            },
            "hubspot": {
                "api_url": hs.base_url,
                "auth_mode": "private_app",
                "pipeline": "default",
                "webhooks": True,
                "app_id": hs.app_id,
            },
            "sync": {**connector.SYNC_DEFAULTS, "crm": "hubspot"},
        }

    def _env(self, pc: PartnerCenterEmulatorConfig, hs: HubSpotEmulatorConfig) -> dict[str, str]:
        return {
            "COSELL_PC_CLIENT_SECRET": pc.client_secret,
            "COSELL_PC_PASSWORD": pc.password,
            "COSELL_HS_TOKEN": hs.private_app_token,
            "COSELL_HS_CLIENT_SECRET": hs.client_secret,
        }

    def _prepare_portal(self, settings: Settings) -> None:
        """What ``cosell setup hubspot`` does: the property group, properties and stages."""
        with connector.opened_clients() as http:
            client = hubspot_client(settings, self.clock, http)
            spec = portal_spec_for(mapping_from_settings(settings), settings.hubspot.pipeline)
            report = PortalSetup(client, spec).apply()
        failed = report.with_status("missing", "differs", "failed")
        if failed:
            problems = "; ".join(f"{f.kind} {f.name}: {f.status} {f.detail}" for f in failed)
            raise ConfigError("hubspot", f"the emulated portal could not be set up: {problems}")

    def _subscribe(self, settings: Settings, hs: HubSpotEmulatorConfig, target: str) -> None:
        """The app's webhook target and subscriptions, through HubSpot's management API (the
        developer API key, as for a public app)."""
        app = f"{hs.base_url}/webhooks/v3/{hs.app_id}"
        key = {"hapikey": hs.developer_api_key}
        with httpx.Client(timeout=30) as http:
            http.put(f"{app}/settings", params=key, json={"targetUrl": target}).raise_for_status()
            for subscription in webhook_subscriptions(mapping_from_settings(settings)):
                answer = http.post(f"{app}/subscriptions", params=key, json=subscription)
                answer.raise_for_status()

    def _manifest(
        self,
        pc: PartnerCenterEmulatorConfig,
        hs: HubSpotEmulatorConfig,
        url: str,
        settings: Settings,
        config_file: Path,
        env: dict[str, str],
    ) -> dict[str, Any]:
        pc_url = pc.base_url
        return {
            "crm": "hubspot",
            "connector": {
                "url": url,
                "webhook_url": f"{url}{PATH}",
                "hubspot_webhook_url": f"{url}{HUBSPOT_WEBHOOK_PATH}",
                "status_url": f"{url}/",
                "health_url": f"{url}/healthz",
                "metrics_url": f"{url}/metrics",
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
            "hubspot": {
                "url": hs.base_url,
                "token": hs.private_app_token,
                "portal_id": hs.portal_id,
                "app_id": hs.app_id,
                "control_url": f"{hs.base_url}/_emulator",
            },
            "state_dir": str(self.state_dir),
            "database_url": settings.database_url,
            "config_file": str(config_file),
            "env": env,
            "pid": os.getpid(),
            "seeded": {},
        }

    def stop(self) -> bool:
        drained = True
        if self.runtime is not None:
            drained = self.runtime.stop()
            self.runtime = None
        for served in reversed(self.served):
            served.stop()
        self.served.clear()
        if self.pc_app is not None:
            self.pc_app.state.emulator.close()
            self.pc_app = None
        self.manifest_path.unlink(missing_ok=True)
        return drained
