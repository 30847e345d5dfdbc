"""Calls that concurrent workers make at about the same time, sent as one.

A backfill runs several reconciles at once, each making the same kind of call at the same step
(a composite graph creating its opportunity, a read of it afterwards, a guarded update of it).
A :class:`Coalescer` gathers such calls: the first caller waits a moment (``linger``) for
the others, or until as many have come as may come at all (``callers``, the workers running),
or until what came fills a request (``fills``: the later callers' calls would need another
one anyway, and the remote side can start on these while they come), or until every worker
waits in one of the coalescers sharing its :class:`Room` (nobody else can come), and then one
request carries them all; each caller gets its own answer back, or the error of the request
that carried it. Nothing here knows the calls: ``send`` turns a list of items into one answer
(or exception) each, in order.

Written here because no library we use batches synchronous calls across threads (the
well-known loaders are asyncio's); it is a condition variable and a list.
"""

from __future__ import annotations

import threading
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from typing import Generic, TypeVar

T = TypeVar("T")
R = TypeVar("R")

Send = Callable[[Sequence[T]], Sequence["R | Exception"]]


class Room:
    """The workers that call one or more coalescers. When every one of them is waiting in one,
    nobody else can come: the open batches go at once instead of lingering.

    ``expect(n)`` says that only ``n`` calls' worth of work is left to run (a batch of records,
    fewer than the workers at its end): each ``done()`` counts one down, and "everyone" is then
    the workers that still have work, so a step no longer lingers for workers that finished."""

    def __init__(self, callers: int) -> None:
        if callers < 1:
            raise ValueError("a room needs at least one caller")
        self.callers = callers
        self.changed = threading.Condition()
        self.waiting = 0
        self.calls = 0
        """Times everyone was waiting: each time, every open batch of the room goes."""
        self.remaining: int | None = None
        """Units of work left (``expect``); None: every caller may still come."""

    def all_here(self) -> bool:
        present = self.callers if self.remaining is None else min(self.callers, self.remaining)
        return self.waiting >= max(present, 1)

    def expect(self, units: int) -> None:
        """``units`` pieces of work are about to run, one per worker at a time."""
        with self.changed:
            self.remaining = units
            self._recheck()

    def done(self) -> None:
        """One piece of work ended: if everyone left is waiting, their batches go now."""
        with self.changed:
            if self.remaining is not None:
                self.remaining = max(self.remaining - 1, 0)
                self._recheck()

    def _recheck(self) -> None:
        if self.waiting and self.all_here():
            self.calls += 1
            self.changed.notify_all()


@dataclass(eq=False)
class _Slot(Generic[T, R]):
    item: T
    done: threading.Event = field(default_factory=threading.Event)
    answer: R | None = None
    error: Exception | None = None


class Coalescer(Generic[T, R]):
    """Gathers concurrent ``submit`` calls into batches of at most ``most`` items, each sent by
    one ``send``; a batch goes when ``callers`` items have come, when ``fills`` says its items
    fill a request, when every caller of its ``room`` (shared with other coalescers) is
    waiting, or ``linger`` seconds after its first."""

    def __init__(
        self,
        send: Send[T, R],
        *,
        callers: int,
        linger: float = 0.05,
        most: int = 200,
        room: Room | None = None,
        fills: Callable[[Sequence[T]], bool] | None = None,
    ) -> None:
        if callers < 1 or most < 1:
            raise ValueError("a coalescer needs at least one caller and one item a batch")
        self._send = send
        self._full = min(callers, most)
        self._fills = fills
        self._linger = linger
        self._room = room or Room(callers)
        self._changed = self._room.changed
        self._open: list[_Slot[T, R]] = []
        self.batches = 0
        """Requests sent (the calls they replaced are the items submitted)."""

    def submit(self, item: T) -> R:
        """The answer to ``item``, sent with whatever other items came meanwhile."""
        slot: _Slot[T, R] = _Slot(item)
        batch = self._join(slot)
        if batch is not None:
            self._run(batch)
        slot.done.wait()
        if slot.error is not None:
            raise slot.error
        return slot.answer  # type: ignore[return-value]

    def _join(self, slot: _Slot[T, R]) -> list[_Slot[T, R]] | None:
        """Add the slot to the open batch; the batch when this caller is to send it."""
        with self._changed:
            self._room.waiting += 1
            batch = self._open
            batch.append(slot)
            if self._is_full(batch):
                # its callers are not waiting: they will come to their next step, where the
                # others wait for them, so this alone does not make everyone here
                self._changed.notify_all()
                return self._take(batch)
            if self._room.all_here():
                self._room.calls += 1  # every open batch of the room goes now
                self._changed.notify_all()
                return self._take(batch)
            if len(batch) > 1:
                return None  # the batch's first caller sends it
            called = self._room.calls
            deadline = time.monotonic() + self._linger
            while self._open is batch:
                left = deadline - time.monotonic()
                if left <= 0 or self._room.calls != called:
                    return self._take(batch)
                self._changed.wait(left)
            return None  # filled up meanwhile: its last caller sends it

    def _is_full(self, batch: list[_Slot[T, R]]) -> bool:
        if len(batch) >= self._full:
            return True
        return self._fills is not None and self._fills([slot.item for slot in batch])

    def _take(self, batch: list[_Slot[T, R]]) -> list[_Slot[T, R]]:
        """Close the open batch to send it (the caller holds the lock): its callers no longer
        wait in the room. A caller whose request is in flight is not waiting: it will come to
        the next step, so the others wait for it there."""
        self._open = []
        self._room.waiting -= len(batch)
        return batch

    def _run(self, batch: list[_Slot[T, R]]) -> None:
        self.batches += 1
        try:
            answers = list(self._send([slot.item for slot in batch]))
            if len(answers) != len(batch):
                raise RuntimeError(f"{len(answers)} answers to {len(batch)} calls")
        except Exception as exc:  # every caller of the batch gets the request's error
            answers = [exc] * len(batch)
        for slot, answer in zip(batch, answers, strict=True):
            if isinstance(answer, Exception):
                slot.error = answer
            else:
                slot.answer = answer
            slot.done.set()
