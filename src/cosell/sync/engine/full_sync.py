"""A full reconcile pass: every flagged-or-linked opportunity and every referral, run until idle.

``cosell sync`` is this pass; the benchmark and the sandbox use it too. Keys go through
the same durable queue as the service's signals, so retries (with the server's ``Retry-After``)
and dead letters behave exactly as in ``cosell run``.
"""

from __future__ import annotations

import threading
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import datetime, timedelta

import httpx

from cosell.clients.connect import (
    HttpFactory,
    default_http,
    hubspot_client,
    partner_center_client,
    salesforce_client,
)
from cosell.clients.salesforce import SalesforceClient
from cosell.clock import Clock
from cosell.private_files import private_dir
from cosell.queue.embedded import EmbeddedQueue, describe
from cosell.queue.protocol import queue_key
from cosell.settings import Settings
from cosell.store.jobs import QueuedKey
from cosell.store.records import Job
from cosell.store.sql import Store
from cosell.sync.engine.engine import Engine, mapping_from_settings

Progress = Callable[[str], None]


@dataclass(frozen=True)
class Failure:
    """A key that did not sync, and why."""

    key: str
    reason: str


@dataclass(frozen=True)
class Held:
    """A key another worker (a running ``cosell run``) had leased when the pass ended."""

    key: str
    until: datetime


@dataclass
class PassReport:
    """What a full pass did. Keys ``held`` by another worker are neither synced nor failed."""

    keys: int = 0
    synced: int = 0
    failures: list[Failure] = field(default_factory=list)
    left_out: tuple[str, ...] = ()
    held: list[Held] = field(default_factory=list)

    @property
    def ok(self) -> bool:
        return not self.failures


class FullSync:
    """Enqueue every key of both systems and run the queue until nothing is due (or time is up).

    Keys another process holds a live lease on are left to it: the pass neither waits for them
    nor counts them as failed, and reports them as ``held``. An expired lease (a stopped
    service's) is taken over like any due key.
    """

    def __init__(
        self,
        engine: Engine,
        *,
        workers: int = 4,
        max_attempts: int = 8,
        clock: Clock,
        own_keys_only: bool = False,
    ) -> None:
        self.engine = engine
        self.own_keys_only = own_keys_only
        """Claim only the keys given to :meth:`run`: for a pass that shares the store with
        others of the same backfill (its shards, see :mod:`cosell.sync.engine.backfill`), whose
        keys it must leave to them (on SQLite a pair's locks are its process's). A lone pass
        also runs whatever else is due, as it always has."""
        self.workers = workers
        self.max_attempts = max_attempts
        self.clock = clock
        self._lock = threading.Lock()
        self._errors: dict[str, str] = {}
        self._done: set[str] = set()

    def keys(self) -> list[str]:
        """Opportunity keys first (flagged or linked), then every referral's."""
        opportunities = [queue_key("opportunity", i) for i in self.engine.crm.flagged_or_linked()]
        return opportunities + [queue_key("referral", i) for i in self.engine.pc.all_ids()]

    def run(
        self, keys: list[str], progress: Progress | None = None, timeout: float = 300.0
    ) -> PassReport:
        """Reconcile ``keys``; failures are dead letters and keys still retrying at the end."""
        started = self.clock.now()
        with self._lock:  # what this run's keys did (a backfill runs one batch after another)
            self._errors, self._done = {}, set()
        queue = EmbeddedQueue(
            self.engine.store,
            self._handler(progress),
            workers=self.workers,
            clock=self.clock,
            max_attempts=self.max_attempts,
            among=(self.engine.tenant, keys) if self.own_keys_only else None,
        )
        queue.enqueue_many(self.engine.tenant, keys)
        wanted = set(keys)
        self._drain(queue, wanted, started, timeout)
        return self._report(keys, self._left(queue, wanted))

    def _handler(self, progress: Progress | None) -> Callable[[Job], None]:
        def handle(job: Job) -> None:
            try:
                self.engine.reconcile(job)
            except Exception as exc:
                with self._lock:
                    self._errors[job.key] = describe(exc)
                    self._done.discard(job.key)
                raise
            with self._lock:
                self._errors.pop(job.key, None)
                self._done.add(job.key)
            if progress is not None:
                progress(job.key)

        return handle

    def _drain(
        self, queue: EmbeddedQueue, keys: set[str], started: datetime, timeout: float
    ) -> None:
        """Run what is due; wait for backoffs that end before the deadline, then run again."""
        deadline = started + timedelta(seconds=timeout)
        while True:
            remaining = (deadline - self.clock.now()).total_seconds()
            queue.run_until_idle(timeout=max(remaining, 1.0))
            due = self._next_claimable(self._left(queue, keys))
            if due is None or due >= deadline:
                return
            self.clock.sleep(max((due - self.clock.now()).total_seconds(), 0.0))

    def _left(self, queue: EmbeddedQueue, keys: set[str]) -> list[_Remaining]:
        now = self.clock.now()
        entries = [e for e in queue.queued(self.engine.tenant) if e.key in keys]
        return [_Remaining(e, queue.holds(e), now) for e in entries]

    @staticmethod
    def _next_claimable(left: list[_Remaining]) -> datetime | None:
        """The earliest time this pass could lease one of ``left``: leases held are not awaited."""
        times = [entry.claimable_at for entry in left if entry.claimable_at is not None]
        return min(times, default=None)

    def _report(self, keys: list[str], left: list[_Remaining]) -> PassReport:
        """Held elsewhere, else failed (dead letter, or not finished), else synced (by anyone)."""
        letters = self.engine.store.dead_letters_of(self.engine.tenant, sorted(set(keys)))
        dead = {d.key: d.reason for d in letters}
        with self._lock:
            errors, done = dict(self._errors), set(self._done)
        held = [
            Held(e.entry.key, e.until) for e in left if e.held_elsewhere and e.entry.key not in done
        ]
        unsynced = {h.key for h in held}
        failures = [Failure(k, r) for k, r in sorted(dead.items()) if k not in unsynced]
        unsynced |= dead.keys()
        waiting = [e for e in left if e.entry.key not in unsynced | done]
        failures += [Failure(e.entry.key, e.unfinished(errors)) for e in waiting]
        unsynced |= {e.entry.key for e in waiting}
        synced = len([k for k in set(keys) if k not in unsynced])
        return PassReport(len(set(keys)), synced, failures, self.engine.schema.left_out, held)


@dataclass(frozen=True)
class _Remaining:
    """A key of the pass still in the queue when looked at, and who (if anyone) leases it."""

    entry: QueuedKey
    ours: bool
    now: datetime

    @property
    def live_lease(self) -> bool:
        return self.entry.lease_until is not None and self.entry.lease_until >= self.now

    @property
    def held_elsewhere(self) -> bool:
        return self.live_lease and not self.ours

    @property
    def until(self) -> datetime:
        return self.entry.lease_until or self.now

    @property
    def claimable_at(self) -> datetime | None:
        """When a claim can lease it: its due time, or an expired lease's end; None if leased."""
        if self.live_lease:
            return None
        return max(self.entry.due_at, self.entry.lease_until or self.entry.due_at)

    def unfinished(self, errors: dict[str, str]) -> str:
        key = self.entry.key
        if self.live_lease:
            return "still running when the time was up"
        return f"still retrying: {errors.get(key) or self.entry.last_error or 'due later'}"


class CallMeter:
    """Calls each side's HTTP clients sent (token requests excluded), for the live readout."""

    def __init__(self) -> None:
        self._lock = threading.Lock()
        self.calls: dict[str, int] = {}

    def hook(self, side: str) -> Callable[[httpx.Request], None]:
        def seen(request: httpx.Request) -> None:
            if "token" not in request.url.path:
                with self._lock:
                    self.calls[side] = self.calls.get(side, 0) + 1

        return seen

    def snapshot(self) -> dict[str, int]:
        with self._lock:
            return dict(self.calls)


@dataclass
class Wiring:
    """An engine built from settings, with what must be closed afterwards, the Salesforce client
    (its API budget; None on HubSpot) and the calls each side's clients sent (``pc``, ``crm``)."""

    engine: Engine
    closers: list[Callable[[], None]]
    salesforce: SalesforceClient | None = None
    calls: CallMeter = field(default_factory=CallMeter)

    def close(self) -> None:
        for close in self.closers:
            close()


def build_engine(settings: Settings, *, clock: Clock, http: HttpFactory = default_http) -> Wiring:
    """Clients, store and engine from validated settings (``sync``, sandbox, benchmark)."""
    settings.require_partner_center()
    settings.require_crm()
    opened: list[httpx.Client] = []
    calls = CallMeter()

    def tracked_as(side: str) -> HttpFactory:
        def tracked(base_url: str, auth: httpx.Auth | None) -> httpx.Client:
            client = http(base_url, auth)
            client.event_hooks["request"] = [*client.event_hooks["request"], calls.hook(side)]
            opened.append(client)
            return client

        return tracked

    private_dir(settings.service.state_dir)
    store = Store.open(settings.database_url, clock=clock)
    tenant = store.ensure_tenant(settings.tenant.name)
    pc = partner_center_client(settings, clock, tracked_as("pc"))
    mapping = mapping_from_settings(settings)
    salesforce = None
    if settings.sync.crm == "hubspot":
        engine = Engine.on_hubspot(
            store=store,
            tenant=tenant,
            partner_center=pc,
            hubspot=hubspot_client(settings, clock, tracked_as("crm")),
            mapping=mapping,
            clock=clock,
            pipeline=settings.hubspot.pipeline,
        )
    else:
        salesforce = salesforce_client(settings, clock, tracked_as("crm"))
        engine = Engine.build(
            store=store,
            tenant=tenant,
            partner_center=pc,
            salesforce=salesforce,
            mapping=mapping,
            clock=clock,
        )
    closers = [*(c.close for c in opened), store.close]
    return Wiring(engine, closers, salesforce, calls)
