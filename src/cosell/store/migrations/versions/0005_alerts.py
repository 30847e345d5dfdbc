"""Alerts: one row per record (or connection) per state change, with the targets still to
hear about it, so an unchanged state never alerts twice and a failed send is retried.

Revision ID: 0005_alerts
Revises: 0004_ledger
Create Date: 2026-12-03
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

from cosell.store.schema import JSONValue, UTCDateTime

revision: str = "0005_alerts"
down_revision: str | None = "0004_ledger"
branch_labels: str | None = None
depends_on: str | None = None


def upgrade() -> None:
    op.create_table(
        "alerts",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("tenant_id", sa.Integer(), nullable=False),
        sa.Column("subject", sa.String(length=200), nullable=False),
        sa.Column("change", sa.String(length=200), nullable=False),
        sa.Column("event", sa.String(length=20), nullable=False),
        sa.Column("title", sa.Text(), nullable=False),
        sa.Column("text", sa.Text(), nullable=False),
        sa.Column("link", sa.Text(), nullable=True),
        sa.Column("pending", JSONValue, nullable=False),
        sa.Column("attempts", sa.Integer(), nullable=False),
        sa.Column("next_at", UTCDateTime(), nullable=True),
        sa.Column("last_error", sa.Text(), nullable=True),
        sa.Column("created_at", UTCDateTime(), nullable=False),
        sa.Column("sent_at", UTCDateTime(), nullable=True),
        sa.ForeignKeyConstraint(["tenant_id"], ["tenants.id"], name=op.f("fk_alerts_tenant_id")),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_alerts")),
        sa.UniqueConstraint(
            "tenant_id", "subject", "change", name=op.f("uq_alerts_tenant_id_subject_change")
        ),
    )
    op.create_index(op.f("ix_alerts_next_at"), "alerts", ["next_at"])


def downgrade() -> None:
    op.drop_index(op.f("ix_alerts_next_at"), table_name="alerts")
    op.drop_table("alerts")
