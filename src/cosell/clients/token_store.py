"""Where a rotating refresh token lives between runs.

Entra ID may return a new refresh token on every refresh; the old one may stop working, so the
new one is saved before it is used. ``FileTokenStore`` replaces the file atomically (a crash
leaves the old or the new token, never half of one) with owner-only permissions, and keeps the
token encrypted with ``cryptography``'s Fernet under the keys in ``COSELL_TOKEN_KEY``
(:class:`TokenCipher`; several comma-separated keys rotate: the first encrypts, any decrypts).

A file holding a plaintext token (one saved by hand, or by a cosell before encryption) is read
once, rewritten encrypted, and the rewrite is logged; a token written under an older key of the
list is rewritten under the first.
"""

from __future__ import annotations

import logging
import threading
from pathlib import Path
from typing import Protocol

from cryptography.fernet import Fernet, InvalidToken, MultiFernet

from cosell.errors import ConfigError
from cosell.files import write_atomically
from cosell.private_files import private_dir

# stdlib logging: on stderr in a one-off command, in the service's log format under `cosell run`
log = logging.getLogger(__name__)

KEY_SETTING = "partner_center.token_key"
KEY_VARIABLE = "COSELL_TOKEN_KEY"
ENCRYPTED_PREFIX = "fernet:"
GENERATE_HINT = (
    "generate one with: python -c 'from cryptography.fernet import Fernet; "
    "print(Fernet.generate_key().decode())'"
)


class TokenCipher:
    """Fernet keys from ``COSELL_TOKEN_KEY``: comma-separated, the first encrypts."""

    def __init__(self, keys: str) -> None:
        listed = [k.strip() for k in keys.split(",") if k.strip()]
        if not listed:
            raise ConfigError(KEY_SETTING, f"{KEY_VARIABLE} is empty; {GENERATE_HINT}")
        try:
            self._fernets = [Fernet(k.encode()) for k in listed]
        except (ValueError, TypeError):
            raise ConfigError(
                KEY_SETTING,
                f"{KEY_VARIABLE} must be Fernet keys (32 url-safe base64 bytes each), "
                f"comma-separated; {GENERATE_HINT}",
            ) from None
        self._multi = MultiFernet(self._fernets)

    def encrypt(self, token: str) -> str:
        return ENCRYPTED_PREFIX + self._multi.encrypt(token.encode()).decode()

    def decrypt(self, stored: str, where: Path) -> tuple[str, bool]:
        """The token and whether it was written under an older key than the first."""
        data = stored.removeprefix(ENCRYPTED_PREFIX).encode()
        try:
            return self._fernets[0].decrypt(data).decode(), False
        except InvalidToken:
            pass  # written under an older key of the list, or under none of them
        try:
            return self._multi.decrypt(data).decode(), True
        except InvalidToken:
            raise ConfigError(
                KEY_SETTING,
                f"{KEY_VARIABLE} does not decrypt the refresh token in {where}: a wrong key, or "
                "the key that wrote it was removed from the list (keep it after the new one "
                "until cosell has rewritten the token)",
            ) from None

    def __repr__(self) -> str:
        return f"TokenCipher(keys={len(self._fernets)})"


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
    """A refresh token encrypted in a file readable only by its owner (mode 0600), replaced
    atomically."""

    def __init__(self, path: Path | str, cipher: TokenCipher) -> None:
        self.path = Path(path)
        self.cipher = cipher
        self._lock = threading.Lock()

    def load(self) -> str | None:
        try:
            stored = self.path.read_text(encoding="utf-8").strip()
        except FileNotFoundError:
            return None
        if not stored:
            return None
        if not stored.startswith(ENCRYPTED_PREFIX):
            self.save(stored)
            log.warning("refresh token in %s was plaintext; rewritten encrypted", self.path)
            return stored
        token, older_key = self.cipher.decrypt(stored, self.path)
        if older_key:
            self.save(token)
            log.info("refresh token in %s rewritten under the first key", self.path)
        return token

    def save(self, token: str) -> None:
        stored = self.cipher.encrypt(token)
        with self._lock:
            private_dir(self.path.parent)
            write_atomically(self.path, stored, prefix=".token-", suffix=".tmp", durable=True)

    def __repr__(self) -> str:
        return f"FileTokenStore({str(self.path)!r})"
