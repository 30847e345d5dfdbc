"""cosell's state: links, base snapshots, cursors, audit, conflicts and the durable queue."""

from cosell.store.records import (
    AuditEntry,
    AuditOutcome,
    AuditRecord,
    CreateIntent,
    DeadLetter,
    Direction,
    FieldConflict,
    Job,
    LedgerRow,
    LedgerState,
    LedgerUpdate,
    Link,
    LinkState,
    LinkUpdate,
    Side,
    StoreStats,
    TenantId,
)
from cosell.store.sql import Store, sqlite_url

__all__ = [
    "AuditEntry",
    "AuditOutcome",
    "AuditRecord",
    "CreateIntent",
    "DeadLetter",
    "Direction",
    "FieldConflict",
    "Job",
    "LedgerRow",
    "LedgerState",
    "LedgerUpdate",
    "Link",
    "LinkState",
    "LinkUpdate",
    "Side",
    "Store",
    "StoreStats",
    "TenantId",
    "sqlite_url",
]
