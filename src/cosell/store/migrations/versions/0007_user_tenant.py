"""Console users belong to a tenant in a deployment of several (``users.tenant``; empty in a
deployment of one, where every user is the one tenant's).

Revision ID: 0007_user_tenant
Revises: 0006_link_row_versions
Create Date: 2026-12-04
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision: str = "0007_user_tenant"
down_revision: str | None = "0006_link_row_versions"
branch_labels: str | None = None
depends_on: str | None = None


def upgrade() -> None:
    with op.batch_alter_table("users") as batch:
        batch.add_column(sa.Column("tenant", sa.String(100), nullable=True))
        batch.create_index("ix_users_tenant", ["tenant"])


def downgrade() -> None:
    with op.batch_alter_table("users") as batch:
        batch.drop_index("ix_users_tenant")
        batch.drop_column("tenant")
