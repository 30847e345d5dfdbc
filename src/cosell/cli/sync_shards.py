"""The other shards of a ``cosell sync`` pass, each in a process of its own.

A pass's connector work is Python's, one interpreter lock to a process: on Salesforce, where a
batch's creates, reads and write-backs go in shared requests, one process spends its time
handing the lock around its workers while the machine's other cores wait. With
``sync.backfill_processes`` above 1 the pass is cut into that many shards
(:class:`~cosell.sync.engine.backfill.Shard`, by customer): this process runs the first, and the
others run in processes forked from it before it opens anything (no store connection, client,
or thread of its own is copied into them; what they share with it is the imported code, copied
on write, and frozen out of the collectors' sight before the fork so that neither process's
collector writes to it).

Each child builds its own engine from the settings, runs its shard, and sends this process what
the progress bar and the report need: records done and calls sent as it goes, then its report
(or the error that ended it). The shards wait for one another between the opportunities and the
referrals (a barrier). A child whose parent dies exits at once (a killed pass is resumed from
each shard's checkpoint); a child that dies breaks the barrier, and the pass fails with its
reason, so no shard waits for it forever.

Only where a child can do what this process would: on Salesforce (HubSpot's limits count one
app's requests, and more processes would only meet them sooner), with the command's own HTTP
connections (not a test's), and forked from a process with no other thread (a thread's lock
held at the fork would stay held in the child).
"""

from __future__ import annotations

import multiprocessing
import multiprocessing.queues
import os
import queue
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from multiprocessing.connection import wait
from multiprocessing.context import ForkProcess
from multiprocessing.synchronize import Barrier
from typing import TYPE_CHECKING, cast

from cosell.cli.common import freeze_startup_heap
from cosell.clients.connect import default_http, followed_clock
from cosell.errors import CosellError
from cosell.redaction import redact_text
from cosell.settings import Settings
from cosell.store.sql import Store
from cosell.sync.engine.backfill import BackfillReport, Shard, begin_shards
from cosell.sync.engine.full_sync import build_engine

if TYPE_CHECKING:
    from cosell.cli.common import CommandDeps
    from cosell.sync.engine.backfill import Backfill
    from cosell.sync.engine.full_sync import Wiring

SEND_EVERY = 0.25
"""Seconds at most a child keeps its progress before sending it (the bar's pace)."""
FAILURE_WAIT = 5.0
"""Seconds a broken barrier waits for the failed shard's reason to arrive."""


@dataclass(frozen=True)
class Progressed:
    shard: int
    records: int
    calls: dict[str, int]


@dataclass(frozen=True)
class Said:
    text: str


@dataclass(frozen=True)
class Finished:
    shard: int
    report: BackfillReport


@dataclass(frozen=True)
class Failed:
    shard: int
    error: str


Message = Progressed | Said | Finished | Failed
MakeBackfill = Callable[["Wiring", Shard, Callable[[], object], Callable[[str], None]], "Backfill"]


def backfill_processes(settings: Settings, deps: CommandDeps) -> int:
    """Processes the pass runs in (see the module docstring for when it is 1)."""
    asked = settings.sync.backfill_processes
    if asked == 1 or settings.sync.crm != "salesforce" or deps.http is not default_http:
        return 1
    if "fork" not in multiprocessing.get_all_start_methods() or threading.active_count() > 1:
        return 1
    return asked


@dataclass
class Shards:
    """Shards 2..n of a pass, running; this process runs :attr:`mine`."""

    count: int
    resumed: bool
    barrier: Barrier
    inbox: multiprocessing.queues.Queue[Message]
    children: list[ForkProcess]
    mine: Shard = field(init=False)
    reports: dict[int, BackfillReport] = field(default_factory=dict)
    errors: dict[int, str] = field(default_factory=dict)
    told: threading.Condition = field(default_factory=threading.Condition)

    def __post_init__(self) -> None:
        self.mine = Shard(0, self.count)

    @classmethod
    def fork(
        cls,
        settings: Settings,
        deps: CommandDeps,
        count: int,
        timeout: float,
        make: MakeBackfill,
    ) -> Shards:
        """Each shard's checkpoint begun, then a child forked for each shard but the first."""
        store = Store.open(settings.database_url, clock=deps.clock)
        try:
            resumed = begin_shards(store, store.ensure_tenant(settings.tenant.name), count)
        finally:
            store.close()
        freeze_startup_heap()  # the children's collectors then never write to what they share
        context = multiprocessing.get_context("fork")
        barrier = context.Barrier(count)
        inbox: multiprocessing.queues.Queue[Message] = context.Queue()
        children = [
            context.Process(
                target=_child,
                args=(settings, deps, Shard(index, count), barrier, inbox, timeout, make),
                name=f"cosell sync shard {index + 1} of {count}",
                daemon=True,
            )
            for index in range(1, count)
        ]
        for child in children:
            child.start()
        return cls(count, resumed, barrier, inbox, children)

    def between_phases(self) -> None:
        """This process's shard at the barrier; a broken one is a child's failure (told as
        soon as the listener has its reason)."""
        try:
            self.barrier.wait()
        except threading.BrokenBarrierError:
            with self.told:
                self.told.wait_for(lambda: bool(self.errors), timeout=FAILURE_WAIT)
            raise ShardFailed(self.failure()) from None

    def listen(self, heard: Callable[[Message], None]) -> threading.Thread:
        """A thread passing the children's messages to ``heard`` until all have ended; one that
        ended without its report breaks the barrier."""
        thread = threading.Thread(target=self._listen, args=(heard,), daemon=True)
        thread.start()
        return thread

    def _listen(self, heard: Callable[[Message], None]) -> None:
        running = {child.sentinel: child for child in self.children}
        while running:
            self.receive(heard, block=True, timeout=SEND_EVERY)
            for sentinel in wait(list(running), timeout=0):
                child = running.pop(cast("int", sentinel))
                child.join()
                self.receive(heard, block=False)  # what it sent before it ended
                index = self.children.index(child) + 1
                if index not in self.reports and index not in self.errors:
                    self._failed(index, f"ended with exit status {child.exitcode}")
                    self.barrier.abort()
        self.receive(heard, block=False)

    def receive(
        self, heard: Callable[[Message], None], *, block: bool, timeout: float | None = None
    ) -> None:
        while True:
            try:
                message = self.inbox.get(block=block, timeout=timeout)
            except queue.Empty:
                return
            block = False
            if isinstance(message, Finished):
                self.reports[message.shard] = message.report
            elif isinstance(message, Failed):
                self._failed(message.shard, message.error)
            heard(message)

    def _failed(self, index: int, error: str) -> None:
        with self.told:
            self.errors[index] = error
            self.told.notify_all()

    def failure(self) -> str:
        return (
            "; ".join(
                f"shard {index + 1} of {self.count}: {error}"
                for index, error in sorted(self.errors.items())
            )
            or "a shard stopped"
        )

    def stop(self) -> None:
        """The children ended (at once, when this process's shard failed)."""
        for child in self.children:
            if child.is_alive():
                child.terminate()
            child.join()


class ShardFailed(CosellError):
    """A shard of the pass ended without finishing (its records are left to the next pass,
    which resumes the shard from its checkpoint)."""


def _child(
    settings: Settings,
    deps: CommandDeps,
    shard: Shard,
    barrier: Barrier,
    inbox: multiprocessing.queues.Queue[Message],
    timeout: float,
    make: MakeBackfill,
) -> None:
    """A forked shard: its own engine, its progress and report sent to the parent."""
    _exit_with_parent()
    wiring = None
    try:
        clock = followed_clock(settings, deps.clock, deps.http)
        wiring = build_engine(settings, clock=clock, http=deps.http)
        sender = _Sender(shard, wiring, inbox)
        backfill = make(wiring, shard, barrier.wait, lambda text: inbox.put(Said(text)))
        report = backfill.run(sender.advance, timeout=timeout)
        sender.flush()
        inbox.put(Finished(shard.index, report))  # its last calls went with the flush
    except threading.BrokenBarrierError:
        inbox.put(Failed(shard.index, "stopped: another shard failed"))
    except BaseException as exc:  # the parent reports it; nothing else would
        inbox.put(Failed(shard.index, redact_text(f"{type(exc).__name__}: {exc}")))
        barrier.abort()
    finally:
        if wiring is not None:
            wiring.close()
        inbox.close()
        inbox.join_thread()


class _Sender:
    """A child's records done and calls sent, to the parent at most every ``SEND_EVERY``."""

    def __init__(
        self, shard: Shard, wiring: Wiring, inbox: multiprocessing.queues.Queue[Message]
    ) -> None:
        self.shard, self.wiring, self.inbox = shard, wiring, inbox
        self.records = 0
        self.sent = time.monotonic()
        self.lock = threading.Lock()

    def advance(self, _key: str) -> None:
        with self.lock:
            self.records += 1
            if time.monotonic() - self.sent >= SEND_EVERY:
                self._send()

    def flush(self) -> None:
        with self.lock:
            self._send()

    def _send(self) -> None:
        self.inbox.put(Progressed(self.shard.index, self.records, self.wiring.calls.snapshot()))
        self.records = 0
        self.sent = time.monotonic()


def _exit_with_parent() -> None:
    """A thread ending this child the moment its parent ends (a killed ``cosell sync``): its
    shard is resumed from its checkpoint by the next pass, as the parent's is."""
    parent = multiprocessing.parent_process()
    if parent is None:
        return

    def watch() -> None:
        wait([parent.sentinel])
        os._exit(1)

    threading.Thread(target=watch, name="parent watch", daemon=True).start()
