"""Keeping the Salesforce emulator's org in the sandbox's state directory between runs.

The Salesforce emulator keeps its org in memory. The sandbox wraps its app so that after every
request that may have written (any method but GET/HEAD), the org (records, schema, Tooling rows,
sessions) is pickled to a file with an atomic replace; the next sandbox start loads it back. The
emulator's live objects (its clock, configuration, locks) are referenced, not copied, so a loaded
org runs on the new process's clock and locks.
"""

from __future__ import annotations

import io
import os
import pickle
import tempfile
import threading
from pathlib import Path
from typing import Any

from starlette.types import ASGIApp, Message, Receive, Scope, Send

from cosell.emulators.salesforce.emulator import SalesforceEmulator
from cosell.emulators.salesforce.oauth import TokenIssuer
from cosell.errors import ConfigError

READ_METHODS = frozenset({"GET", "HEAD", "OPTIONS"})
_LOCK_TYPES = (type(threading.Lock()), type(threading.RLock()))
FORMAT = 1


class _Pickler(pickle.Pickler):
    def __init__(self, file: io.BytesIO, emulator: SalesforceEmulator) -> None:
        super().__init__(file, protocol=pickle.HIGHEST_PROTOCOL)
        self._emulator = emulator

    def persistent_id(self, obj: Any) -> Any:
        if obj is self._emulator.clock:
            return "clock"
        if obj is self._emulator.config:
            return "config"
        if isinstance(obj, _LOCK_TYPES[1]):
            return "rlock"
        if isinstance(obj, _LOCK_TYPES[0]):
            return "lock"
        return None


class _Unpickler(pickle.Unpickler):
    def __init__(self, file: io.BytesIO, emulator: SalesforceEmulator) -> None:
        super().__init__(file)
        self._emulator = emulator

    def persistent_load(self, pid: Any) -> Any:
        live = {"clock": self._emulator.clock, "config": self._emulator.config}
        if pid in live:
            return live[pid]
        return threading.RLock() if pid == "rlock" else threading.Lock()


class SalesforceStateFile:
    """Saves and loads one emulator's org as a pickle file."""

    def __init__(self, path: Path, emulator: SalesforceEmulator) -> None:
        self.path = path
        self.emulator = emulator

    def load(self) -> bool:
        """Replace the emulator's org with the saved one; False when there is none."""
        if not self.path.exists():
            return False
        emulator = self.emulator
        try:
            saved = _Unpickler(io.BytesIO(self.path.read_bytes()), emulator).load()
        except (pickle.UnpicklingError, EOFError, AttributeError, ImportError, TypeError) as exc:
            saved = {"error": type(exc).__name__}
        if not isinstance(saved, dict) or saved.get("format") != FORMAT:
            raise ConfigError(
                str(self.path),
                "this saved Salesforce org cannot be read by this version of cosell; "
                "delete the sandbox's state directory to start over",
            )
        with emulator.lock:
            emulator.org, emulator.tooling = saved["org"], saved["tooling"]
            emulator.sessions = saved["sessions"]
            user = emulator.org.integration_user_id
            emulator.issuer = TokenIssuer(emulator.config, emulator.clock, emulator.sessions, user)
        return True

    def save(self) -> None:
        """Write the org now (atomically: a crash leaves the previous file whole)."""
        emulator, buffer = self.emulator, io.BytesIO()
        with emulator.lock, emulator.org.lock:
            state = {"format": FORMAT, "org": emulator.org, "tooling": emulator.tooling}
            _Pickler(buffer, emulator).dump({**state, "sessions": emulator.sessions})
        self.path.parent.mkdir(parents=True, exist_ok=True)
        handle, tmp = tempfile.mkstemp(prefix=".sf-state-", dir=self.path.parent)
        try:
            with os.fdopen(handle, "wb") as out:
                out.write(buffer.getvalue())
            os.replace(tmp, self.path)
        except BaseException:
            Path(tmp).unlink(missing_ok=True)
            raise


class SavingApp:
    """ASGI middleware: a request that may write saves the org before its response completes,
    so a client that saw the response can rely on the write having been kept."""

    def __init__(self, app: ASGIApp, state: SalesforceStateFile) -> None:
        self.app = app
        self.state = state
        self._save_lock = threading.Lock()

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http" or scope["method"] in READ_METHODS:
            await self.app(scope, receive, send)
            return

        async def saving_send(message: Message) -> None:
            if message["type"] == "http.response.body" and not message.get("more_body", False):
                with self._save_lock:
                    self.state.save()
            await send(message)

        await self.app(scope, receive, saving_send)
