"""Where a rotating refresh token lives between runs.

Entra ID may return a new refresh token on every refresh; the old one may stop working, so the
new one is saved before it is used. ``FileTokenStore`` replaces the file atomically (a crash
leaves the old or the new token, never half of one) with owner-only permissions.
"""

from __future__ import annotations

import os
import tempfile
import threading
from pathlib import Path
from typing import Protocol

from cosell.private_files import private_dir


class TokenStore(Protocol):
    """Loads and saves one refresh token."""

    def load(self) -> str | None: ...

    def save(self, token: str) -> None: ...


class MemoryTokenStore:
    """A token store for tests and for one-shot runs."""

    def __init__(self, token: str | None = None) -> None:
        self._token = token
        self._lock = threading.Lock()
        self.saves = 0

    def load(self) -> str | None:
        with self._lock:
            return self._token

    def save(self, token: str) -> None:
        with self._lock:
            self._token = token
            self.saves += 1

    def __repr__(self) -> str:
        return f"MemoryTokenStore(saves={self.saves})"


class FileTokenStore:
    """A refresh token in a file readable only by its owner (mode 0600), replaced atomically."""

    def __init__(self, path: Path | str) -> None:
        self.path = Path(path)
        self._lock = threading.Lock()

    def load(self) -> str | None:
        try:
            token = self.path.read_text(encoding="utf-8").strip()
        except FileNotFoundError:
            return None
        return token or None

    def save(self, token: str) -> None:
        with self._lock:
            private_dir(self.path.parent)
            fd, name = tempfile.mkstemp(dir=self.path.parent, prefix=".token-", suffix=".tmp")
            try:
                self._write(fd, token)
                os.replace(name, self.path)
            except BaseException:
                Path(name).unlink(missing_ok=True)
                raise

    @staticmethod
    def _write(fd: int, token: str) -> None:
        # mkstemp creates the file 0600 already; chmod guards against unusual umask handling
        os.fchmod(fd, 0o600)
        with os.fdopen(fd, "w", encoding="utf-8") as handle:
            handle.write(token)
            handle.flush()
            os.fsync(handle.fileno())

    def __repr__(self) -> str:
        return f"FileTokenStore({str(self.path)!r})"
