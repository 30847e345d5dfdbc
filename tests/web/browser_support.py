"""Real headless Chromium for the console's browser tests: Debian's ``chromium`` package driven
by Playwright for Python through its executable path. When it is missing and this process may
install packages (root, apt-get), it is installed; otherwise the tests skip saying why."""

from __future__ import annotations

import os
import shutil
import subprocess
from pathlib import Path

CHROMIUM = Path("/usr/bin/chromium")
ARGS = [
    "--headless",
    "--no-sandbox",
    "--disable-gpu",
    "--disable-quic",
    "--no-first-run",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
]
SCREENSHOTS = Path(os.environ.get("COSELL_SCREENSHOTS", "build/screenshots"))


def ensure_chromium() -> str | None:
    """The reason Chromium cannot be had, or ``None`` once ``/usr/bin/chromium`` exists."""
    if CHROMIUM.exists():
        return None
    apt = shutil.which("apt-get")
    if apt is None or os.geteuid() != 0:
        return "Chromium is not installed and this process cannot apt-get install it (not root)"
    env = os.environ | {"DEBIAN_FRONTEND": "noninteractive"}
    for step in ([apt, "update", "-qq"], [apt, "install", "-y", "-qq", "chromium"]):
        done = subprocess.run(step, env=env, capture_output=True, text=True, timeout=900)
        if done.returncode != 0:
            return f"apt-get could not install chromium: {done.stderr.strip()[-300:]}"
    return None if CHROMIUM.exists() else "apt-get ran but /usr/bin/chromium is still missing"
