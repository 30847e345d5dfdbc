"""One log line per reconcile outcome, so an operator's log says what happened to each record.

Synced changes log at info (with the field); skips, refusals, errors and conflicts at warning.
The lines carry ids and the audit message (already free of secrets: the audit never holds any)
as key=value pairs; the service's structlog set-up renders them as JSON or for the console.
"""

from __future__ import annotations

import logging
from collections.abc import Iterable
from dataclasses import replace

from cosell.redaction import redact_text
from cosell.store.records import AuditEntry

log = logging.getLogger("cosell.sync.outcome")

_INFO = frozenset({"synced"})


def log_entry(entry: AuditEntry, *, referral_id: str | None = None) -> None:
    """Log one audit entry: info when it synced, warning otherwise."""
    level = logging.INFO if entry.outcome in _INFO else logging.WARNING
    if not log.isEnabledFor(level):
        return  # nothing to redact for a line nobody writes
    log.log(
        level,
        "reconcile outcome=%s direction=%s referral=%s opportunity=%s field=%s message=%s",
        entry.outcome,
        entry.direction,
        entry.referral_id or referral_id or "-",
        entry.opportunity_id or "-",
        entry.field or "-",
        redact_text(entry.message),
    )


def log_entries(
    entries: Iterable[AuditEntry], *, referral_id: str | None, opportunity_id: str | None
) -> None:
    """Log a commit's entries, filling in the pair's ids where an entry leaves them out."""
    if not log.isEnabledFor(logging.INFO):
        entries = [e for e in entries if e.outcome not in _INFO]
    for entry in entries:
        if entry.opportunity_id is None and opportunity_id is not None:
            entry = replace(entry, opportunity_id=opportunity_id)
        log_entry(entry, referral_id=referral_id)
