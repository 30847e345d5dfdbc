"""Links remember the ``updatedDateTime`` of the referral version they hold
(``links.pc_changed_at``): Partner Center's webhook for cosell's own write names that very time
(``ResourceChangeUtcDate``), and is known for an echo without reading the referral.

Revision ID: 0011_link_referral_change_time
Revises: 0010_conflicts_by_link
Create Date: 2026-12-05
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision: str = "0011_link_referral_change_time"
down_revision: str | None = "0010_conflicts_by_link"
branch_labels: str | None = None
depends_on: str | None = None


def upgrade() -> None:
    with op.batch_alter_table("links") as batch:
        batch.add_column(sa.Column("pc_changed_at", sa.String(length=40), nullable=True))


def downgrade() -> None:
    with op.batch_alter_table("links") as batch:
        batch.drop_column("pc_changed_at")
