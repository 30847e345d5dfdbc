"""Link rows: find, insert or update one referral ↔ opportunity pair and its create intent."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import replace
from datetime import UTC, datetime
from functools import cache
from typing import Any

import sqlalchemy as sa
from sqlalchemy import Connection

from cosell import json_codec
from cosell.store import prepared
from cosell.store.records import CreateIntent, Link, LinkedPair, LinkUpdate, Side, TenantId
from cosell.store.schema import links

_BY_COLUMN = {
    column: sa.select(links).where(
        links.c.tenant_id == sa.bindparam("tenant"), links.c[column] == sa.bindparam("value")
    )
    for column in ("id", "referral_id", "opportunity_id")
}
"""The lookups, built once: a reconcile makes several, and building a statement (and its cache
key) each time was most of their cost."""


def by_column(conn: Connection, tenant: TenantId, column: str, value: Any) -> Link | None:
    """The link whose ``column`` equals ``value`` (ids are unique per tenant)."""
    params = {"tenant": tenant, "value": value}
    row = conn.execute(_BY_COLUMN[column], params).mappings().one_or_none()
    return None if row is None else _link(row)


def by_ids(
    conn: Connection, tenant: TenantId, column: str, values: Sequence[str]
) -> dict[str, Link]:
    """The links whose ``column`` is one of ``values``, by that value (a statement a thousand
    values)."""
    found: dict[str, Link] = {}
    for chunk in prepared.in_chunks(values):
        stmt = sa.select(links).where(links.c.tenant_id == tenant, links.c[column].in_(chunk))
        for row in conn.execute(stmt).mappings():
            link = _link(row)
            found[str(getattr(link, column))] = link
    return found


def find(conn: Connection, tenant: TenantId, update: LinkUpdate) -> Link | None:
    """The link an update refers to: by link id, else referral id, else opportunity id."""
    for column, value in (
        ("id", update.link_id),
        ("referral_id", update.referral_id),
        ("opportunity_id", update.opportunity_id),
    ):
        if value is not None and (found := by_column(conn, tenant, column, value)):
            return found
    return None


def apply(conn: Connection, tenant: TenantId, update: LinkUpdate, now: datetime) -> Link:
    """Insert or update the link; returns it as stored. An update naming its link by id is one
    statement (see :func:`_update_by_id`)."""
    if update.link_id is not None and (done := _update_by_id(conn, tenant, update, now)):
        return done
    current = find(conn, tenant, update)
    values = _changed_values(update, current)
    if current is None:
        values.setdefault("state", "linked")
        values.setdefault("base", {})
        values |= {"tenant_id": tenant, "created_at": now, "updated_at": now}
        inserted = conn.execute(_INSERT, values)
        return _link(inserted.mappings().one())
    return _update(conn, current.id, values | {"updated_at": now})


_INSERT = sa.insert(links).returning(links)


def _update(conn: Connection, link_id: int, values: dict[str, Any]) -> Link:
    stmt = prepared.update_by_id(links, prepared.columns_of(values), returning=True)
    updated = conn.execute(stmt, prepared.update_params(link_id, values))
    return _link(updated.mappings().one())


_COLUMNS = (
    "referral_id",
    "opportunity_id",
    "engagement_id",
    "base",
    "pc_etag",
    "pc_changed_at",
    "crm_modstamp",
    "crm_rows",
    "crm_read_at",
    "crm_fingerprint",
)
_INTENT = ("intent_side", "intent_key", "intent_started_at")


def _update_by_id(
    conn: Connection, tenant: TenantId, update: LinkUpdate, now: datetime
) -> Link | None:
    """The update of link ``update.link_id`` in one statement, or None when the tenant has no
    such link. What :func:`_changed_values` decides from the row read first (a link holding
    both ids has no create intent left, and ``pending_create`` becomes ``linked``), the
    statement decides from the row it updates."""
    columns, params = by_id_params(tenant, update, now)
    row = conn.execute(_by_id_statement(columns, True), params).mappings().one_or_none()
    return None if row is None else _link(row)


def by_id_params(
    tenant: TenantId, update: LinkUpdate, now: datetime
) -> tuple[tuple[str, ...], dict[str, Any]]:
    """The columns an update of link ``update.link_id`` sets (its statement's key, see
    :func:`write_by_id`) and the statement's parameters."""
    assert update.link_id is not None
    values = _given(update)
    if update.state is not None:
        values["state"] = update.state
    params = {**values, "id_": update.link_id, "tenant": tenant, "now": now}
    return prepared.columns_of(values), params


def write_by_id(conn: Connection, columns: tuple[str, ...], params: list[dict[str, Any]]) -> None:
    """Updates of links by id that set the same ``columns``, in one statement run for each
    (``executemany``): what :func:`applied` says each does."""
    conn.execute(_by_id_statement(columns, False), params)


def applied(current: Link, update: LinkUpdate, now: datetime) -> Link:
    """``current`` as an update of it by id leaves it (what the update's statement decides from
    the row it updates, decided from ``current``): the values the update gives, the create
    intent cleared and ``pending_create`` become ``linked`` once both ids are known, the
    values as the database gives them back."""
    values = _given(update)
    referral = values.get("referral_id", current.referral_id)
    opportunity = values.get("opportunity_id", current.opportunity_id)
    both = bool(referral) and bool(opportunity)
    state = update.state
    if state is None:
        state = "linked" if both and current.state == "pending_create" else current.state
    kept: dict[str, Any] = {}
    for column in ("base", "crm_rows"):
        if column in values:  # the stored JSON's copy, as a read gives it
            kept[column] = json_codec.loads(json_codec.dumps(values[column]))
    if "crm_read_at" in values:
        kept["crm_read_at"] = values["crm_read_at"].astimezone(UTC)
    return replace(
        current,
        **(values | kept),
        state=state,
        intent=None if both else current.intent,
        updated_at=now.astimezone(UTC),
    )


@cache
def _by_id_statement(columns: tuple[str, ...], returning: bool) -> Any:
    def now_or_kept(column: str) -> Any:
        return sa.bindparam(column) if column in columns else links.c[column]

    both = sa.and_(
        sa.func.coalesce(now_or_kept("referral_id"), "") != "",
        sa.func.coalesce(now_or_kept("opportunity_id"), "") != "",
    )
    values: dict[str, Any] = {c: sa.bindparam(c) for c in columns}
    values |= {c: sa.case((both, sa.null()), else_=links.c[c]) for c in _INTENT}
    if "state" not in columns:
        made = sa.and_(both, links.c.state == "pending_create")
        values["state"] = sa.case((made, "linked"), else_=links.c.state)
    values["updated_at"] = sa.bindparam("now")
    where = sa.and_(links.c.id == sa.bindparam("id_"), links.c.tenant_id == sa.bindparam("tenant"))
    stmt = sa.update(links).where(where).values(values)
    return stmt.returning(links) if returning else stmt


def _given(update: LinkUpdate) -> dict[str, Any]:
    """The columns an update gives a value (``None`` leaves a column as it is)."""
    return {c: v for c in _COLUMNS if (v := getattr(update, c)) is not None}


def _changed_values(update: LinkUpdate, current: Link | None) -> dict[str, Any]:
    values = _given(update)
    if update.state is not None:
        values["state"] = update.state
    referral = values.get("referral_id", current.referral_id if current else None)
    opportunity = values.get("opportunity_id", current.opportunity_id if current else None)
    if referral and opportunity:
        values |= {"intent_side": None, "intent_key": None, "intent_started_at": None}
        if update.state is None and current is not None and current.state == "pending_create":
            values["state"] = "linked"
    return values


def record_intent(
    conn: Connection,
    tenant: TenantId,
    side: Side,
    local_id: str,
    key: str,
    now: datetime,
    base: dict[str, Any] | None = None,
) -> Link:
    """Note that a record is about to be created on ``side`` for the existing ``local_id``,
    with ``base`` (when given) as the link's base.

    Idempotent: an intent already recorded (or a create already completed) is kept as is, so a
    retry after a crash sees the original idempotency key and looks the record up first (its
    base is still replaced when one is given). A new link is one insert.
    """
    local_column = "opportunity_id" if side == "partner_center" else "referral_id"
    values, based = _intent_values(side, local_id, key, now, base)
    inserted = conn.execute(
        _insert_new(conn.dialect.name, local_column), _new_link(tenant, values, now)
    )
    if (row := inserted.mappings().one_or_none()) is not None:
        return _link(row)  # the common case: no link yet, one statement
    return _intent_onto(conn, tenant, side, local_id, values, based)


def _intent_onto(
    conn: Connection,
    tenant: TenantId,
    side: Side,
    local_id: str,
    values: dict[str, Any],
    based: dict[str, Any],
) -> Link:
    """An intent for ``local_id``, whose link exists (its insert did nothing): an intent
    already recorded, or a create already completed, is kept (its base replaced when one is
    given); a link holding neither takes the intent."""
    local_column = "opportunity_id" if side == "partner_center" else "referral_id"
    remote_column = "referral_id" if side == "partner_center" else "opportunity_id"
    current = by_column(conn, tenant, local_column, local_id)
    assert current is not None  # the insert met it
    if current.intent is not None or getattr(current, remote_column):
        if not based:
            return current
        return _update(conn, current.id, based | {"updated_at": values["updated_at"]})
    return _update(conn, current.id, values)


def record_intents(
    conn: Connection,
    tenant: TenantId,
    side: Side,
    intents: Sequence[tuple[str, str, dict[str, Any] | None]],
    now: datetime,
) -> list[Link]:
    """:func:`record_intent` for each ``(local_id, key, base)`` (distinct local ids): the new
    links in one statement (a multi-row insert), those whose link exists then as
    :func:`record_intent` does after its insert did nothing. The links in the order given."""
    local_column = "opportunity_id" if side == "partner_center" else "referral_id"
    asked = [_intent_values(side, local_id, key, now, base) for local_id, key, base in intents]
    made: dict[str, Link] = {}
    if asked:
        rows = [_new_link(tenant, values, now) for values, _ in asked]
        inserted = conn.execute(_insert_new(conn.dialect.name, local_column), rows)
        made = {str(row[local_column]): _link(row) for row in inserted.mappings()}
    return [
        made.get(local_id) or _intent_onto(conn, tenant, side, local_id, values, based)
        for (local_id, _, _), (values, based) in zip(intents, asked, strict=True)
    ]


def _intent_values(
    side: Side, local_id: str, key: str, now: datetime, base: dict[str, Any] | None
) -> tuple[dict[str, Any], dict[str, Any]]:
    """The columns an intent writes, and of them the base (when one is given)."""
    local_column = "opportunity_id" if side == "partner_center" else "referral_id"
    based = {} if base is None else {"base": base}
    values = {
        local_column: local_id,
        "state": "pending_create",
        "intent_side": side,
        "intent_key": key,
        "intent_started_at": now,
        "updated_at": now,
        **based,
    }
    return values, based


def _new_link(tenant: TenantId, values: dict[str, Any], now: datetime) -> dict[str, Any]:
    return {"base": {}} | values | {"tenant_id": tenant, "created_at": now}


@cache
def _insert_new(dialect: str, local_column: str) -> Any:
    """A link's insert that does nothing where the tenant has a link for the local id already
    (its unique constraint), returning the row it inserted (none then): a new intent is one
    statement, not a read and an insert."""
    conflict = [links.c.tenant_id, links.c[local_column]]
    insert = prepared.insert_of(dialect)(links)
    return insert.on_conflict_do_nothing(index_elements=conflict).returning(links)


def _link(row: Any) -> Link:
    intent = None
    if row["intent_side"] is not None:
        intent = CreateIntent(row["intent_side"], row["intent_key"], row["intent_started_at"])
    return Link(
        id=row["id"],
        tenant_id=TenantId(row["tenant_id"]),
        referral_id=row["referral_id"],
        opportunity_id=row["opportunity_id"],
        engagement_id=row["engagement_id"],
        base=dict(row["base"] or {}),
        pc_etag=row["pc_etag"],
        crm_modstamp=row["crm_modstamp"],
        state=row["state"],
        intent=intent,
        created_at=row["created_at"],
        updated_at=row["updated_at"],
        crm_rows=dict(row["crm_rows"] or {}),
        crm_read_at=row["crm_read_at"],
        crm_fingerprint=row["crm_fingerprint"],
        pc_changed_at=row["pc_changed_at"],
    )


def linked_ids(
    conn: Connection, tenant: TenantId, after: int = 0, limit: int | None = None
) -> list[LinkedPair]:
    """Links holding both ids, by id, from just after ``after`` (``limit`` of them at most):
    their ids alone (a check of every pair needs no bases)."""
    stmt = (
        sa.select(links.c.id, links.c.referral_id, links.c.opportunity_id)
        .where(links.c.tenant_id == tenant, links.c.id > after)
        .where(links.c.referral_id.is_not(None), links.c.opportunity_id.is_not(None))
        .order_by(links.c.id)
    )
    if limit is not None:
        stmt = stmt.limit(limit)
    return [LinkedPair(row.id, row.referral_id, row.opportunity_id) for row in conn.execute(stmt)]


def all_of(conn: Connection, tenant: TenantId) -> list[Link]:
    """Every link of the tenant, in id order (the console's records list)."""
    stmt = sa.select(links).where(links.c.tenant_id == tenant).order_by(links.c.id)
    return [_link(row) for row in conn.execute(stmt).mappings()]
