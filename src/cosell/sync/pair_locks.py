"""One reconcile per referral ⇄ opportunity pair at a time.

The queue runs one reconcile per *key*, but a linked pair has two keys (``referral:<id>`` and
``opportunity:<id>``). Guarded writes catch races on the two records themselves; related rows
(solution rows, contact roles, team members) carry no guard, so two reconciles of one pair must
not interleave. The engine names the pair by its stored link and holds that name's lock for the
whole reconcile. The locks live in this process, which is the embedded deployment's whole world.
"""

from __future__ import annotations

import threading
from collections.abc import Iterator
from contextlib import contextmanager


class PairLocks:
    """Named locks, created on first use and dropped when nobody holds or waits for them."""

    def __init__(self) -> None:
        self._guard = threading.Lock()
        self._locks: dict[str, tuple[threading.Lock, int]] = {}

    @contextmanager
    def hold(self, name: str) -> Iterator[None]:
        """Block until ``name`` is free, then hold it for the ``with`` body."""
        lock = self._join(name)
        try:
            with lock:
                yield
        finally:
            self._leave(name)

    def _join(self, name: str) -> threading.Lock:
        with self._guard:
            lock, users = self._locks.get(name, (threading.Lock(), 0))
            self._locks[name] = (lock, users + 1)
            return lock

    def _leave(self, name: str) -> None:
        with self._guard:
            lock, users = self._locks[name]
            if users == 1:
                del self._locks[name]
            else:
                self._locks[name] = (lock, users - 1)

    def __len__(self) -> int:
        with self._guard:
            return len(self._locks)
