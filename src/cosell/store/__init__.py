"""cosell's state: links, base snapshots, cursors, audit, conflicts and the durable queue."""

from cosell.store.records import (
    AuditEntry,
    AuditRecord,
    CreateIntent,
    DeadLetter,
    FieldConflict,
    Job,
    Link,
    LinkUpdate,
    StoreStats,
    TenantId,
)
from cosell.store.sql import Store, sqlite_url

__all__ = [
    "AuditEntry",
    "AuditRecord",
    "CreateIntent",
    "DeadLetter",
    "FieldConflict",
    "Job",
    "Link",
    "LinkUpdate",
    "Store",
    "StoreStats",
    "TenantId",
    "sqlite_url",
]
