"""Keeping the Salesforce emulator's org in the sandbox's state directory between runs.

The org is saved as the JSON document of :mod:`cosell.emulators.salesforce.snapshot`
(``salesforce.json``): a header part, then one record per line. A save after that appends the
rows written since, and the header when it changed, to ``salesforce.json.journal``; the whole
document is written again once the journal outgrows it (:class:`cosell.files.JournaledFile`),
so a write costs about its own size, not the org's. The sandbox wraps the emulator's
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
from cosell.emulators.salesforce.org import Org
from cosell.emulators.salesforce.snapshot import load_org_document, org_document, org_header
from cosell.emulators.salesforce.wire import format_datetime
from cosell.errors import ConfigError
from cosell.files import JournaledFile

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
    """Saves and loads one emulator's org as ``salesforce.json`` and its journal."""

    def __init__(self, path: Path, emulator: SalesforceEmulator) -> None:
        self.path = path
        self.emulator = emulator
        self._file = JournaledFile(path, prefix=".sf-state-")
        self._org: Org | None = None  # the org the file holds (a reset makes a new one)
        self._header: dict[str, str] = {}  # each part of the header as last written

    def load(self) -> bool:
        """Replace the emulator's org with the saved one; False when there is none."""
        try:
            found = self._file.read()
        except (ValueError, UnicodeDecodeError) as exc:
            raise ConfigError(str(self.path), f"not a readable JSON document ({exc})") from exc
        if found is None:
            self._refuse_pickle()
            return False
        text, entries = found
        try:
            doc = _replayed(json.loads(text), entries)
        except (ValueError, UnicodeDecodeError, KeyError, TypeError) as exc:
            raise ConfigError(str(self.path), f"not a readable JSON document ({exc})") from exc
        try:
            load_org_document(self.emulator, doc)
        except ConfigError as exc:
            raise ConfigError(str(self.path), str(exc)) from exc
        with self.emulator.lock, self.emulator.org.lock:
            self._org = self.emulator.org
            self._org.take_touched()
            self._header = _header_parts(org_header(self.emulator))
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
        """Keep the org now: the rows written since the last save (and the header, when it
        changed) go to the journal, or the whole document is written again (atomically: a crash
        leaves the previous file whole)."""
        emulator = self.emulator
        with emulator.lock, emulator.org.lock:
            org = emulator.org
            touched = org.take_touched()
            if org is not self._org or self._file.due():
                self._org = org
                doc = org_document(emulator)
            else:
                doc = None
                rows = [_row(org, record_id) for record_id in touched]
            header = _header_parts(org_header(emulator))
        changed = {k: v for k, v in header.items() if self._header.get(k) != v}
        self._header = header
        if doc is not None:
            self._file.rewrite(document_text(doc))
        else:
            lines = [_dumps({"record": row}) for row in rows if row[0]]
            if changed:
                parts = ", ".join(f"{json.dumps(k)}: {v}" for k, v in changed.items())
                lines.append('{"header": {' + parts + "}}")
            self._file.append(lines)


def _row(org: Org, record_id: str) -> tuple[str, str, dict[str, Any] | None]:
    """(object, id, the row or None when it is gone); the object is "" when it is gone too."""
    found = org.find(record_id)
    if found is not None:
        return found[0].name, record_id, found[1]
    obj = org.schema.by_prefix(record_id[:3])
    return ("" if obj is None else obj.name), record_id, None


def _header_parts(header: dict[str, Any]) -> dict[str, str]:
    """Each part of the header as JSON text: a save journals only the parts that changed."""
    return {k: json.dumps(v, ensure_ascii=False, sort_keys=True) for k, v in header.items()}


def _replayed(doc: Any, entries: list[Any]) -> Any:
    """The saved document with the journal's entries applied in order."""
    if not entries or not isinstance(doc, dict) or not isinstance(doc.get("records"), dict):
        return doc
    tables: dict[str, dict[str, Any]] = {
        name: {row["Id"]: row for row in rows} for name, rows in doc["records"].items()
    }
    for entry in entries:
        if "header" in entry:
            doc.update(entry["header"])  # the parts of the header that changed
            continue
        name, record_id, row = entry["record"]
        if row is None:
            tables.get(name, {}).pop(record_id, None)
        else:
            tables.setdefault(name, {})[record_id] = row
    doc["records"] = {name: list(rows.values()) for name, rows in tables.items() if rows}
    return doc


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
