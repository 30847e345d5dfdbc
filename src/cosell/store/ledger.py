"""The ledger: one row per record cosell has seen, with the state it is in and why.

The engine writes a record's state at each reconcile outcome (synced, held, waiting for data,
skipped by a rule, refused by a side, conflict, parked, closed, expired before sync); the queue
writes ``refused`` with a dead letter, in the dead letter's own transaction, unless the engine
already said more precisely why (waiting for data, expired). Every surface reads this table:
status, audit, the console and its API, the metrics.

A row is found by its referral id, else its opportunity id; a row known by one id learns the
other when the pair links (a referral refused before its opportunity existed keeps its history).
"""

from __future__ import annotations

from collections.abc import Sequence
from datetime import datetime
from typing import Any

import sqlalchemy as sa
from sqlalchemy import Connection

from cosell.redaction import redact_text
from cosell.store import prepared
from cosell.store.records import LedgerRow, LedgerState, LedgerUpdate, TenantId
from cosell.store.schema import ledger

STATES: tuple[LedgerState, ...] = (
    "refused",
    "expired",
    "waiting",
    "conflict",
    "parked",
    "skipped",
    "held",
    "closed",
    "synced",
)
"""Every ledger state, those needing a person first."""
PRECISE_FAILURES: frozenset[str] = frozenset({"waiting", "expired"})
"""States the engine set with a better reason than a dead letter's ``refused``."""
MAX_TEXT = 2000


def put(
    conn: Connection,
    tenant: TenantId,
    record: LedgerUpdate,
    now: datetime,
    ahead: Ahead | None = None,
) -> bool:
    """Record ``record``'s state; True when the state or its reason changed. With ``ahead``
    (rows read for a batch, see :class:`Ahead`) and the record's ids among them, its rows are
    not read again, and a new row is kept there to be inserted with the batch's others."""
    known = ahead.take(record) if ahead is not None else None
    if known is None:
        if ahead is not None:
            insert_kept(conn, ahead)  # the read sees the rows kept so far
        rows = _matching(conn, tenant, record.referral_id, record.opportunity_id)
    else:
        rows = known
    values = _values(record)
    if not rows:
        row = {"tenant_id": tenant, "since": now, "updated_at": now, **values}
        if known is not None and ahead is not None:
            ahead.inserts.append(row)
        else:
            conn.execute(_INSERT, row)
        return True
    keep, *others = rows
    for other in others:
        conn.execute(sa.delete(ledger).where(ledger.c.id == other["id"]))
    changed = bool(keep["state"] != record.state or keep["reason"] != values["reason"])
    if not changed and keep["setting"] == values["setting"] and _ids_known(keep, values):
        return False
    ids = {k: v for k in ("referral_id", "opportunity_id") if (v := values[k]) is not None}
    update = {**values, **ids, "updated_at": now}
    for column in ("referral_id", "opportunity_id"):
        update[column] = ids.get(column, keep[column])
    if keep["state"] != record.state:
        update["since"] = now
    stmt = prepared.update_by_id(ledger, prepared.columns_of(update))
    conn.execute(stmt, prepared.update_params(keep["id"], update))
    return changed


class Ahead:
    """The ledger rows of a batch's records, read in one statement (:func:`read_ahead`), and
    the rows the batch's puts made, to be inserted in one (:func:`insert_kept`). A record's rows
    are given once: a second put for one of its ids reads them (after the kept rows are
    inserted)."""

    def __init__(
        self,
        tenant: TenantId,
        rows: Sequence[Any],
        referral_ids: set[str],
        opportunity_ids: set[str],
    ) -> None:
        self.tenant = tenant
        self.rows = list(rows)
        self.referral_ids = referral_ids
        self.opportunity_ids = opportunity_ids
        self.inserts: list[dict[str, Any]] = []

    def take(self, record: LedgerUpdate) -> list[Any] | None:
        """The rows naming either of the record's ids, as :func:`_matching` orders them, or
        None when they were not read ahead (or were given already)."""
        referral, opportunity = record.referral_id, record.opportunity_id
        if referral is None and opportunity is None:
            return None
        if referral is not None and referral not in self.referral_ids:
            return None
        if opportunity is not None and opportunity not in self.opportunity_ids:
            return None
        self.referral_ids.discard(referral or "")
        self.opportunity_ids.discard(opportunity or "")

        def first(row: Any) -> tuple[int, int]:
            return (0 if referral is not None and row["referral_id"] == referral else 1, row["id"])

        mine = [
            row
            for row in self.rows
            if (referral is not None and row["referral_id"] == referral)
            or (opportunity is not None and row["opportunity_id"] == opportunity)
        ]
        for row in mine:  # the put may change them: another record naming them reads them
            self.rows.remove(row)
            self.referral_ids.discard(row["referral_id"] or "")
            self.opportunity_ids.discard(row["opportunity_id"] or "")
        return sorted(mine, key=first)


def read_ahead(
    conn: Connection, tenant: TenantId, ids: Sequence[tuple[str | None, str | None]]
) -> Ahead:
    """The rows naming any of the ``(referral id, opportunity id)`` pairs' ids (a statement a
    thousand ids of each kind)."""
    referral_ids = {r for r, _ in ids if r is not None}
    opportunity_ids = {o for _, o in ids if o is not None}
    found: dict[int, Any] = {}
    for column, values in (("referral_id", referral_ids), ("opportunity_id", opportunity_ids)):
        for chunk in prepared.in_chunks(sorted(values)):
            stmt = sa.select(ledger).where(
                ledger.c.tenant_id == tenant, ledger.c[column].in_(chunk)
            )
            found |= {row["id"]: row for row in conn.execute(stmt).mappings()}
    return Ahead(tenant, list(found.values()), referral_ids, opportunity_ids)


def insert_kept(conn: Connection, ahead: Ahead) -> None:
    """The new rows the puts kept in ``ahead``, inserted in one statement."""
    if ahead.inserts:
        rows, ahead.inserts = ahead.inserts, []
        conn.execute(_INSERT, rows)


def on_dead_letter(
    conn: Connection, tenant: TenantId, key: str, reason: str, now: datetime
) -> None:
    """A dead letter for ``key``: the record is ``refused`` with the raw reason, unless the
    engine already recorded a more precise failure (waiting for data, expired)."""
    kind, _, record_id = key.partition(":")
    ids = _ids_of(kind, record_id)
    if ids is None:
        return
    rows = _matching(conn, tenant, *ids)
    if rows and rows[0]["state"] in (*PRECISE_FAILURES, "refused"):
        # The engine's words stay; the dead letter's text (with the call) is the raw error.
        conn.execute(
            sa.update(ledger)
            .where(ledger.c.id == rows[0]["id"])
            .values(raw=_text(reason), updated_at=now)
        )
        return
    state = LedgerUpdate("refused", *ids, reason=_text(reason), raw=_text(reason))
    put(conn, tenant, state, now)


def for_record(conn: Connection, tenant: TenantId, record_id: str) -> LedgerRow | None:
    """The row of a referral or opportunity id."""
    rows = _matching(conn, tenant, record_id, record_id)
    return _row(rows[0]) if rows else None


def states_of(
    conn: Connection, tenant: TenantId, column: str, values: Sequence[str]
) -> dict[str, LedgerState]:
    """The states of the rows whose ``column`` (``referral_id`` or ``opportunity_id``) is one
    of ``values``, by that value (a statement a thousand values)."""
    found: dict[str, LedgerState] = {}
    for chunk in prepared.in_chunks(values):
        where = (ledger.c.tenant_id == tenant, ledger.c[column].in_(chunk))
        for value, state in conn.execute(sa.select(ledger.c[column], ledger.c.state).where(*where)):
            found[str(value)] = state
    return found


def all_of(conn: Connection, tenant: TenantId) -> list[LedgerRow]:
    stmt = sa.select(ledger).where(ledger.c.tenant_id == tenant).order_by(ledger.c.id)
    return [_row(r) for r in conn.execute(stmt).mappings()]


def counts(conn: Connection, tenant: TenantId) -> dict[str, int]:
    """Records per ledger state (every state, zero included)."""
    stmt = (
        sa.select(ledger.c.state, sa.func.count())
        .where(ledger.c.tenant_id == tenant)
        .group_by(ledger.c.state)
    )
    found = {str(state): int(n) for state, n in conn.execute(stmt).all()}
    return {state: found.get(state, 0) for state in STATES}


def _matching(
    conn: Connection, tenant: TenantId, referral_id: str | None, opportunity_id: str | None
) -> Sequence[Any]:
    """Rows naming either id, the referral's first (one read)."""
    if referral_id is None and opportunity_id is None:
        return []
    params = {"tenant": tenant, "referral": referral_id, "opportunity": opportunity_id}
    return list(conn.execute(_EITHER, params).mappings())


_INSERT = sa.insert(ledger)
_REFERRAL: sa.BindParameter[str] = sa.bindparam("referral")
_OPPORTUNITY: sa.BindParameter[str] = sa.bindparam("opportunity")
_EITHER = (
    sa.select(ledger)
    .where(
        ledger.c.tenant_id == sa.bindparam("tenant"),
        sa.or_(ledger.c.referral_id == _REFERRAL, ledger.c.opportunity_id == _OPPORTUNITY),
    )
    .order_by(sa.case((ledger.c.referral_id == _REFERRAL, 0), else_=1), ledger.c.id)
)
"""Run for every record (see :mod:`cosell.store.prepared`)."""


def _ids_of(kind: str, record_id: str) -> tuple[str | None, str | None] | None:
    if kind == "referral":
        return record_id, None
    if kind == "opportunity":
        return None, record_id
    return None


def _ids_known(row: Any, values: dict[str, Any]) -> bool:
    return all(values[c] is None or row[c] == values[c] for c in ("referral_id", "opportunity_id"))


def _values(record: LedgerUpdate) -> dict[str, Any]:
    return {
        "referral_id": record.referral_id,
        "opportunity_id": record.opportunity_id,
        "state": record.state,
        "reason": _text(record.reason) or "",
        "setting": record.setting,
        "raw": _text(record.raw) if record.raw else None,
    }


def _text(value: str) -> str:
    return redact_text(value)[:MAX_TEXT]


def _row(row: Any) -> LedgerRow:
    return LedgerRow(
        tenant_id=TenantId(row["tenant_id"]),
        referral_id=row["referral_id"],
        opportunity_id=row["opportunity_id"],
        state=row["state"],
        reason=row["reason"],
        setting=row["setting"],
        raw=row["raw"],
        since=row["since"],
        updated_at=row["updated_at"],
    )
