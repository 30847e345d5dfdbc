"""A whole sandbox: both emulators, the org set up, the connector running, its webhook
registered, demo data seeded, and ``sandbox.json`` written — then stopped in the reverse order."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import time
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from sqlalchemy import Engine

from cosell.clients.connect import default_http, salesforce_client
from cosell.clock import Clock, SystemClock
from cosell.errors import ConfigError
from cosell.private_files import private_dir
from cosell.queue.distributed import worker_mark, workers_since
from cosell.sandbox import connector
from cosell.sandbox.crash import crashing_http
from cosell.sandbox.emulators import Emulators, start_emulators
from cosell.sandbox.manifest import MANIFEST_FILE, Places, manifest, write_manifest
from cosell.sandbox.seed import seed
from cosell.service.runtime import Role, Runtime
from cosell.settings import Settings
from cosell.store.database import make_engine


@dataclass(frozen=True)
class SandboxOptions:
    """What ``cosell sandbox`` was asked for (port 0: a free port)."""

    state_dir: Path
    port: int = 8600
    pc_port: int = 8601
    sf_port: int = 8602
    seed: bool = True
    crash_after: str | None = None
    database_url: str | None = None
    """PostgreSQL for the scale-out shape: this process serves ``cosell web``, and ``workers``
    ``cosell worker`` processes reconcile through procrastinate."""
    workers: int = 2


class Sandbox:
    """Starts everything in a safe order; ``stop()`` drains the connector, then the emulators."""

    def __init__(self, options: SandboxOptions, clock: Clock | None = None) -> None:
        self.options = options
        self.clock = clock or SystemClock()
        self._follow_emulator = clock is None
        self.state_dir = options.state_dir.resolve()
        self.manifest_path = self.state_dir / MANIFEST_FILE
        self.emulators: Emulators | None = None
        self.runtime: Runtime | None = None
        self.worker_processes: list[subprocess.Popen[bytes]] = []
        self.content: dict[str, Any] = {}

    def start(self) -> dict[str, Any]:
        """Bring everything up; returns the manifest written to ``sandbox.json``."""
        private_dir(self.state_dir)
        self.manifest_path.unlink(missing_ok=True)
        self.emulators = emulators = start_emulators(
            self.state_dir, self.options.pc_port, self.options.sf_port
        )
        if self._follow_emulator:
            # The connector runs on the emulators' time, so expiry warnings can be seen.
            self.clock = emulators.pc_app.state.emulator.clock
        data = connector.config_data(emulators, self.state_dir, self.options.port)
        if self.options.database_url:
            data["service"]["database_url"] = self.options.database_url
            data["service"]["queue"] = "procrastinate"
        config_file = self.state_dir / connector.CONFIG_FILE
        env = connector.secret_env(emulators)
        connector.write_secrets(self.state_dir, data, env)
        connector.write_config(config_file, data)
        settings = connector.build_settings(data, env)
        self._prepare_org(settings)
        self.runtime = self._run_connector(settings)
        if self.options.database_url:
            self._start_workers(config_file, env, self.options.database_url)
        url = self.runtime.server.address if self.runtime.server else ""
        connector.register_webhook(settings, self.clock, url)
        seeded = self._seed(settings, emulators) if self._should_seed(emulators) else {}
        places = Places(self.state_dir, url, settings.database_url, config_file)
        self.content = manifest(emulators, places, env, seeded)
        write_manifest(self.manifest_path, self.content)
        return self.content

    def _prepare_org(self, settings: Settings) -> None:
        """What ``cosell setup salesforce`` does (fields, object, access, the mapping's stages)."""
        report = connector.set_up_salesforce(settings)
        failed = report.with_status("missing", "differs", "failed")
        if failed:
            problems = "; ".join(f"{f.kind} {f.name}: {f.status} {f.detail}" for f in failed)
            raise ConfigError("salesforce", f"the emulated org could not be set up: {problems}")

    def _run_connector(self, settings: Settings) -> Runtime:
        point = self.options.crash_after
        http = crashing_http(point) if point else default_http
        role: Role = "web" if self.options.database_url else "all"
        return connector.start_service(settings, self.clock, http, role)

    def _start_workers(self, config_file: Path, secrets: dict[str, str], database_url: str) -> None:
        """``cosell worker`` processes on the sandbox's configuration (secrets in their
        environment, as a deployment would pass them)."""
        env = {**os.environ, **secrets}
        command = [sys.executable, "-m", "cosell", "worker", "--config", str(config_file)]
        engine = make_engine(database_url)
        try:
            mark = worker_mark(engine)
            for _ in range(self.options.workers):
                self.worker_processes.append(subprocess.Popen(command, env=env))  # noqa: S603
            self._await_workers(engine, mark)
        finally:
            engine.dispose()

    def _await_workers(self, engine: Engine, mark: int, timeout: float = 120.0) -> None:
        """Return once every worker serves (registered with procrastinate), so the sandbox is
        ready only when it can reconcile, and a stop never lands on a worker still starting."""
        deadline = time.monotonic() + timeout
        while workers_since(engine, mark) < len(self.worker_processes):
            ended = [p.returncode for p in self.worker_processes if p.poll() is not None]
            if ended:
                raise ConfigError(
                    "service", f"a sandbox worker ended while starting: exit {ended[0]}"
                )
            if time.monotonic() > deadline:
                raise ConfigError(
                    "service", f"the sandbox workers did not start in {timeout:.0f} s"
                )
            time.sleep(0.2)

    def _stop_workers(self, timeout: float = 60.0) -> bool:
        """SIGTERM each worker (in-flight reconciles finish); True when all ended cleanly."""
        for process in self.worker_processes:
            if process.poll() is None:
                process.send_signal(signal.SIGTERM)
        clean = True
        for process in self.worker_processes:
            try:
                clean = process.wait(timeout) == 0 and clean
            except subprocess.TimeoutExpired:
                process.kill()
                process.wait()
                clean = False
        self.worker_processes = []
        return clean

    def _should_seed(self, emulators: Emulators) -> bool:
        return self.options.seed and not emulators.restored

    def _seed(self, settings: Settings, emulators: Emulators) -> dict[str, Any]:
        with connector.opened_clients() as http:
            crm = salesforce_client(settings, self.clock, http)
            seeded = seed(emulators.partner_center.url, crm, self.clock.now().date())
        return seeded.as_dict()

    def stop(self) -> bool:
        """Stop the connector (in-flight reconciles finish), then the emulators."""
        drained = self._stop_workers()
        if self.runtime is not None:
            drained = self.runtime.stop() and drained
            self.runtime = None
        if self.emulators is not None:
            self.emulators.stop()
            self.emulators.pc_app.state.emulator.close()
            self.emulators = None
        self.manifest_path.unlink(missing_ok=True)
        return drained
