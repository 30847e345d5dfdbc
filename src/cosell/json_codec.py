"""JSON as cosell sends, reads and stores it, through orjson.

The standard library's codec took about a tenth of the connector's CPU in a backfill (every
request and answer body, every JSON column written and read); orjson does the same work in a
compiled codec several times faster. What it refuses, the standard library refused too (a value
JSON cannot hold is a ``TypeError``, a body that is not JSON a ``ValueError``), with the
differences at the edges: ``NaN`` and ``Infinity`` are not JSON (refused when read, written as
``null``), integers must fit in 64 bits, and the text is compact (no spaces).
"""

from __future__ import annotations

from typing import Any

import orjson

CONTENT_TYPE = {"Content-Type": "application/json"}
STRICT = (
    orjson.OPT_PASSTHROUGH_DATETIME | orjson.OPT_PASSTHROUGH_DATACLASS | orjson.OPT_NON_STR_KEYS
)
"""As the standard library: dates and dataclasses are refused (a value that reaches JSON must
have been made JSON on purpose, not written in a form of orjson's choosing), and a number as a
key is written as its text."""


def dumps(value: Any) -> bytes:
    """``value`` as compact UTF-8 JSON (a request body)."""
    return orjson.dumps(value, option=STRICT)


def dumps_text(value: Any) -> str:
    """``value`` as compact JSON text (a JSON column)."""
    return orjson.dumps(value, option=STRICT).decode()


def loads(data: bytes | str) -> Any:
    """The value of the JSON ``data``; ``ValueError`` when it is not JSON, ``TypeError`` when
    it is not text at all (as the standard library: SQLite hands a JSON column's number back
    as a number, and SQLAlchemy keeps it on that error)."""
    if not isinstance(data, bytes | str | bytearray | memoryview):
        raise TypeError(f"JSON text must be str or bytes, not {type(data).__name__}")
    return orjson.loads(data)
