"""The doctor's store checks: schema revision and the queue, read without migrating anything."""

from __future__ import annotations

from datetime import timedelta
from pathlib import Path

import sqlalchemy.exc
from alembic.script import ScriptDirectory
from alembic.util.exc import CommandError
from sqlalchemy import Engine, make_url

from cosell.clock import Clock
from cosell.operations.checks import Check
from cosell.settings import Settings
from cosell.store.database import alembic_config, make_engine, schema_revision
from cosell.store.sql import Store

STALE_QUEUE = timedelta(minutes=15)


def store_checks(settings: Settings, clock: Clock) -> list[Check]:
    """The schema check, then (when the schema is current) the queue check."""
    url = settings.database_url
    if _missing_sqlite_file(url):
        return [Check("store", "warn", "no database yet", "cosell run creates it on first start")]
    engine = make_engine(url)
    try:
        schema = _schema(engine)
        if schema.level != "ok":
            return [schema]
        return [schema, _queue(Store(engine, clock), settings.tenant.name, clock)]
    except sqlalchemy.exc.SQLAlchemyError as exc:
        detail = f"cannot read the database: {type(exc).__name__}"
        return [Check("store", "fail", detail, "check service.database_url")]
    finally:
        engine.dispose()


def _missing_sqlite_file(url: str) -> bool:
    parsed = make_url(url)
    if parsed.get_backend_name() != "sqlite" or not parsed.database:
        return False
    return parsed.database != ":memory:" and not Path(parsed.database).exists()


def _schema(engine: Engine) -> Check:
    current, head = schema_revision(engine)
    if current == head:
        return Check("store schema", "ok", f"migrations at head ({head})")
    if current is None:
        return Check("store schema", "warn", "empty database", "cosell run migrates it on start")
    try:
        ScriptDirectory.from_config(alembic_config()).get_revision(current)
    except CommandError:
        detail = f"schema {current} is newer than this cosell knows (head {head})"
        return Check("store schema", "fail", detail, "upgrade cosell on this machine")
    detail = f"schema {current} is behind head {head}"
    return Check("store schema", "warn", detail, "cosell run migrates it on start")


def _queue(store: Store, tenant: str, clock: Clock) -> Check:
    stats = store.stats(store.ensure_tenant(tenant))
    detail = f"{stats.queue_depth} queued, {stats.dead_letters} dead letters"
    detail += f", {stats.open_conflicts} open conflicts"
    waited = clock.now() - stats.oldest_due if stats.oldest_due else timedelta()
    if waited > STALE_QUEUE:
        detail += f"; the oldest change has waited {int(waited.total_seconds() // 60)} min"
        return Check("queue", "warn", detail, "is the service running? start it: cosell run")
    if stats.dead_letters:
        fix = "find the cause with cosell audit <id>, then: cosell retry --all-failed"
        return Check("queue", "warn", detail, fix)
    if stats.open_conflicts:
        return Check("queue", "warn", detail, "settle them: cosell conflicts")
    return Check("queue", "ok", detail)
