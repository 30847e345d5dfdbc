"""Writing a file atomically (a reader, or a crash, sees the old file whole or the new one), and
a JSON document kept as a snapshot and a journal of changes."""

from __future__ import annotations

import hashlib
import json
import os
import tempfile
from pathlib import Path
from typing import Any


def write_atomically(
    path: Path, text: str, *, prefix: str = ".tmp-", suffix: str = "", durable: bool = False
) -> None:
    """Write ``text`` beside ``path`` (owner-only, 0600), then rename it over ``path``.

    ``durable`` also flushes the data to disk before the rename (for secrets: a power cut must
    not leave an empty token file).
    """
    handle, tmp = tempfile.mkstemp(prefix=prefix, suffix=suffix, dir=path.parent)
    try:
        os.fchmod(handle, 0o600)
        with os.fdopen(handle, "w", encoding="utf-8") as out:
            out.write(text)
            if durable:
                out.flush()
                os.fsync(out.fileno())
        os.replace(tmp, path)
    except BaseException:
        Path(tmp).unlink(missing_ok=True)
        raise


class JournaledFile:
    """A JSON document kept as a snapshot file and a journal of changes beside it
    (``<name>.journal``, one JSON value a line), so that a change costs a line, not the whole
    document written again.

    The journal's first line names the snapshot it follows (the SHA-256 of its text); a journal
    that follows another snapshot is ignored when read. When the journal has outgrown the
    snapshot (``due``) the owner writes the whole document again (``rewrite``): first the
    snapshot, atomically, then a fresh journal naming it, so a crash in between leaves the new
    snapshot and a journal that no longer applies to it. A torn last line (a write cut short by a
    crash, never acknowledged) is dropped and cut off when the file is read.

    Written here rather than taken from a library: SQLite would do, but the documents stay
    JSON a person can read, and the sandbox's files keep their documented shape.
    """

    def __init__(self, path: Path, *, prefix: str, floor: int = 1 << 20) -> None:
        self.path = path
        self.journal = path.with_name(path.name + ".journal")
        self.prefix = prefix
        self.floor = floor
        self._snapshot_size = 0
        self._journal_size = 0
        self._following = False  # the journal on disk follows the snapshot on disk

    def read(self) -> tuple[str, list[Any]] | None:
        """The snapshot's text and the journal entries that follow it; None without a snapshot."""
        if not self.path.exists():
            return None
        text = self.path.read_text(encoding="utf-8")
        self._snapshot_size = len(text.encode())
        entries: list[Any] = []
        self._journal_size = 0
        if self.journal.exists():
            raw = self.journal.read_bytes()
            whole = raw[: raw.rfind(b"\n") + 1]
            if len(whole) < len(raw):
                with self.journal.open("r+b") as torn:
                    torn.truncate(len(whole))
            lines = whole.decode("utf-8").splitlines()
            head = json.loads(lines[0]) if lines else None
            if isinstance(head, dict) and head.get("follows") == _digest(text):
                entries = [json.loads(line) for line in lines[1:]]
                self._journal_size = len(whole)
                self._following = True
            else:
                self.journal.unlink()
        return text, entries

    def due(self) -> bool:
        """Whether the next change should write the whole document: no journal follows the
        snapshot yet (none was written, or it was written without one), or the journal is larger
        than the snapshot and than ``floor``."""
        if not self._following or not self.path.exists():
            return True
        return self._journal_size > max(self.floor, self._snapshot_size)

    def append(self, lines: list[str]) -> None:
        """Add entries, each already one line of JSON, to the journal (handed to the operating
        system before returning: a crash of the process after it loses none)."""
        if not lines:
            return
        if not self._following:
            raise RuntimeError("no journal follows the snapshot: rewrite the document first")
        data = "".join(line + "\n" for line in lines).encode("utf-8")
        with self.journal.open("ab") as out:
            out.write(data)
        self._journal_size += len(data)

    def rewrite(self, text: str) -> None:
        """Replace the snapshot with ``text`` and start an empty journal that follows it."""
        self.path.parent.mkdir(parents=True, exist_ok=True)
        write_atomically(self.path, text, prefix=self.prefix)
        head = json.dumps({"follows": _digest(text)}) + "\n"
        write_atomically(self.journal, head, prefix=self.prefix)
        self._snapshot_size = len(text.encode())
        self._journal_size = len(head)
        self._following = True


def _digest(text: str) -> str:
    return hashlib.sha256(text.encode("utf-8")).hexdigest()
