"""Queued keys remember which side signalled them (``queue.scope``): a key only one side's
signal named may stop after reading that side, when it is the version already reconciled.

Revision ID: 0008_queue_scope
Revises: 0007_user_tenant
Create Date: 2026-12-04
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision: str = "0008_queue_scope"
down_revision: str | None = "0007_user_tenant"
branch_labels: str | None = None
depends_on: str | None = None


def upgrade() -> None:
    with op.batch_alter_table("queue") as batch:
        batch.add_column(sa.Column("scope", sa.String(20), nullable=False, server_default="both"))


def downgrade() -> None:
    with op.batch_alter_table("queue") as batch:
        batch.drop_column("scope")
