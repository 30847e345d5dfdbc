"""Records as operators browse them: every linked or seen referral/opportunity with its deal
name, customer, value, stage, owner, direction, ledger state and the reason for that state.

The values are the base both sides last agreed on (the mapping's canonical field names); the
state is the record's ledger state (``cosell.store.ledger``: written by the engine at each
outcome and by the queue with a dead letter), with what is happening to it right now on top:
a drift mark from verify, a create under way, a change queued. Records the ledger has not seen
yet (a store from before the ledger) fall back to the dead letters and the link. Listing reads
the tenant's links and ledger once and filters in memory (fine for the thousands of records a
deployment has; a page is cut from the sorted list).
"""

from __future__ import annotations

import csv
import io
from collections.abc import Collection, Iterable, Sequence
from dataclasses import dataclass, field, fields
from datetime import datetime
from typing import Any, Literal

import sqlalchemy as sa

from cosell.operations.reasons import PlainReason, ledger_reason, plain_reason
from cosell.queue.protocol import queue_key
from cosell.store import drift as drift_marks
from cosell.store import links as stored_links
from cosell.store.records import LedgerRow, Link, TenantId
from cosell.store.schema import audit, conflicts, dead_letters, queue
from cosell.store.sql import Store

RecordState = Literal[
    "refused",
    "expired",
    "waiting",
    "skipped",
    "conflict",
    "parked",
    "drift",
    "held",
    "creating",
    "queued",
    "closed",
    "synced",
]
STATES: tuple[RecordState, ...] = (
    "refused",
    "expired",
    "waiting",
    "skipped",
    "conflict",
    "parked",
    "drift",
    "held",
    "creating",
    "queued",
    "closed",
    "synced",
)
STATE_WORDS: dict[str, str] = {
    "refused": "Refused: a side would not take the change",
    "expired": "Closed in Partner Center before it ever reached the CRM",
    "waiting": "Waiting for data Partner Center needs (the reason names the field)",
    "skipped": "Not imported: a mapping rule leaves it out (the reason says which setting)",
    "conflict": "Waiting for a person to decide (a conflict or an account choice)",
    "parked": "Parked: the sides kept undoing each other, so cosell stopped syncing it",
    "drift": "The sides disagree (found by verify)",
    "held": "Held: the referral is on hold; edits wait for it to be accepted",
    "creating": "Being created on the other side",
    "queued": "A change is waiting to sync",
    "closed": "Closed on both sides",
    "synced": "In sync",
}
ATTENTION: frozenset[str] = frozenset(
    {"refused", "expired", "waiting", "skipped", "conflict", "parked", "drift"}
)
"""States a person should look at (the others settle on their own)."""
SORTS = ("name", "customer", "value", "stage", "state", "last_sync")
PAGE_SIZE = 25


@dataclass(frozen=True)
class RecordRow:
    """One record (a link, or a key seen only in a dead letter) as the list shows it."""

    key: str
    link_id: int | None
    referral_id: str | None
    opportunity_id: str | None
    name: str
    customer: str
    value: Any
    currency: str
    stage: str
    owner: str
    direction: str
    state: RecordState
    reason: PlainReason | None
    last_sync: datetime | None
    base: dict[str, Any] = field(default_factory=dict, compare=False, repr=False)

    @property
    def state_words(self) -> str:
        return STATE_WORDS[self.state]

    def search_text(self) -> str:
        parts = (self.name, self.customer, self.owner, self.referral_id, self.opportunity_id)
        return " ".join(p for p in parts if p).casefold()


@dataclass(frozen=True)
class RecordQuery:
    """Search, filters, sort and page of the records list (from the query string)."""

    q: str = ""
    state: str = ""
    direction: str = ""
    stage: str = ""
    sort: str = "last_sync"
    descending: bool = True
    page: int = 1
    expiring: bool = False
    """Only incoming referrals close to expiry (the caller passes their ids as ``only``)."""

    @classmethod
    def parse(cls, params: Any) -> RecordQuery:
        sort = str(params.get("sort") or "last_sync")
        try:
            page = max(int(params.get("page") or 1), 1)
        except ValueError:
            page = 1
        return cls(
            q=str(params.get("q") or "").strip(),
            state=str(params.get("state") or ""),
            direction=str(params.get("direction") or ""),
            stage=str(params.get("stage") or ""),
            sort=sort if sort in SORTS else "last_sync",
            descending=str(params.get("order") or "desc") != "asc",
            page=page,
            expiring=str(params.get("expiring") or "") in ("1", "true", "on"),
        )

    def keeps(self, row: RecordRow) -> bool:
        if self.q and self.q.casefold() not in row.search_text():
            return False
        if self.state and row.state != self.state:
            return False
        if self.direction and row.direction != self.direction:
            return False
        return not self.stage or row.stage == self.stage


@dataclass(frozen=True)
class RecordPage:
    rows: list[RecordRow]
    total: int
    page: int
    pages: int
    stages: list[str]


def list_records(
    store: Store,
    tenant: TenantId,
    query: RecordQuery | None = None,
    only: Collection[str] | None = None,
) -> RecordPage:
    """The page of records ``query`` asks for (all filters applied, then sorted); with
    ``only``, just the records whose referral or opportunity id is in it."""
    query = query or RecordQuery()
    everything = all_records(store, tenant)
    kept = sorted(
        (r for r in everything if query.keeps(r) and _among(r, only)),
        key=lambda r: _sort_key(r, query.sort),
        reverse=query.descending,
    )
    pages = max((len(kept) + PAGE_SIZE - 1) // PAGE_SIZE, 1)
    page = min(query.page, pages)
    start = (page - 1) * PAGE_SIZE
    stages = sorted({r.stage for r in everything if r.stage})
    return RecordPage(kept[start : start + PAGE_SIZE], len(kept), page, pages, stages)


def _among(row: RecordRow, only: Collection[str] | None) -> bool:
    return only is None or row.referral_id in only or row.opportunity_id in only


def all_records(store: Store, tenant: TenantId) -> list[RecordRow]:
    """Every record the ledger knows (linked or not), and from before the ledger every
    dead-lettered key and skipped referral without a link."""
    facts = _Facts.read(store, tenant)
    rows = [_row(link, facts) for link in facts.links]
    known = {r.key for r in rows} | {
        queue_key("opportunity", r.opportunity_id) for r in rows if r.opportunity_id
    }
    for entry in facts.ledger:
        keys = _entry_keys(entry)
        if not keys & known:
            rows.append(_unlinked(entry, facts))
            known |= keys
    for key, reason in facts.dead.items():
        if key not in known:
            rows.append(_orphan(key, reason, facts.dead_at.get(key)))
    known |= set(facts.dead)
    for referral_id, (message, at) in facts.skipped.items():
        key = queue_key("referral", referral_id)
        if key not in known:
            rows.append(_not_imported(key, referral_id, message, at))
    return rows


def find_record(store: Store, tenant: TenantId, record_id: str) -> RecordRow | None:
    """The record whose referral id, opportunity id or queue key is ``record_id``."""
    for row in all_records(store, tenant):
        if record_id in (row.key, row.referral_id, row.opportunity_id):
            return row
    return None


def to_csv(rows: Iterable[RecordRow]) -> str:
    """The rows as CSV (spreadsheet formula prefixes neutralised)."""
    columns = [f.name for f in fields(RecordRow) if f.name not in ("base", "reason")]
    out = io.StringIO()
    writer = csv.writer(out)
    writer.writerow([*columns, "reason"])
    for row in rows:
        values = [getattr(row, c) for c in columns]
        reason = row.reason.text if row.reason else ""
        writer.writerow([_cell(v) for v in (*values, reason)])
    return out.getvalue()


# --- reading ---------------------------------------------------------------------------------


@dataclass
class _Facts:
    links: list[Link]
    dead: dict[str, str]
    dead_at: dict[str, datetime]
    queued: set[str]
    conflicted: set[int]
    drifted: set[int]
    incoming: dict[str, int]
    outgoing: dict[str, int]
    skipped: dict[str, tuple[str, datetime]] = field(default_factory=dict)
    """Referrals left out by a rule (a lead not imported, closed before import): id → the
    newest such audit message and when."""
    ledger: list[LedgerRow] = field(default_factory=list)
    by_id: dict[str, LedgerRow] = field(default_factory=dict)

    @classmethod
    def read(cls, store: Store, tenant: TenantId) -> _Facts:
        facts = cls._read(store, tenant)
        facts.ledger = store.ledger(tenant)
        for entry in facts.ledger:
            for record_id in (entry.opportunity_id, entry.referral_id):
                if record_id:
                    facts.by_id[record_id] = entry
        return facts

    def entry(self, link: Link) -> LedgerRow | None:
        for record_id in (link.referral_id, link.opportunity_id):
            if record_id and record_id in self.by_id:
                return self.by_id[record_id]
        return None

    @classmethod
    def _read(cls, store: Store, tenant: TenantId) -> _Facts:
        drifted = set(drift_marks.flags(store, tenant))
        with store.engine.connect() as conn:
            link_rows = stored_links.all_of(conn, tenant)
            dead = conn.execute(
                sa.select(
                    dead_letters.c.key, dead_letters.c.reason, dead_letters.c.failed_at
                ).where(dead_letters.c.tenant_id == tenant)
            ).all()
            queued = conn.execute(
                sa.select(queue.c.key).where(queue.c.tenant_id == tenant)
            ).scalars()
            conflicted = conn.execute(
                sa.select(conflicts.c.link_id).where(
                    conflicts.c.tenant_id == tenant, conflicts.c.state == "open"
                )
            ).scalars()
            return cls(
                link_rows,
                {k: r for k, r, _ in dead},
                {k: at for k, _, at in dead},
                set(queued),
                set(conflicted),
                drifted,
                _first(conn, tenant, "to_crm", audit.c.referral_id),
                _first(conn, tenant, "to_partner_center", audit.c.opportunity_id),
                _not_imported_rows(conn, tenant),
            )


def _not_imported_rows(conn: Any, tenant: TenantId) -> dict[str, tuple[str, datetime]]:
    """Skipped audit rows about a referral alone (no opportunity): the newest per referral."""
    stmt = (
        sa.select(audit.c.referral_id, audit.c.message, audit.c.at)
        .where(
            audit.c.tenant_id == tenant,
            audit.c.outcome == "skipped",
            audit.c.opportunity_id.is_(None),
            audit.c.referral_id.is_not(None),
        )
        .order_by(audit.c.at, audit.c.id)
    )
    return {str(r): (str(m), at) for r, m, at in conn.execute(stmt).all()}


def _first(conn: Any, tenant: TenantId, direction: str, column: Any) -> dict[str, int]:
    stmt = (
        sa.select(column, sa.func.min(audit.c.id))
        .where(audit.c.tenant_id == tenant, audit.c.direction == direction, column.is_not(None))
        .group_by(column)
    )
    return {str(k): int(v) for k, v in conn.execute(stmt).all()}


def _row(link: Link, facts: _Facts) -> RecordRow:
    keys = _keys(link)
    reason_text = next((facts.dead[k] for k in keys if k in facts.dead), None)
    entry = facts.entry(link)
    state = _state(link, keys, facts, entry)
    reason = plain_reason(reason_text) if reason_text else None
    if entry is not None and entry.state == state:
        reason = ledger_reason(entry, reason_text) or reason
    base = link.base or {}
    return RecordRow(
        key=keys[0],
        link_id=link.id,
        referral_id=link.referral_id,
        opportunity_id=link.opportunity_id,
        name=_text(base.get("name")),
        customer=_text(base.get("customer_name")),
        value=base.get("deal_value"),
        currency=_text(base.get("currency")),
        stage=_text(base.get("stage")),
        owner=_owner(base.get("partner_team")),
        direction=_direction(link, facts),
        state=state,
        reason=reason,
        last_sync=link.updated_at,
        base=base,
    )


def _keys(link: Link) -> list[str]:
    keys = []
    if link.referral_id:
        keys.append(queue_key("referral", link.referral_id))
    if link.opportunity_id:
        keys.append(queue_key("opportunity", link.opportunity_id))
    return keys or [f"link:{link.id}"]


_FAILED: frozenset[str] = frozenset({"refused", "expired", "waiting"})


def _state(link: Link, keys: Sequence[str], facts: _Facts, entry: LedgerRow | None) -> RecordState:
    """The ledger's state; a conflict, a drift, a create or a queued change on top of a
    record that is otherwise fine."""
    ledger_state = entry.state if entry is not None else None
    if ledger_state in _FAILED or ledger_state == "parked":
        assert ledger_state is not None
        return ledger_state
    if any(k in facts.dead for k in keys):
        return "refused"
    if link.id in facts.conflicted or ledger_state == "conflict":
        return "conflict"
    if link.id in facts.drifted:
        return "drift"
    if ledger_state == "held":
        # Edits wait for a person to accept: a reconcile queued meanwhile (a poll's re-check,
        # the drift check) keeps them waiting, so it must not hide them as "queued".
        return "held"
    if link.state == "pending_create":
        return "creating"
    if any(k in facts.queued for k in keys):
        return "queued"
    if ledger_state in ("closed", "synced", "skipped"):
        assert ledger_state is not None
        return ledger_state
    return "closed" if link.state == "closed" else "synced"


def _entry_keys(entry: LedgerRow) -> set[str]:
    keys = set()
    if entry.referral_id:
        keys.add(queue_key("referral", entry.referral_id))
    if entry.opportunity_id:
        keys.add(queue_key("opportunity", entry.opportunity_id))
    return keys


def _unlinked(entry: LedgerRow, facts: _Facts) -> RecordRow:
    """A record the ledger knows that has no link (not imported, refused before it existed
    on the other side, expired before it reached the CRM)."""
    keys = sorted(_entry_keys(entry), reverse=True)
    dead = next((facts.dead[k] for k in keys if k in facts.dead), None)
    state: RecordState = entry.state
    if dead is not None and state not in _FAILED:
        state = "refused"
    reason = ledger_reason(entry, dead) if state == entry.state else plain_reason(dead or "")
    return RecordRow(
        key=keys[0],
        link_id=None,
        referral_id=entry.referral_id,
        opportunity_id=entry.opportunity_id,
        name="",
        customer="",
        value=None,
        currency="",
        stage="",
        owner="",
        direction="incoming" if entry.referral_id else "outgoing",
        state=state,
        reason=reason,
        last_sync=entry.updated_at,
    )


def _direction(link: Link, facts: _Facts) -> str:
    incoming = facts.incoming.get(link.referral_id or "")
    outgoing = facts.outgoing.get(link.opportunity_id or "")
    if incoming is None and outgoing is None:
        return "unknown"
    if outgoing is None or (incoming is not None and incoming < outgoing):
        return "incoming"
    return "outgoing"


def _orphan(key: str, reason: str, failed_at: datetime | None) -> RecordRow:
    kind, _, record_id = key.partition(":")
    return RecordRow(
        key=key,
        link_id=None,
        referral_id=record_id if kind == "referral" else None,
        opportunity_id=record_id if kind == "opportunity" else None,
        name="",
        customer="",
        value=None,
        currency="",
        stage="",
        owner="",
        direction="incoming" if kind == "referral" else "outgoing",
        state="refused",
        reason=plain_reason(reason),
        last_sync=failed_at,
    )


def _not_imported(key: str, referral_id: str, message: str, at: datetime) -> RecordRow:
    what, _, fix = message.partition("; add ")
    return RecordRow(
        key=key,
        link_id=None,
        referral_id=referral_id,
        opportunity_id=None,
        name="",
        customer="",
        value=None,
        currency="",
        stage="",
        owner="",
        direction="incoming",
        state="skipped",
        reason=PlainReason(what, f"Add {fix}." if fix else "Nothing to do.", message),
        last_sync=at,
    )


def _owner(team: Any) -> str:
    if not isinstance(team, list) or not team or not isinstance(team[0], dict):
        return ""
    first = team[0]
    name = " ".join(str(first.get(k) or "") for k in ("first_name", "last_name")).strip()
    return name or str(first.get("email") or "")


def _text(value: Any) -> str:
    return "" if value is None else str(value)


def _sort_key(row: RecordRow, sort: str) -> Any:
    if sort == "value":
        try:
            return (0, float(row.value))
        except (TypeError, ValueError):
            return (1, 0.0)
    if sort == "last_sync":
        return row.last_sync.isoformat() if row.last_sync else ""
    if sort == "state":
        return STATES.index(row.state)
    return str(getattr(row, sort)).casefold()


def _cell(value: Any) -> str:
    text = "" if value is None else str(value)
    return "'" + text if text[:1] in ("=", "+", "-", "@", "\t", "\r") else text
