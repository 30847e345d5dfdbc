"""Real headless Chromium for the console's browser tests: Debian's ``chromium`` package driven
by Playwright for Python through its executable path. When it is missing and this process may
install packages (root, apt-get), it is installed; otherwise the tests skip saying why."""

from __future__ import annotations

import os
import shutil
import subprocess
import tarfile
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


AXE_VERSION = "4.14.1"
AXE_DIR = Path(os.environ.get("COSELL_AXE_DIR", "build/axe-core"))


def axe_source() -> tuple[str | None, str]:
    """axe-core's script (from the npm registry, cached under ``build/``), or why it is missing."""
    script = AXE_DIR / f"axe-{AXE_VERSION}.min.js"
    if not script.exists():
        npm = shutil.which("npm")
        if npm is None:
            return None, "npm is not installed, so axe-core cannot be fetched"
        AXE_DIR.mkdir(parents=True, exist_ok=True)
        packed = subprocess.run(
            [npm, "pack", "--silent", f"axe-core@{AXE_VERSION}"],
            cwd=AXE_DIR,
            capture_output=True,
            text=True,
            timeout=300,
        )
        if packed.returncode != 0:
            return None, f"npm pack axe-core failed: {packed.stderr.strip()[-300:]}"
        tarball = AXE_DIR / packed.stdout.strip().splitlines()[-1]
        with tarfile.open(tarball) as archive:
            member = archive.extractfile("package/axe.min.js")
            assert member is not None
            script.write_bytes(member.read())
    return script.read_text(), ""
