"""The store's tables (SQLAlchemy Core). Migrations create them; this module describes them."""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Any

import sqlalchemy as sa
from sqlalchemy.dialects.postgresql import JSONB
from sqlalchemy.engine import Dialect


class UTCDateTime(sa.TypeDecorator[datetime]):
    """Aware UTC datetimes on every backend (SQLite keeps naive UTC text, compared as text)."""

    impl = sa.DateTime(timezone=True)
    cache_ok = True

    def process_bind_param(self, value: datetime | None, dialect: Dialect) -> datetime | None:
        if value is None:
            return None
        if value.tzinfo is None:
            raise ValueError("naive datetime given to the store; use an aware UTC datetime")
        value = value.astimezone(UTC)
        return value.replace(tzinfo=None) if dialect.name == "sqlite" else value

    def process_result_value(self, value: datetime | None, dialect: Dialect) -> datetime | None:
        if value is None:
            return None
        return value.replace(tzinfo=UTC) if value.tzinfo is None else value.astimezone(UTC)


JSONValue: sa.types.TypeEngine[Any] = sa.JSON().with_variant(JSONB(), "postgresql")

metadata = sa.MetaData(
    naming_convention={
        "ix": "ix_%(table_name)s_%(column_0_N_name)s",
        "uq": "uq_%(table_name)s_%(column_0_N_name)s",
        "fk": "fk_%(table_name)s_%(column_0_name)s",
        "pk": "pk_%(table_name)s",
        "ck": "ck_%(table_name)s_%(constraint_name)s",
    }
)


def _tenant() -> sa.Column[int]:
    return sa.Column("tenant_id", sa.Integer, sa.ForeignKey("tenants.id"), nullable=False)


tenants = sa.Table(
    "tenants",
    metadata,
    sa.Column("id", sa.Integer, primary_key=True),
    sa.Column("name", sa.String(200), nullable=False, unique=True),
    sa.Column("created_at", UTCDateTime, nullable=False),
)

links = sa.Table(
    "links",
    metadata,
    sa.Column("id", sa.Integer, primary_key=True),
    _tenant(),
    sa.Column("referral_id", sa.String(100)),
    sa.Column("opportunity_id", sa.String(100)),
    sa.Column("engagement_id", sa.String(100)),
    sa.Column("base", JSONValue, nullable=False),
    sa.Column("pc_etag", sa.String(200)),
    sa.Column("pc_changed_at", sa.String(40)),
    sa.Column("crm_modstamp", sa.String(64)),
    sa.Column("crm_rows", JSONValue),
    sa.Column("crm_read_at", UTCDateTime),
    sa.Column("crm_fingerprint", sa.String(40)),
    sa.Column("state", sa.String(20), nullable=False),
    sa.Column("intent_side", sa.String(20)),
    sa.Column("intent_key", sa.String(200)),
    sa.Column("intent_started_at", UTCDateTime),
    sa.Column("created_at", UTCDateTime, nullable=False),
    sa.Column("updated_at", UTCDateTime, nullable=False),
    sa.UniqueConstraint("tenant_id", "referral_id"),
    sa.UniqueConstraint("tenant_id", "opportunity_id"),
)

cursors = sa.Table(
    "cursors",
    metadata,
    sa.Column("tenant_id", sa.Integer, sa.ForeignKey("tenants.id"), primary_key=True),
    sa.Column("name", sa.String(100), primary_key=True),
    sa.Column("value", sa.Text, nullable=False),
    sa.Column("updated_at", UTCDateTime, nullable=False),
)

queue = sa.Table(
    "queue",
    metadata,
    sa.Column("id", sa.Integer, primary_key=True),
    _tenant(),
    sa.Column("key", sa.String(200), nullable=False),
    sa.Column("due_at", UTCDateTime, nullable=False),
    sa.Column("priority", sa.Integer, nullable=False, server_default="0"),
    sa.Column("attempts", sa.Integer, nullable=False, server_default="0"),
    sa.Column("last_error", sa.Text),
    sa.Column("lease_owner", sa.String(200)),
    sa.Column("lease_until", UTCDateTime),
    sa.Column("dirty", sa.Boolean, nullable=False, server_default=sa.false()),
    sa.Column("enqueued_at", UTCDateTime, nullable=False),
    sa.Column("scope", sa.String(20), nullable=False, server_default="both"),
    sa.Column("change_time", sa.String(40)),
    sa.UniqueConstraint("tenant_id", "key"),
    sa.Index(None, "due_at"),
)

dead_letters = sa.Table(
    "dead_letters",
    metadata,
    sa.Column("id", sa.Integer, primary_key=True),
    _tenant(),
    sa.Column("key", sa.String(200), nullable=False),
    sa.Column("reason", sa.Text, nullable=False),
    sa.Column("attempts", sa.Integer, nullable=False),
    sa.Column("failed_at", UTCDateTime, nullable=False),
    sa.UniqueConstraint("tenant_id", "key"),
)

audit = sa.Table(
    "audit",
    metadata,
    sa.Column("id", sa.Integer, primary_key=True),
    _tenant(),
    sa.Column("at", UTCDateTime, nullable=False),
    sa.Column("referral_id", sa.String(100)),
    sa.Column("opportunity_id", sa.String(100)),
    sa.Column("direction", sa.String(20), nullable=False),
    sa.Column("field", sa.String(200)),
    sa.Column("old", JSONValue),
    sa.Column("new", JSONValue),
    sa.Column("outcome", sa.String(20), nullable=False),
    sa.Column("message", sa.Text, nullable=False),
    sa.Column("request_ids", JSONValue, nullable=False),
    sa.Index(None, "tenant_id", "referral_id"),
    sa.Index(None, "tenant_id", "opportunity_id"),
    sa.Index(None, "tenant_id", "at"),
)

conflicts = sa.Table(
    "conflicts",
    metadata,
    sa.Column("id", sa.Integer, primary_key=True),
    _tenant(),
    sa.Column("link_id", sa.Integer, sa.ForeignKey("links.id"), nullable=False),
    sa.Column("field", sa.String(200), nullable=False),
    sa.Column("base", JSONValue),
    sa.Column("pc", JSONValue),
    sa.Column("crm", JSONValue),
    sa.Column("state", sa.String(20), nullable=False),
    sa.Column("resolution", sa.Text),
    sa.Column("opened_at", UTCDateTime, nullable=False),
    sa.Column("resolved_at", UTCDateTime),
    sa.Index(None, "tenant_id", "state"),
    sa.Index(None, "link_id"),
)

ledger = sa.Table(
    "ledger",
    metadata,
    sa.Column("id", sa.Integer, primary_key=True),
    _tenant(),
    sa.Column("referral_id", sa.String(100)),
    sa.Column("opportunity_id", sa.String(100)),
    sa.Column("state", sa.String(20), nullable=False),
    sa.Column("reason", sa.Text, nullable=False),
    sa.Column("setting", sa.Text),
    sa.Column("raw", sa.Text),
    sa.Column("since", UTCDateTime, nullable=False),
    sa.Column("updated_at", UTCDateTime, nullable=False),
    sa.UniqueConstraint("tenant_id", "referral_id"),
    sa.UniqueConstraint("tenant_id", "opportunity_id"),
    sa.Index(None, "tenant_id", "state"),
)
"""One row per record cosell has seen (a referral, an opportunity, or the pair once linked):
its ledger state, why, and the setting or field that changes it (see ``cosell.store.ledger``)."""

users = sa.Table(
    "users",
    metadata,
    sa.Column("id", sa.Integer, primary_key=True),
    sa.Column("name", sa.String(200), nullable=False, unique=True),
    sa.Column("password_hash", sa.Text),
    sa.Column("role", sa.String(20), nullable=False),
    sa.Column("created_at", UTCDateTime, nullable=False),
    sa.Column("updated_at", UTCDateTime, nullable=False),
    sa.Column("tenant", sa.String(100)),
    sa.Index(None, "tenant"),
)
"""Console users; with several tenants each belongs to one (``tenant``, its name) and signs in
to that tenant's console only. Empty ``tenant``: a deployment of one tenant."""

sessions = sa.Table(
    "sessions",
    metadata,
    sa.Column("token_hash", sa.String(64), primary_key=True),
    sa.Column("user_id", sa.Integer, sa.ForeignKey("users.id", ondelete="CASCADE"), nullable=False),
    sa.Column("csrf", sa.String(64), nullable=False),
    sa.Column("created_at", UTCDateTime, nullable=False),
    sa.Column("expires_at", UTCDateTime, nullable=False),
    sa.Index(None, "user_id"),
)

api_tokens = sa.Table(
    "api_tokens",
    metadata,
    sa.Column("id", sa.Integer, primary_key=True),
    sa.Column("user_id", sa.Integer, sa.ForeignKey("users.id", ondelete="CASCADE"), nullable=False),
    sa.Column("name", sa.String(200), nullable=False),
    sa.Column("token_hash", sa.String(64), nullable=False, unique=True),
    sa.Column("created_at", UTCDateTime, nullable=False),
    sa.UniqueConstraint("user_id", "name"),
)


alerts = sa.Table(
    "alerts",
    metadata,
    sa.Column("id", sa.Integer, primary_key=True),
    _tenant(),
    sa.Column("subject", sa.String(200), nullable=False),
    sa.Column("change", sa.String(200), nullable=False),
    sa.Column("event", sa.String(20), nullable=False),
    sa.Column("title", sa.Text, nullable=False),
    sa.Column("text", sa.Text, nullable=False),
    sa.Column("link", sa.Text),
    sa.Column("pending", JSONValue, nullable=False),
    sa.Column("attempts", sa.Integer, nullable=False),
    sa.Column("next_at", UTCDateTime),
    sa.Column("last_error", sa.Text),
    sa.Column("created_at", UTCDateTime, nullable=False),
    sa.Column("sent_at", UTCDateTime),
    sa.UniqueConstraint("tenant_id", "subject", "change"),
    sa.Index(None, "next_at"),
)


def owned_by_cosell(name: str | None, type_: str, parent_names: object) -> bool:
    """Whether a database object is cosell's own: procrastinate's tables, indexes and types
    (created by its migration from procrastinate's schema) are left out of schema comparisons."""
    del type_, parent_names
    return not (name or "").startswith("procrastinate_")
