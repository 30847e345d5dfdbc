"""``cosell sandbox`` as a subprocess: started on free ports, awaited by its ``sandbox.json``,
stopped with SIGTERM (or killed) — always, by the fixtures' finalizers."""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any, TypeVar

from support.wait import wait_until

T = TypeVar("T")
START_DEADLINE = 60.0
STOP_DEADLINE = 60.0
SETTLE_SECONDS = 3
"""The feeds' settle window in these tests (the service default is 10 s)."""
FAST_SIGNALS = {
    "COSELL_SYNC__POLL_MIN_INTERVAL": "0.2",
    "COSELL_SYNC__POLL_MAX_INTERVAL": "0.5",
    "COSELL_SYNC__SWEEP_INTERVAL": "1.0",
    "COSELL_SYNC__SETTLE_SECONDS": str(SETTLE_SECONDS),
}
"""Quick signals so conditions converge in seconds (environment overrides the sandbox's own)."""


def cosell_env(extra: dict[str, str] | None = None) -> dict[str, str]:
    """The parent environment without any COSELL_ settings, plus ``extra``."""
    env = {k: v for k, v in os.environ.items() if not k.startswith("COSELL_")}
    return {**env, **(extra or {})}


class SandboxProcess:
    """One running ``cosell sandbox``; ``manifest`` is its ``sandbox.json``."""

    def __init__(self, state_dir: Path, *args: str, env: dict[str, str] | None = None) -> None:
        self.state_dir = state_dir
        self.manifest_path = state_dir / "sandbox.json"
        self.log_path = state_dir.parent / f"{state_dir.name}-sandbox.log"
        command = [sys.executable, "-m", "cosell", "sandbox", "--port", "0", "--pc-port", "0"]
        command += ["--sf-port", "0", "--state-dir", str(state_dir), *args]
        state_dir.parent.mkdir(parents=True, exist_ok=True)
        self._log = self.log_path.open("ab")
        environment = cosell_env({**FAST_SIGNALS, **(env or {})})
        self.process = subprocess.Popen(
            command, stdout=self._log, stderr=subprocess.STDOUT, env=environment
        )
        self.manifest: dict[str, Any] = {}

    def wait_ready(self, deadline: float = START_DEADLINE) -> dict[str, Any]:
        def ready() -> dict[str, Any] | None:
            if self.process.poll() is not None:
                raise AssertionError(f"sandbox exited {self.process.returncode}: {self.log()}")
            if not self.manifest_path.exists():
                return None
            content: dict[str, Any] = json.loads(self.manifest_path.read_text())
            return content if content.get("pid") == self.process.pid else None

        self.manifest = wait_until(ready, deadline, 0.1, "sandbox.json")
        return self.manifest

    def log(self) -> str:
        return self.log_path.read_text(errors="replace")[-4000:]

    def stop(self, deadline: float = STOP_DEADLINE) -> int:
        """SIGTERM and wait; the exit status."""
        if self.process.poll() is None:
            self.process.send_signal(signal.SIGTERM)
            try:
                self.process.wait(deadline)
            except subprocess.TimeoutExpired:
                self.process.kill()
                self.process.wait(10)
        self._log.close()
        return self.process.returncode

    def kill(self) -> None:
        """SIGKILL: no chance to finish anything."""
        if self.process.poll() is None:
            self.process.kill()
        self.process.wait(10)
        self._log.close()


@contextmanager
def running_sandbox(state_dir: Path, *args: str, **kwargs: Any) -> Iterator[SandboxProcess]:
    """Start, wait for ``sandbox.json``, and always stop."""
    sandbox = SandboxProcess(state_dir, *args, **kwargs)
    try:
        sandbox.wait_ready()
        yield sandbox
    finally:
        sandbox.stop()
