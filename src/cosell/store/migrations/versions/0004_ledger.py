"""The ledger: one state per record cosell has seen (synced, held, waiting, skipped, refused,
conflict, parked, closed, expired) with the reason and the setting that changes it.

Revision ID: 0004_ledger
Revises: 0003_procrastinate
Create Date: 2026-12-03
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

from cosell.store.schema import UTCDateTime

revision: str = "0004_ledger"
down_revision: str | None = "0003_procrastinate"
branch_labels: str | None = None
depends_on: str | None = None


def upgrade() -> None:
    op.create_table(
        "ledger",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("tenant_id", sa.Integer(), nullable=False),
        sa.Column("referral_id", sa.String(length=100), nullable=True),
        sa.Column("opportunity_id", sa.String(length=100), nullable=True),
        sa.Column("state", sa.String(length=20), nullable=False),
        sa.Column("reason", sa.Text(), nullable=False),
        sa.Column("setting", sa.Text(), nullable=True),
        sa.Column("raw", sa.Text(), nullable=True),
        sa.Column("since", UTCDateTime(), nullable=False),
        sa.Column("updated_at", UTCDateTime(), nullable=False),
        sa.ForeignKeyConstraint(["tenant_id"], ["tenants.id"], name=op.f("fk_ledger_tenant_id")),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_ledger")),
        sa.UniqueConstraint(
            "tenant_id", "referral_id", name=op.f("uq_ledger_tenant_id_referral_id")
        ),
        sa.UniqueConstraint(
            "tenant_id", "opportunity_id", name=op.f("uq_ledger_tenant_id_opportunity_id")
        ),
    )
    op.create_index(op.f("ix_ledger_tenant_id_state"), "ledger", ["tenant_id", "state"])


def downgrade() -> None:
    op.drop_index(op.f("ix_ledger_tenant_id_state"), table_name="ledger")
    op.drop_table("ledger")
