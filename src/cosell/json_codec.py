"""JSON as cosell sends, reads and stores it, through orjson.

The standard library's codec took about a tenth of the connector's CPU in a backfill (every
request and answer body, every JSON column written and read); orjson does the same work in a
compiled codec several times faster. What it refuses, the standard library refused too (a value
JSON cannot hold is a ``TypeError``, a body that is not JSON a ``ValueError``), with two
differences that do not reach the wire: ``NaN`` and ``Infinity`` are not JSON and are refused
when read, and integers must fit in 64 bits.
"""

from __future__ import annotations

from typing import Any

import orjson

CONTENT_TYPE = {"Content-Type": "application/json"}


def dumps(value: Any) -> bytes:
    """``value`` as compact UTF-8 JSON (a request body)."""
    return orjson.dumps(value)


def dumps_text(value: Any) -> str:
    """``value`` as compact JSON text (a JSON column)."""
    return orjson.dumps(value).decode()


def loads(data: bytes | str) -> Any:
    """The value of the JSON ``data``; ``ValueError`` when it is not JSON, ``TypeError`` when
    it is not text at all (as the standard library: SQLite hands a JSON column's number back
    as a number, and SQLAlchemy keeps it on that error)."""
    if not isinstance(data, bytes | str | bytearray | memoryview):
        raise TypeError(f"JSON text must be str or bytes, not {type(data).__name__}")
    return orjson.loads(data)
