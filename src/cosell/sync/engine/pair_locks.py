"""One reconcile per referral ⇄ opportunity pair at a time.

The queue runs one reconcile per *key*, but a pair has two keys (``referral:<id>`` and
``opportunity:<id>``). Guarded writes catch races on the two records themselves; the base, the
related rows (solution rows, contact roles, team members) and the create that makes a pair carry
no guard, so two reconciles of one pair must not interleave.

A reconcile holds a lock per record key: its own, the other one the store's link names, and any
the records it reads reveal (an opportunity names its referral; a create makes the other record).
Locks are taken all at once in sorted order while holding nothing else, or tried without waiting
while holding some; when a try fails, everything is let go and the whole set taken again in
order (and the caller re-reads). So no two reconciles wait on each other in a cycle.

A create takes the key of the record it made as soon as the other side has answered
(:meth:`HeldLocks.claim`: only tried, never waited for, nothing let go), before the link that
names it is committed. A signal of that record (Partner Center calls back as soon as it has
answered) then waits for the commit instead of reading a record whose link it cannot find yet.

On SQLite (one process) the locks live in this process; on PostgreSQL, where several
``cosell run`` processes may share the store, they are the database's advisory locks
(:mod:`cosell.store.advisory_locks`), with the same ordering rules.
"""

from __future__ import annotations

import threading
from collections.abc import Iterable, Iterator
from contextlib import AbstractContextManager, contextmanager
from typing import TYPE_CHECKING, Protocol

if TYPE_CHECKING:
    from cosell.store.records import TenantId
    from cosell.store.sql import Store


class Held(Protocol):
    """The names one reconcile holds."""

    @property
    def names(self) -> frozenset[str]: ...

    def widen(self, names: Iterable[str]) -> bool: ...

    def claim(self, names: Iterable[str]) -> frozenset[str]: ...


class KeyLocks(Protocol):
    """Named locks: ``PairLocks`` in this process, or ``AdvisoryLocks`` in PostgreSQL."""

    def hold(self, *names: str) -> AbstractContextManager[Held]: ...


def key_locks_for(store: Store, tenant: TenantId) -> KeyLocks:
    """Locks every process of this store sees: PostgreSQL's when the store is there (several
    ``cosell run`` may share it), else this process's (SQLite serves one process)."""
    if store.engine.dialect.name == "postgresql":
        from cosell.store.advisory_locks import AdvisoryLocks

        return AdvisoryLocks(store.lock_sessions(), f"cosell:{tenant}")
    return PairLocks()


class PairLocks:
    """Named locks, created on first use and dropped when nobody holds or waits for them."""

    def __init__(self) -> None:
        self._guard = threading.Lock()
        self._locks: dict[str, tuple[threading.Lock, int]] = {}

    @contextmanager
    def hold(self, *names: str) -> Iterator[HeldLocks]:
        """Block until every name is free, then hold them (and any added with ``widen``)."""
        held = HeldLocks(self)
        held.take(names)
        try:
            yield held
        finally:
            held.release()

    def join(self, name: str) -> threading.Lock:
        """The lock of ``name``, counted as used until :meth:`leave`."""
        with self._guard:
            lock, users = self._locks.get(name, (threading.Lock(), 0))
            self._locks[name] = (lock, users + 1)
            return lock

    def leave(self, name: str) -> None:
        with self._guard:
            lock, users = self._locks[name]
            if users == 1:
                del self._locks[name]
            else:
                self._locks[name] = (lock, users - 1)

    def users(self, name: str) -> int:
        """How many reconciles hold or wait for ``name``."""
        with self._guard:
            return self._locks.get(name, (None, 0))[1]

    def __len__(self) -> int:
        with self._guard:
            return len(self._locks)


class HeldLocks:
    """The names one reconcile holds."""

    def __init__(self, locks: PairLocks) -> None:
        self._locks = locks
        self._held: dict[str, threading.Lock] = {}

    @property
    def names(self) -> frozenset[str]:
        return frozenset(self._held)

    def take(self, names: Iterable[str]) -> None:
        """Wait for ``names`` in sorted order (only while holding nothing)."""
        assert not self._held, "blocking waits happen only with nothing held"
        for name in sorted(set(names)):
            lock = self._locks.join(name)
            lock.acquire()
            self._held[name] = lock

    def widen(self, names: Iterable[str]) -> bool:
        """Hold ``names`` too. False when they were free at once; True when this had to let go
        and wait (another reconcile may have run meanwhile: what was read may be stale)."""
        new = sorted(name for name in set(names) if name not in self._held)
        for name in new:
            lock = self._locks.join(name)
            if not lock.acquire(blocking=False):
                self._locks.leave(name)
                wanted = set(self._held) | set(new)
                self.release()
                self.take(wanted)
                return True
            self._held[name] = lock
        return False

    def claim(self, names: Iterable[str]) -> frozenset[str]:
        """Hold those of ``names`` that are free now, without waiting or letting go of any:
        the names taken."""
        taken = []  # (not a set of the held: a batch holds hundreds, and claims one at a time)
        for name in sorted(name for name in set(names) if name not in self._held):
            lock = self._locks.join(name)
            if lock.acquire(blocking=False):
                self._held[name] = lock
                taken.append(name)
            else:
                self._locks.leave(name)
        return frozenset(taken)

    def release(self) -> None:
        for name, lock in sorted(self._held.items(), reverse=True):
            lock.release()
            self._locks.leave(name)
        self._held.clear()
