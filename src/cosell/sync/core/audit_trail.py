"""The human side of the audit trail: the status line and the ``Audit__c`` summary on the record.

The store keeps every audit row (append-only). The CRM record shows a newest-first summary, one
line per change, kept under the field's 100,000-character limit by dropping the oldest lines,
and a status field: ``✔ Synced …`` or ``✖ <the precise reason>``. Values pass through
:func:`~cosell.redaction.redact_text` and are shortened; nothing secret is written.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from datetime import datetime
from typing import Any, Protocol

from cosell.redaction import redact_text
from cosell.sync.core.names import CrmNames


class AuditEntry(Protocol):
    """The fields of an audit row the trail shows (the store's ``AuditEntry`` has them)."""

    @property
    def direction(self) -> str: ...
    @property
    def outcome(self) -> str: ...
    @property
    def field(self) -> str | None: ...
    @property
    def old(self) -> Any: ...
    @property
    def new(self) -> Any: ...
    @property
    def message(self) -> str: ...
    @property
    def at(self) -> datetime | None: ...


AUDIT_LIMIT = 100_000
STATUS_LIMIT = 255
ERROR_LIMIT = 32_000
VALUE_CHARS = 80
LINE_CHARS = 1000
OK_MARK = "✔"
FAIL_MARK = "✖"
NOTICE_MARK = "⚠"
ARROWS = {"to_partner_center": "CRM → Partner Center", "to_crm": "Partner Center → CRM"}


def stamp(moment: datetime) -> str:
    """``2026-03-01 12:00 UTC``."""
    return moment.strftime("%Y-%m-%d %H:%M UTC")


def ok_status(moment: datetime) -> str:
    return f"{OK_MARK} Synced {stamp(moment)}"


def failed_status(reason: str) -> str:
    return shorten(f"{FAIL_MARK} {redact_text(reason)}", STATUS_LIMIT)


def notice_status(text: str) -> str:
    """A lifecycle notice (see :mod:`cosell.sync.core.lifecycle`) as the status field shows it."""
    return shorten(f"{NOTICE_MARK} {redact_text(text)}", STATUS_LIMIT)


def shorten(text: str, limit: int) -> str:
    return text if len(text) <= limit else text[: limit - 1] + "…"


def show(value: Any) -> str:
    """A value as a short, secret-free text."""
    if value is None:
        return "(empty)"
    text = ", ".join(_member(v) for v in value) if isinstance(value, list) else str(value)
    return shorten(redact_text(text), VALUE_CHARS)


def _member(value: Any) -> str:
    if isinstance(value, dict):
        return str(value.get("email") or value.get("last_name") or value)
    return str(value)


def line(entry: AuditEntry, moment: datetime) -> str:
    """One summary line for an audit entry."""
    where = ARROWS.get(entry.direction, "")
    mark = {"synced": OK_MARK, "skipped": NOTICE_MARK}.get(entry.outcome, FAIL_MARK)
    head = f"{stamp(entry.at or moment)} {mark} {where}".rstrip()
    if entry.field:
        body = f"{entry.field}: {show(entry.old)} → {show(entry.new)}"
        tail = f" ({redact_text(entry.message)})" if entry.message else ""
        return shorten(f"{head} {body}{tail}", LINE_CHARS)
    return shorten(f"{head} {redact_text(entry.message)}", LINE_CHARS)


def summary(existing: str | None, entries: Sequence[AuditEntry], moment: datetime) -> str:
    """The new ``Audit__c`` text: these entries' lines on top, oldest lines trimmed to fit."""
    lines = [line(e, moment) for e in entries]
    return trim([*lines, *(existing or "").splitlines()], AUDIT_LIMIT)


def trim(lines: list[str], limit: int) -> str:
    """Join lines, dropping the last (oldest) ones until the text fits ``limit``."""
    kept: list[str] = []
    size = 0
    for text in lines:
        cost = len(text) + (1 if kept else 0)
        if size + cost > limit:
            break
        kept.append(text)
        size += cost
    return "\n".join(kept)


def has_news(entries: Sequence[AuditEntry]) -> bool:
    """Whether entries hold something a person should read (a change, conflict or refusal)."""
    return any(e.outcome in ("synced", "conflict", "rejected") for e in entries)


def record_fields(
    names: CrmNames,
    current: Mapping[str, Any],
    entries: Sequence[AuditEntry],
    moment: datetime,
    refusal: AuditEntry | None = None,
    notice: AuditEntry | None = None,
) -> dict[str, Any]:
    """Status, error and summary values to write, only where they differ from the record.

    A refusal already shown is not shown again, so a record that stays unready is written once;
    a record that syncs again after a refusal gets its ✔ back and the error cleared. A
    ``notice`` (a lifecycle message, ``⚠ …``) takes the status field unless there is a refusal;
    it gets an ``Audit__c`` line only when it is newly shown.
    """
    shown = str(current.get(names.status_field or "") or "")
    error = shorten(redact_text(refusal.message), ERROR_LIMIT) if refusal else None
    lines = list(entries)
    if refusal is not None:
        status: str | None = failed_status(refusal.message)
        if _is_new_refusal(names, current, status, error):
            lines.insert(0, refusal)
    elif notice is not None:
        status = notice_status(notice.message)
        if status != shown:
            lines.insert(0, notice)
    else:
        renew = has_news(entries) or shown.startswith(FAIL_MARK)
        status = ok_status(moment) if renew else None
    fields: dict[str, Any] = {}
    if names.status_field and status is not None and status != shown:
        fields[names.status_field] = status
    if names.error_field and (current.get(names.error_field) or None) != error:
        fields[names.error_field] = error
    if names.audit_field and (has_news(lines) or (notice is not None and notice in lines)):
        fields[names.audit_field] = summary(current.get(names.audit_field), lines, moment)
    return fields


def _is_new_refusal(
    names: CrmNames, current: Mapping[str, Any], status: str | None, error: str | None
) -> bool:
    if names.status_field:
        return current.get(names.status_field) != status
    if names.error_field:
        return current.get(names.error_field) != error
    return False
