"""Writing a file atomically: a reader (or a crash) sees the old file whole or the new one."""

from __future__ import annotations

import os
import tempfile
from pathlib import Path


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
