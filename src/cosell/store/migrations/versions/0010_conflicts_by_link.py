"""Conflicts are looked up by link (``conflicts.link_id`` indexed): every reconcile asks for its
pair's resolved conflicts, and read the tenant's whole list for it before.

Revision ID: 0010_conflicts_by_link
Revises: 0009_link_read_at
Create Date: 2026-12-05
"""

from __future__ import annotations

from alembic import op

revision: str = "0010_conflicts_by_link"
down_revision: str | None = "0009_link_read_at"
branch_labels: str | None = None
depends_on: str | None = None


def upgrade() -> None:
    op.create_index(op.f("ix_conflicts_link_id"), "conflicts", ["link_id"])


def downgrade() -> None:
    op.drop_index(op.f("ix_conflicts_link_id"), table_name="conflicts")
