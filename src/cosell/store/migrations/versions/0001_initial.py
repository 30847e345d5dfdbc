"""Initial schema: tenants, links, cursors, queue, dead letters, audit, conflicts.

Revision ID: 0001
Revises:
Create Date: 2026-11-24
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

from cosell.store.schema import JSONValue, UTCDateTime

revision: str = "0001"
down_revision: str | None = None
branch_labels: str | None = None
depends_on: str | None = None


def upgrade() -> None:
    op.create_table(
        "tenants",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("name", sa.String(length=200), nullable=False),
        sa.Column("created_at", UTCDateTime(), nullable=False),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_tenants")),
        sa.UniqueConstraint("name", name=op.f("uq_tenants_name")),
    )
    op.create_table(
        "audit",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("tenant_id", sa.Integer(), nullable=False),
        sa.Column("at", UTCDateTime(), nullable=False),
        sa.Column("referral_id", sa.String(length=100), nullable=True),
        sa.Column("opportunity_id", sa.String(length=100), nullable=True),
        sa.Column("direction", sa.String(length=20), nullable=False),
        sa.Column("field", sa.String(length=200), nullable=True),
        sa.Column("old", JSONValue, nullable=True),
        sa.Column("new", JSONValue, nullable=True),
        sa.Column("outcome", sa.String(length=20), nullable=False),
        sa.Column("message", sa.Text(), nullable=False),
        sa.Column("request_ids", JSONValue, nullable=False),
        sa.ForeignKeyConstraint(["tenant_id"], ["tenants.id"], name=op.f("fk_audit_tenant_id")),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_audit")),
    )
    op.create_index(op.f("ix_audit_tenant_id_at"), "audit", ["tenant_id", "at"], unique=False)
    op.create_index(
        op.f("ix_audit_tenant_id_opportunity_id"),
        "audit",
        ["tenant_id", "opportunity_id"],
        unique=False,
    )
    op.create_index(
        op.f("ix_audit_tenant_id_referral_id"), "audit", ["tenant_id", "referral_id"], unique=False
    )

    op.create_table(
        "cursors",
        sa.Column("tenant_id", sa.Integer(), nullable=False),
        sa.Column("name", sa.String(length=100), nullable=False),
        sa.Column("value", sa.Text(), nullable=False),
        sa.Column("updated_at", UTCDateTime(), nullable=False),
        sa.ForeignKeyConstraint(["tenant_id"], ["tenants.id"], name=op.f("fk_cursors_tenant_id")),
        sa.PrimaryKeyConstraint("tenant_id", "name", name=op.f("pk_cursors")),
    )
    op.create_table(
        "dead_letters",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("tenant_id", sa.Integer(), nullable=False),
        sa.Column("key", sa.String(length=200), nullable=False),
        sa.Column("reason", sa.Text(), nullable=False),
        sa.Column("attempts", sa.Integer(), nullable=False),
        sa.Column("failed_at", UTCDateTime(), nullable=False),
        sa.ForeignKeyConstraint(
            ["tenant_id"], ["tenants.id"], name=op.f("fk_dead_letters_tenant_id")
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_dead_letters")),
        sa.UniqueConstraint("tenant_id", "key", name=op.f("uq_dead_letters_tenant_id_key")),
    )
    op.create_table(
        "links",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("tenant_id", sa.Integer(), nullable=False),
        sa.Column("referral_id", sa.String(length=100), nullable=True),
        sa.Column("opportunity_id", sa.String(length=100), nullable=True),
        sa.Column("engagement_id", sa.String(length=100), nullable=True),
        sa.Column("base", JSONValue, nullable=False),
        sa.Column("pc_etag", sa.String(length=200), nullable=True),
        sa.Column("crm_modstamp", sa.String(length=64), nullable=True),
        sa.Column("state", sa.String(length=20), nullable=False),
        sa.Column("intent_side", sa.String(length=20), nullable=True),
        sa.Column("intent_key", sa.String(length=200), nullable=True),
        sa.Column("intent_started_at", UTCDateTime(), nullable=True),
        sa.Column("created_at", UTCDateTime(), nullable=False),
        sa.Column("updated_at", UTCDateTime(), nullable=False),
        sa.ForeignKeyConstraint(["tenant_id"], ["tenants.id"], name=op.f("fk_links_tenant_id")),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_links")),
        sa.UniqueConstraint(
            "tenant_id", "opportunity_id", name=op.f("uq_links_tenant_id_opportunity_id")
        ),
        sa.UniqueConstraint(
            "tenant_id", "referral_id", name=op.f("uq_links_tenant_id_referral_id")
        ),
    )
    op.create_table(
        "queue",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("tenant_id", sa.Integer(), nullable=False),
        sa.Column("key", sa.String(length=200), nullable=False),
        sa.Column("due_at", UTCDateTime(), nullable=False),
        sa.Column("priority", sa.Integer(), server_default="0", nullable=False),
        sa.Column("attempts", sa.Integer(), server_default="0", nullable=False),
        sa.Column("last_error", sa.Text(), nullable=True),
        sa.Column("lease_owner", sa.String(length=200), nullable=True),
        sa.Column("lease_until", UTCDateTime(), nullable=True),
        sa.Column("dirty", sa.Boolean(), server_default=sa.false(), nullable=False),
        sa.Column("enqueued_at", UTCDateTime(), nullable=False),
        sa.ForeignKeyConstraint(["tenant_id"], ["tenants.id"], name=op.f("fk_queue_tenant_id")),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_queue")),
        sa.UniqueConstraint("tenant_id", "key", name=op.f("uq_queue_tenant_id_key")),
    )
    op.create_index(op.f("ix_queue_due_at"), "queue", ["due_at"], unique=False)

    op.create_table(
        "conflicts",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("tenant_id", sa.Integer(), nullable=False),
        sa.Column("link_id", sa.Integer(), nullable=False),
        sa.Column("field", sa.String(length=200), nullable=False),
        sa.Column("base", JSONValue, nullable=True),
        sa.Column("pc", JSONValue, nullable=True),
        sa.Column("crm", JSONValue, nullable=True),
        sa.Column("state", sa.String(length=20), nullable=False),
        sa.Column("resolution", sa.Text(), nullable=True),
        sa.Column("opened_at", UTCDateTime(), nullable=False),
        sa.Column("resolved_at", UTCDateTime(), nullable=True),
        sa.ForeignKeyConstraint(["link_id"], ["links.id"], name=op.f("fk_conflicts_link_id")),
        sa.ForeignKeyConstraint(["tenant_id"], ["tenants.id"], name=op.f("fk_conflicts_tenant_id")),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_conflicts")),
    )
    op.create_index(
        op.f("ix_conflicts_tenant_id_state"), "conflicts", ["tenant_id", "state"], unique=False
    )


def downgrade() -> None:
    op.drop_index(op.f("ix_conflicts_tenant_id_state"), table_name="conflicts")

    op.drop_table("conflicts")
    op.drop_index(op.f("ix_queue_due_at"), table_name="queue")

    op.drop_table("queue")
    op.drop_table("links")
    op.drop_table("dead_letters")
    op.drop_table("cursors")
    op.drop_index(op.f("ix_audit_tenant_id_referral_id"), table_name="audit")
    op.drop_index(op.f("ix_audit_tenant_id_opportunity_id"), table_name="audit")
    op.drop_index(op.f("ix_audit_tenant_id_at"), table_name="audit")

    op.drop_table("audit")
    op.drop_table("tenants")
