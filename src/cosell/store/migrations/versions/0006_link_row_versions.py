"""Links remember the related rows' versions of the CRM read they committed (``crm_rows``), so
the related-row poll can tell a row version already reconciled from a new change.

Revision ID: 0006_link_row_versions
Revises: 0005_alerts
Create Date: 2026-12-03
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

from cosell.store.schema import JSONValue

revision: str = "0006_link_row_versions"
down_revision: str | None = "0005_alerts"
branch_labels: str | None = None
depends_on: str | None = None


def upgrade() -> None:
    with op.batch_alter_table("links") as batch:
        batch.add_column(sa.Column("crm_rows", JSONValue, nullable=True))


def downgrade() -> None:
    with op.batch_alter_table("links") as batch:
        batch.drop_column("crm_rows")
