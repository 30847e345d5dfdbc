"""Keeping the Salesforce emulator's org in the sandbox's state directory between runs.

The org is saved as the JSON document of :mod:`cosell.emulators.salesforce.snapshot`
(``salesforce.json``): a header part, then one record per line. The sandbox wraps the emulator's
app so that a request that may have written (any method but GET/HEAD/OPTIONS) is answered only
once the org, with that write, is in the file. Saves run off the event loop, and a request whose
write an already finished save included does not save again, so concurrent writers share saves.
"""

from __future__ import annotations

import json
import threading
from datetime import date, datetime
from pathlib import Path
from typing import Any

import anyio.to_thread
from starlette.types import ASGIApp, Message, Receive, Scope, Send

from cosell.emulators.salesforce.emulator import SalesforceEmulator
from cosell.emulators.salesforce.snapshot import load_org_document, org_document
from cosell.emulators.salesforce.wire import format_datetime
from cosell.errors import ConfigError
from cosell.files import write_atomically

READ_METHODS = frozenset({"GET", "HEAD", "OPTIONS"})
STATE_FILE = "salesforce.json"
PICKLE_FILE = "salesforce.pickle"
"""Where cosell before format 2 kept the org; never unpickled (a pickle can run code)."""


def _json_value(value: Any) -> str:
    if isinstance(value, datetime):
        return format_datetime(value)
    if isinstance(value, date):
        return value.isoformat()
    raise TypeError(f"{type(value).__name__} is not a Salesforce JSON value")


def _dumps(value: Any) -> str:
    return json.dumps(value, ensure_ascii=False, default=_json_value)


def document_text(doc: dict[str, Any]) -> str:
    """The document as JSON: the header indented, then each object's records one per line."""
    head = json.dumps({k: v for k, v in doc.items() if k != "records"}, indent=1)
    tables = [
        f"  {_dumps(name)}: [\n" + ",\n".join(f"   {_dumps(r)}" for r in rows) + "\n  ]"
        for name, rows in doc["records"].items()
    ]
    records = '"records": {\n' + ",\n".join(tables) + "\n }" if tables else '"records": {}'
    return head[:-2] + ",\n " + records + "\n}\n"


class SalesforceStateFile:
    """Saves and loads one emulator's org as ``salesforce.json`` (atomic replace)."""

    def __init__(self, path: Path, emulator: SalesforceEmulator) -> None:
        self.path = path
        self.emulator = emulator

    def load(self) -> bool:
        """Replace the emulator's org with the saved one; False when there is none."""
        if not self.path.exists():
            self._refuse_pickle()
            return False
        try:
            doc = json.loads(self.path.read_text(encoding="utf-8"))
        except (ValueError, UnicodeDecodeError) as exc:
            raise ConfigError(str(self.path), f"not a readable JSON document ({exc})") from exc
        try:
            load_org_document(self.emulator, doc)
        except ConfigError as exc:
            raise ConfigError(str(self.path), str(exc)) from exc
        return True

    def _refuse_pickle(self) -> None:
        old = self.path.with_name(PICKLE_FILE)
        if old.exists():
            raise ConfigError(
                str(old),
                "this Salesforce org was saved by an older version of cosell, in a format this "
                "version does not read; delete the sandbox's state directory to start over (the "
                "store and the Partner Center state in it refer to that org's records)",
            )

    def save(self) -> None:
        """Write the org now (atomically: a crash leaves the previous file whole)."""
        text = document_text(org_document(self.emulator))
        self.path.parent.mkdir(parents=True, exist_ok=True)
        write_atomically(self.path, text, prefix=".sf-state-")


class SharedSaves:
    """Group commit: ``save_through(ticket)`` returns once a save that began after the write
    behind ``ticket`` has finished, starting one only when no finished save covers it."""

    def __init__(self, state: SalesforceStateFile) -> None:
        self.state = state
        self.saves = 0
        self._issued = 0
        self._saved = 0
        self._tickets = threading.Lock()
        self._saving = threading.Lock()

    def ticket(self) -> int:
        """Taken once a request's write is done: every save that starts later includes it."""
        with self._tickets:
            self._issued += 1
            return self._issued

    def save_through(self, ticket: int) -> None:
        with self._saving:
            if self._saved >= ticket:
                return
            with self._tickets:
                covered = self._issued
            self.state.save()
            self.saves += 1
            self._saved = covered


class SavingApp:
    """ASGI middleware: a request that may write saves the org before its response completes,
    so a client that saw the response can rely on the write having been kept."""

    def __init__(self, app: ASGIApp, state: SalesforceStateFile) -> None:
        self.app = app
        self.state = state
        self.saves = SharedSaves(state)

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http" or scope["method"] in READ_METHODS:
            await self.app(scope, receive, send)
            return

        async def saving_send(message: Message) -> None:
            if message["type"] == "http.response.body" and not message.get("more_body", False):
                ticket = self.saves.ticket()
                await anyio.to_thread.run_sync(self.saves.save_through, ticket)
            await send(message)

        await self.app(scope, receive, saving_send)
