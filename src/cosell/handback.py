"""Handing a running job back at shutdown.

A graceful stop lets the reconciles in flight finish for the drain time. One still running when
that time is up is handed back: its lease is released at once (the key is due now, the claim not
counted), so another worker or the next start picks it up without waiting for the lease to
expire, and the run itself is stopped at its next write or commit (:func:`checkpoint` raises
:class:`HandedBack`), so nothing more of it reaches either side or the store. What it wrote
before that is what an interrupted run leaves: the engine's write-ahead record covers it (see
``cosell.sync.core.pending``).

Python cannot stop a thread from outside; the flag is checked by the code that writes.
"""

from __future__ import annotations

import threading
from collections.abc import Iterator
from contextlib import contextmanager
from contextvars import ContextVar

from cosell.errors import CosellError

_flag: ContextVar[threading.Event | None] = ContextVar("cosell_handback", default=None)


class HandedBack(CosellError):
    """The queue handed this run's key back at shutdown: write and commit nothing more."""


@contextmanager
def running(flag: threading.Event) -> Iterator[None]:
    """Run the block as a job that ``flag.set()`` hands back."""
    token = _flag.set(flag)
    try:
        yield
    finally:
        _flag.reset(token)


def checkpoint(before: str) -> None:
    """Raise :class:`HandedBack` if the job running in this thread was handed back."""
    flag = _flag.get()
    if flag is not None and flag.is_set():
        raise HandedBack(f"handed back at shutdown before {before}")
