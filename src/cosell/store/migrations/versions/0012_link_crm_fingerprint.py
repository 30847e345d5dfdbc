"""Links keep a digest of the committed CRM read's own opportunity values
(``links.crm_fingerprint``): the poll selects the same values and knows that version by them,
where the one-second ``SystemModstamp`` cannot tell it from an edit in the same second.

Revision ID: 0012_link_crm_fingerprint
Revises: 0011_link_referral_change_time
Create Date: 2026-12-05
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision: str = "0012_link_crm_fingerprint"
down_revision: str | None = "0011_link_referral_change_time"
branch_labels: str | None = None
depends_on: str | None = None


def upgrade() -> None:
    with op.batch_alter_table("links") as batch:
        batch.add_column(sa.Column("crm_fingerprint", sa.String(length=40), nullable=True))


def downgrade() -> None:
    with op.batch_alter_table("links") as batch:
        batch.drop_column("crm_fingerprint")
