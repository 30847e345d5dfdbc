"""The durable work queue's statements: dedupe on enqueue, leases on claim, outcomes after.

One row per (tenant, key). A key enqueued while leased is flagged ``dirty`` and runs once more
after the current run, so a signal that arrives during a reconcile is never lost; that run is
due when the signal asked (the earliest such time), not at once: a poll's re-check of an
opportunity is due when its second has settled, and running it early, while a seller may still
edit in that second, would read too soon.
"""

from __future__ import annotations

from collections.abc import Collection, Sequence
from dataclasses import dataclass
from datetime import datetime, timedelta
from functools import cache
from typing import Any

import sqlalchemy as sa
from sqlalchemy import Connection

from cosell.redaction import redact_text
from cosell.store import ledger, prepared
from cosell.store.records import Job, SignalScope, TenantId
from cosell.store.schema import dead_letters, queue

MAX_ERROR_CHARS = 4000
BOTH: SignalScope = "both"


def enqueue(
    conn: Connection,
    tenant: TenantId,
    keys: Sequence[str],
    due_at: datetime,
    priority: int,
    now: datetime,
    scope: SignalScope = "both",
    change_time: str | None = None,
) -> None:
    """Insert the keys, or merge with their rows: earlier due, higher priority, dirty if leased
    (the run after it due at the earliest time asked while leased), ``both`` sides to look at
    unless every signal of the row named the same one, and a ``change_time`` only while every
    signal of the row named that very change (two different changes, or a signal naming none,
    leave none: the run then reads)."""
    if not keys:
        return
    rows = [
        {"tenant_id": tenant, "key": key, "due_at": due_at, "priority": priority}
        | {"enqueued_at": now, "dirty": False, "scope": scope, "change_time": change_time}
        for key in dict.fromkeys(keys)
    ]
    conn.execute(_enqueue(conn.dialect.name), rows)


@cache
def _enqueue(dialect: str) -> Any:
    """The upsert of one queue row, built once per dialect and run with every row's parameters
    (a statement of many ``VALUES`` was built anew each time: 85 µs a key)."""
    stmt = prepared.insert_of(dialect)(queue)
    new = stmt.excluded
    leased = queue.c.lease_owner.is_not(None)
    return stmt.on_conflict_do_update(
        index_elements=[queue.c.tenant_id, queue.c.key],
        set_={
            "due_at": sa.case(
                (sa.and_(leased, ~queue.c.dirty), new.due_at),
                (new.due_at < queue.c.due_at, new.due_at),
                else_=queue.c.due_at,
            ),
            "priority": sa.case(
                (new.priority > queue.c.priority, new.priority), else_=queue.c.priority
            ),
            "dirty": sa.case((leased, sa.true()), else_=queue.c.dirty),
            "scope": sa.case((new.scope == queue.c.scope, queue.c.scope), else_=BOTH),
            # equal and not NULL, or NULL (a NULL on either side compares as unknown)
            "change_time": sa.case(
                (new.change_time == queue.c.change_time, queue.c.change_time), else_=sa.null()
            ),
        },
    )


def _free(skip_tenants: bool) -> Any:
    """Rows nobody holds (or whose lease expired) at ``:now``; with ``skip_tenants``, none of
    the tenants in ``:skip``."""
    free = sa.or_(queue.c.lease_until.is_(None), queue.c.lease_until < sa.bindparam("now"))
    if skip_tenants:
        free = sa.and_(free, queue.c.tenant_id.not_in(sa.bindparam("skip", expanding=True)))
    return free


def _claimable(skip_tenants: bool, among: bool) -> Any:
    """Due rows nobody holds; with ``among``, only the tenant ``:tenant``'s keys ``:keys``."""
    due = sa.select(queue.c.id).where(queue.c.due_at <= sa.bindparam("now"), _free(skip_tenants))
    if among:
        keys = queue.c.key.in_(sa.bindparam("keys", expanding=True))
        due = due.where(queue.c.tenant_id == sa.bindparam("tenant"), keys)
    return due


def _claim(skip_tenants: bool, among: bool) -> Any:
    free = _free(skip_tenants)
    # A materialized CTE picks the rows exactly once: a plain `IN (subquery)` may be re-run by
    # PostgreSQL's planner, and with SKIP LOCKED each run can pick different rows.
    picked = (
        _claimable(skip_tenants, among)
        .order_by(queue.c.priority.desc(), queue.c.due_at, queue.c.id)
        .limit(sa.bindparam("limit"))
        .with_for_update(skip_locked=True)
        .cte("picked")
        .prefix_with("MATERIALIZED", dialect="postgresql")
    )
    values: dict[str, Any] = {
        "lease_owner": sa.bindparam("owner"),
        "lease_until": sa.bindparam("until"),
    }
    return (
        sa.update(queue)
        .where(queue.c.id.in_(sa.select(picked.c.id)), free)
        .values(attempts=queue.c.attempts + 1, **values)
        .returning(*queue.c)
    )


_FORMS = [(skip, among) for skip in (False, True) for among in (False, True)]
_ANY_CLAIMABLE = {form: _claimable(*form).limit(1) for form in _FORMS}
_CLAIM = {form: _claim(*form) for form in _FORMS}
"""A worker runs these before every job: built once (building a statement and its cache key
cost several times what SQLite takes to run it)."""


Among = tuple[TenantId, Collection[str]]
"""A tenant and some of its keys: a claim that leases only those (a pass's own)."""


def _due(now: datetime, skip_tenants: Collection[TenantId], among: Among | None) -> dict[str, Any]:
    params: dict[str, Any] = {"now": now}
    if skip_tenants:
        params["skip"] = [int(t) for t in skip_tenants]
    if among is not None:
        params["tenant"], params["keys"] = among[0], list(among[1])
    return params


def any_claimable(
    conn: Connection,
    now: datetime,
    skip_tenants: Collection[TenantId] = (),
    among: Among | None = None,
) -> bool:
    """Whether :func:`claim` would lease anything now (a read: no lock taken)."""
    stmt = _ANY_CLAIMABLE[bool(skip_tenants), among is not None]
    return conn.execute(stmt, _due(now, skip_tenants, among)).first() is not None


def claim(
    conn: Connection,
    owner: str,
    now: datetime,
    lease_seconds: float,
    limit: int,
    skip_tenants: Collection[TenantId] = (),
    among: Among | None = None,
) -> list[Job]:
    """Lease up to ``limit`` due keys that nobody holds (or whose lease expired), none of a
    tenant in ``skip_tenants`` (those holding their share of the workers), and with ``among``
    only those keys of that tenant."""
    until = now + timedelta(seconds=lease_seconds)
    params = _due(now, skip_tenants, among) | {"limit": limit, "owner": owner, "until": until}
    rows = conn.execute(_CLAIM[bool(skip_tenants), among is not None], params).mappings().all()
    jobs = [_job(row) for row in rows]
    return sorted(jobs, key=lambda j: (-j.priority, j.due_at, j.id))


def lease_keys(
    conn: Connection,
    tenant: TenantId,
    keys: Sequence[str],
    owner: str,
    now: datetime,
    lease_seconds: float,
) -> list[Job]:
    """Lease those of the queued ``keys`` that nobody holds (or whose lease expired), for
    ``owner`` (a statement a thousand keys). A key is clean once leased: what was signalled
    before is seen by the run that follows (an expired lease's signals included)."""
    until = now + timedelta(seconds=lease_seconds)
    leased: list[Job] = []
    for chunk in prepared.in_chunks(keys):
        stmt = (
            sa.update(queue)
            .where(queue.c.tenant_id == tenant, queue.c.key.in_(chunk), _free(False))
            .values(
                attempts=queue.c.attempts + 1, lease_owner=owner, lease_until=until, dirty=False
            )
            .returning(*queue.c)
        )
        leased += [_job(row) for row in conn.execute(stmt, {"now": now}).mappings()]
    return leased


def complete_many(conn: Connection, done: Sequence[Job], now: datetime) -> None:
    """:func:`complete` for many jobs: the clean rows deleted and the dead letters cleared by
    one statement each, run with every job's parameters; a row that went dirty meanwhile is
    queued again, as :func:`complete` does."""
    if not done:
        return
    held = [{"id": job.id, "owner": job.lease_owner} for job in done]
    conn.execute(_DELETE_CLEAN, held)
    for chunk in prepared.in_chunks([job.id for job in done]):
        left = conn.execute(sa.select(queue.c.id).where(queue.c.id.in_(chunk))).scalars()
        dirty = set(left)
        for job in done:
            if job.id in dirty and _is_dirty(conn, job):
                _requeue_now(conn, job, now)
    letters = [{"tenant": job.tenant_id, "key": job.key} for job in done]
    conn.execute(_FORGET, letters)


def _job(row: Any) -> Job:
    return Job(
        id=row["id"],
        tenant_id=TenantId(row["tenant_id"]),
        key=row["key"],
        due_at=row["due_at"],
        priority=row["priority"],
        attempts=row["attempts"],
        last_error=row["last_error"],
        lease_owner=row["lease_owner"],
        lease_until=row["lease_until"],
        enqueued_at=row["enqueued_at"],
        scope=row["scope"],
        change_time=row["change_time"],
    )


def _held(job: Job) -> Any:
    # Owners are unique per worker thread, and a worker runs one job at a time, so the owner
    # alone tells whether the lease is still ours (extensions move ``lease_until``).
    return sa.and_(queue.c.id == job.id, queue.c.lease_owner == job.lease_owner)


_DIRTY = sa.select(queue.c.dirty).where(
    queue.c.id == sa.bindparam("id"), queue.c.lease_owner == sa.bindparam("owner")
)
_DELETE_CLEAN = sa.delete(queue).where(
    queue.c.id == sa.bindparam("id"),
    queue.c.lease_owner == sa.bindparam("owner"),
    queue.c.dirty == sa.false(),
)
"""A finished key's row, when the lease is still ours and no signal came while it ran."""
ONE_DEAD_LETTER = sa.and_(
    dead_letters.c.tenant_id == sa.bindparam("tenant"), dead_letters.c.key == sa.bindparam("key")
)
"""The dead letter of ``:key`` of ``:tenant``."""
_FORGET = sa.delete(dead_letters).where(ONE_DEAD_LETTER)
"""Run after every job (built once, as :data:`_CLAIM`)."""


def extend_lease(conn: Connection, job: Job, until: datetime) -> bool:
    """Push the lease of a running job to ``until``; False when it was lost."""
    return conn.execute(sa.update(queue).where(_held(job)).values(lease_until=until)).rowcount == 1


def handed_over(conn: Connection, job: Job) -> bool:
    """Drop a leased row whose key another queue now carries (its dead letter is left alone)."""
    return conn.execute(sa.delete(queue).where(_held(job))).rowcount == 1


def _is_dirty(conn: Connection, job: Job) -> bool | None:
    """``None`` when the lease was lost (expired and reclaimed, or the row is gone)."""
    held = {"id": job.id, "owner": job.lease_owner}
    dirty = conn.execute(_DIRTY, held).scalar_one_or_none()
    return None if dirty is None else bool(dirty)


def _requeue_now(conn: Connection, job: Job, now: datetime) -> None:
    """Run a dirty key again: when its signal asked (``due_at``, set while it ran), or now."""
    due = sa.case((queue.c.due_at > now, queue.c.due_at), else_=now)
    conn.execute(
        sa.update(queue)
        .where(queue.c.id == job.id)
        .values(
            lease_owner=None, lease_until=None, dirty=False, attempts=0, due_at=due, last_error=None
        )
    )


def complete(conn: Connection, job: Job, now: datetime) -> bool:
    """Done: delete the row (or requeue it now if it went dirty) and clear any dead letter."""
    held = {"id": job.id, "owner": job.lease_owner}
    if conn.execute(_DELETE_CLEAN, held).rowcount == 0:  # the usual case is one statement
        dirty = _is_dirty(conn, job)
        if dirty is None:
            return False
        _requeue_now(conn, job, now)
    clear_dead_letter(conn, job.tenant_id, job.key)
    return True


def hand_back(conn: Connection, job: Job, now: datetime) -> bool:
    """Release a running job's lease untouched: due now, and this claim not counted."""
    values = {
        "lease_owner": None,
        "lease_until": None,
        "due_at": now,
        "attempts": sa.case((queue.c.attempts > 0, queue.c.attempts - 1), else_=0),
    }
    return conn.execute(sa.update(queue).where(_held(job)).values(**values)).rowcount == 1


def lease_owners(conn: Connection, tenant: TenantId, now: datetime) -> set[str]:
    """The owners of ``tenant``'s live leases."""
    stmt = sa.select(queue.c.lease_owner).distinct()
    stmt = stmt.where(queue.c.tenant_id == tenant, queue.c.lease_until >= now)
    return {str(owner) for owner in conn.execute(stmt).scalars() if owner}


def release_leases(conn: Connection, tenant: TenantId, owners: Sequence[str], now: datetime) -> int:
    """Let go of every lease of ``tenant`` that ``owners`` hold (processes that are gone): the
    keys are due now, their claims not counted, as if handed back. How many were let go."""
    values = {
        "lease_owner": None,
        "lease_until": None,
        "due_at": now,
        "attempts": sa.case((queue.c.attempts > 0, queue.c.attempts - 1), else_=0),
    }
    where = sa.and_(queue.c.tenant_id == tenant, queue.c.lease_owner.in_(list(owners)))
    return conn.execute(sa.update(queue).where(where).values(**values)).rowcount


def clear_dead_letter(conn: Connection, tenant: TenantId, key: str) -> None:
    """Forget ``key``'s dead letter: a later run of the key succeeded."""
    conn.execute(_FORGET, {"tenant": tenant, "key": key})


def retry_later(conn: Connection, job: Job, due_at: datetime, error: str) -> bool:
    """Release the lease and run again at ``due_at``; a dirty flag is absorbed by that run."""
    values = {
        "lease_owner": None,
        "lease_until": None,
        "dirty": False,
        "due_at": due_at,
        "last_error": redact_text(error)[:MAX_ERROR_CHARS],
    }
    result = conn.execute(sa.update(queue).where(_held(job)).values(**values))
    return result.rowcount == 1


def dead_letter(conn: Connection, job: Job, reason: str, now: datetime) -> bool:
    """Park the key with ``reason``. If it went dirty meanwhile it also runs once more now."""
    dirty = _is_dirty(conn, job)
    if dirty is None:
        return False
    put_dead_letter(conn, job.tenant_id, job.key, reason, job.attempts, now)
    if dirty:
        _requeue_now(conn, job, now)
    else:
        conn.execute(sa.delete(queue).where(queue.c.id == job.id))
    return True


def put_dead_letter(
    conn: Connection, tenant: TenantId, key: str, reason: str, attempts: int, now: datetime
) -> None:
    reason = redact_text(reason)[:MAX_ERROR_CHARS]
    stmt = prepared.insert_for(conn)(dead_letters).values(
        tenant_id=tenant, key=key, reason=reason, attempts=attempts, failed_at=now
    )
    stmt = stmt.on_conflict_do_update(
        index_elements=[dead_letters.c.tenant_id, dead_letters.c.key],
        set_={"reason": reason, "attempts": attempts, "failed_at": now},
    )
    conn.execute(stmt)
    ledger.on_dead_letter(conn, tenant, key, reason, now)


@dataclass(frozen=True)
class QueuedKey:
    """A key still in the queue: waiting until ``due_at``, or leased by ``lease_owner``."""

    key: str
    due_at: datetime
    lease_owner: str | None
    lease_until: datetime | None
    last_error: str | None


def queued(conn: Connection, tenant: TenantId) -> list[QueuedKey]:
    """Every key of ``tenant`` still in the queue, with its lease, ordered by key."""
    columns = (queue.c.key, queue.c.due_at, queue.c.lease_owner, queue.c.lease_until)
    stmt = sa.select(*columns, queue.c.last_error).where(queue.c.tenant_id == tenant)
    return [QueuedKey(*row) for row in conn.execute(stmt.order_by(queue.c.key))]


def next_due(conn: Connection) -> datetime | None:
    """When the next key becomes claimable: the earliest due time or lease expiry."""
    unleased = sa.select(sa.func.min(queue.c.due_at)).where(queue.c.lease_owner.is_(None))
    leased = sa.select(sa.func.min(queue.c.lease_until)).where(queue.c.lease_owner.is_not(None))
    times = [conn.execute(q).scalar_one_or_none() for q in (unleased, leased)]
    present = [t for t in times if t is not None]
    return min(present) if present else None
