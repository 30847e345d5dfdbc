"""Rich tables for the operations commands (the dashboard renders the same values as HTML)."""

from __future__ import annotations

import json
from collections.abc import Sequence
from datetime import datetime, timedelta
from typing import Any

from rich.table import Table
from rich.text import Text

from cosell.operations.activity import SignalSeen
from cosell.operations.checks import Check
from cosell.operations.conflicts import ConflictView
from cosell.operations.records_view import RecordRow
from cosell.operations.status import NotImported, RecordNeedingAttention, StatusReport
from cosell.store.records import AuditRecord, DeadLetter

LEVEL_STYLE = {"ok": "green", "warn": "yellow", "fail": "bold red", "skip": "dim"}
ARROW = "→"


def when(moment: datetime | None) -> str:
    return moment.strftime("%Y-%m-%d %H:%M:%S UTC") if moment else "never"


def duration(span: timedelta | None) -> str:
    if span is None:
        return "—"
    seconds = int(span.total_seconds())
    for unit, size in (("d", 86400), ("h", 3600), ("min", 60)):
        if seconds >= size:
            return f"{seconds // size} {unit}"
    return f"{seconds} s"


def value(data: Any) -> str:
    """A stored value as one short line (JSON for structures, ∅ for nothing)."""
    if data is None:
        return "∅"
    return data if isinstance(data, str) else json.dumps(data, sort_keys=True, default=str)


def seen(signal: SignalSeen | None) -> str:
    if signal is None:
        return "never recorded"
    detail = f" ({signal.detail})" if signal.detail else ""
    return f"{when(signal.at)} · {signal.what}{detail}"


def status_table(report: StatusReport) -> Table:
    table = Table(title=f"cosell · {report.tenant}", show_header=False, title_justify="left")
    table.add_column("What", style="bold")
    table.add_column("Value", overflow="fold")
    for label, text in status_rows(report):
        table.add_row(label, Text(text))
    return table


def status_rows(report: StatusReport) -> list[tuple[str, str]]:
    states = ", ".join(f"{n} {s}" for s, n in report.links_by_state.items()) or "none"
    age = report.oldest_unsynced_age
    oldest = (
        "nothing waiting" if age is None else f"{duration(age)} ago ({when(report.oldest_due)})"
    )
    records = ", ".join(f"{n} {s}" for s, n in report.records_by_state.items() if n) or "none"
    rows = [
        ("Records", records),
        ("Links", f"{report.links} ({states})"),
        ("Queue", f"{report.queue_depth} waiting or running, {report.leased} running"),
        ("Oldest unsynced change", oldest),
        ("Dead letters", str(report.dead_letters)),
        ("Open conflicts", str(report.open_conflicts)),
        ("Last webhook", seen(report.activity.last_webhook)),
        (f"Last {report.activity.crm_name} poll", seen(report.activity.last_poll)),
        ("Last related-records poll", seen(report.activity.last_related_poll)),
        ("Last Partner Center sweep", seen(report.activity.last_sweep)),
    ]
    return rows + _remote_rows(report)


def _remote_rows(report: StatusReport) -> list[tuple[str, str]]:
    rows = []
    if report.expiring is not None:
        exp = report.expiring
        label = f"Expiring within {exp.within_days:g} d"
        items = [f"{r.referral_id} {r.name!r} in {r.days_left:.1f} d" for r in exp.referrals]
        rows.append((label, exp.error or ("; ".join(items) or "none")))
    if report.salesforce_budget is not None:
        budget = report.salesforce_budget
        text = budget.error or f"{budget.remaining:,} of {budget.maximum:,} calls left (24 h)"
        rows.append(("Salesforce API budget", text))
    calls = report.partner_center_calls_24h
    counted = "not recorded" if calls is None else f"{calls:,} calls in the last 24 h"
    rows.append(("Partner Center API use", f"{counted} (no quota API: throttled by 429)"))
    return rows


def audit_table(record_id: str, rows: Sequence[AuditRecord]) -> Table:
    table = Table(title=f"Audit of {record_id} (newest first)", title_justify="left")
    for column in ("Time", "Direction", "Field", "Change", "Outcome", "Message"):
        table.add_column(column, overflow="fold")
    for row in rows:
        change = f"{value(row.old)} {ARROW} {value(row.new)}" if row.field else ""
        cells = (when(row.at), row.direction, row.field or "", change, row.outcome, row.message)
        table.add_row(*map(Text, cells))
    return table


def dead_letter_table(letters: Sequence[DeadLetter]) -> Table:
    table = Table(title="Dead letters", title_justify="left")
    for column in ("Key", "Failed", "Attempts", "Reason"):
        table.add_column(column, overflow="fold")
    for letter in letters:
        cells = (letter.key, when(letter.failed_at), str(letter.attempts), letter.reason)
        table.add_row(*map(Text, cells))
    return table


def attention_table(rows: Sequence[RecordNeedingAttention]) -> Table:
    table = Table(title="Records needing attention", title_justify="left")
    for column in ("Record", "State", "Why", "What changes it"):
        table.add_column(column, overflow="fold")
    for row in rows:
        record = row.referral_id or row.opportunity_id or row.key
        table.add_row(*map(Text, (record, row.state, row.reason, row.fix)))
    return table


def record_state_line(row: RecordRow) -> Text:
    """``cosell audit``'s first line: the record's ledger state, why, and the fix."""
    text = f"State: {row.state} ({row.state_words})"
    if row.reason is not None:
        text += f"\nWhy: {row.reason.text}\nFix: {row.reason.fix}"
    return Text(text)


def not_imported_table(rows: Sequence[NotImported]) -> Table:
    table = Table(title="Not imported (a mapping rule left them out)", title_justify="left")
    for column in ("Referral", "Why", "To import it"):
        table.add_column(column, overflow="fold")
    for row in rows:
        table.add_row(*map(Text, (row.referral_id, row.reason, row.fix)))
    return table


def conflicts_table(views: Sequence[ConflictView]) -> Table:
    table = Table(title="Open conflicts", title_justify="left")
    for column in ("Id", "Referral", "Opportunity", "Field", "Base", "Partner Center", "CRM"):
        table.add_column(column, overflow="fold")
    for view in views:
        c = view.conflict
        ids = (str(c.id), view.referral_id or "—", view.opportunity_id or "—", c.field)
        table.add_row(*map(Text, (*ids, value(c.base), value(c.pc), value(c.crm))))
    return table


def checks_table(checks: Sequence[Check]) -> Table:
    table = Table(title="cosell doctor", title_justify="left")
    for column in ("Check", "Result", "Detail", "Fix"):
        table.add_column(column, overflow="fold")
    for check in checks:
        style = LEVEL_STYLE[check.level]
        level = Text(check.level, style=style)
        table.add_row(Text(check.name), level, Text(check.detail), Text(check.fix))
    return table
