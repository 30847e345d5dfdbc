"""procrastinate's schema (jobs, locks, periodic defers) on PostgreSQL.

The scale-out shape runs its work as procrastinate tasks in the store's own database, so one
``cosell store migrate`` (or the first ``Store.open``) prepares both. SQLite keeps the embedded
queue and gets nothing here.

Revision ID: 0003_procrastinate
Revises: 0002_users
Create Date: 2026-12-03
"""

from __future__ import annotations

from typing import Any

from alembic import op

revision: str = "0003_procrastinate"
down_revision: str | None = "0002_users"
branch_labels: str | None = None
depends_on: str | None = None


def upgrade() -> None:
    bind = op.get_bind()
    if bind.dialect.name != "postgresql":
        return
    from procrastinate.schema import SchemaManager

    # The schema is many statements with dollar-quoted bodies: run it on the driver's connection
    # without parameters (psycopg's simple protocol), inside Alembic's transaction.
    driver: Any = bind.connection.driver_connection
    driver.execute(SchemaManager.get_schema())


def downgrade() -> None:
    bind = op.get_bind()
    if bind.dialect.name != "postgresql":
        return
    driver: Any = bind.connection.driver_connection
    tables = ("events", "periodic_defers", "jobs", "workers")
    for table in tables:
        driver.execute(f"DROP TABLE IF EXISTS procrastinate_{table} CASCADE")
    for kind in ("job_to_defer_v1", "job_event_type", "job_status"):
        driver.execute(f"DROP TYPE IF EXISTS procrastinate_{kind} CASCADE")
