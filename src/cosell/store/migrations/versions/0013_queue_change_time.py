"""Queued keys keep the change a Partner Center webhook named (``queue.change_time``): an event
that came before the commit of cosell's own write is known for it when its key runs, after the
commit, without reading the referral.

Revision ID: 0013_queue_change_time
Revises: 0012_link_crm_fingerprint
Create Date: 2026-12-05
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision: str = "0013_queue_change_time"
down_revision: str | None = "0012_link_crm_fingerprint"
branch_labels: str | None = None
depends_on: str | None = None


def upgrade() -> None:
    with op.batch_alter_table("queue") as batch:
        batch.add_column(sa.Column("change_time", sa.String(length=40), nullable=True))


def downgrade() -> None:
    with op.batch_alter_table("queue") as batch:
        batch.drop_column("change_time")
