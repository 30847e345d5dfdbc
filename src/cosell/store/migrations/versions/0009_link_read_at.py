"""Links remember when the committed CRM read was asked for (``links.crm_read_at``): a poll row
carrying the committed ``SystemModstamp`` is that version only if the read came after its second
(the commit may come much later than the read, after a ``Retry-After``).

Revision ID: 0009_link_read_at
Revises: 0008_queue_scope
Create Date: 2026-12-04
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

from cosell.store.schema import UTCDateTime

revision: str = "0009_link_read_at"
down_revision: str | None = "0008_queue_scope"
branch_labels: str | None = None
depends_on: str | None = None


def upgrade() -> None:
    with op.batch_alter_table("links") as batch:
        batch.add_column(sa.Column("crm_read_at", UTCDateTime(), nullable=True))


def downgrade() -> None:
    with op.batch_alter_table("links") as batch:
        batch.drop_column("crm_read_at")
