"""cosell's own directories and files are its user's alone: directories 0700, files 0600.

The state directory holds the SQLite database (records, audit, console users and sessions), the
Partner Center refresh token, the console's session key and the sandbox's keys; none of them may
be readable by other local users, whatever the umask. Existing directories and files are
tightened when cosell opens them, so a deployment made before this rule is fixed on its next start.
"""

from __future__ import annotations

import contextlib
import os
from pathlib import Path

DIRECTORY_MODE = 0o700
FILE_MODE = 0o600


def private_dir(path: Path) -> Path:
    """``path`` created if missing (with its parents) and set to 0700."""
    path.mkdir(mode=DIRECTORY_MODE, parents=True, exist_ok=True)
    os.chmod(path, DIRECTORY_MODE)
    return path


def private_file(path: Path) -> Path:
    """``path`` created empty if missing and set to 0600 (its contents are left alone)."""
    fd = os.open(path, os.O_WRONLY | os.O_CREAT, FILE_MODE)
    try:
        os.fchmod(fd, FILE_MODE)
    finally:
        os.close(fd)
    return path


def tighten(path: Path) -> None:
    """Set an existing file to 0600; a missing one is ignored."""
    with contextlib.suppress(FileNotFoundError):
        os.chmod(path, FILE_MODE)
