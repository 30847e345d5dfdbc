"""Related records around a reconcile: solutions kept in step, team members without a user,
and the mirrored Partner Center notes.

- **Solutions**: after a sync the Microsoft Solutions list and ``Products__c`` hold the same ids
  (see :mod:`cosell.sync.core.solutions`), written without an audit line (the value is unchanged).
- **Team**: members of a desired team that no active user has are reported (they stay in
  Partner Center; see :mod:`cosell.sync.core.team`).
- **Notes**: ``details.notes`` ⇄ ``Description`` is an ordinary mapped field. Partner Center's
  notes are also mirrored into a Note titled "Partner Center notes" on the opportunity whenever
  they change, so Microsoft's text stays readable next to the seller's. The Note is never read
  back into a field, so it cannot echo.
"""

from __future__ import annotations

from dataclasses import replace
from typing import TYPE_CHECKING

from cosell.sync.core import solutions, team
from cosell.sync.core.mapping import SyncMapping
from cosell.sync.core.plan import Plan
from cosell.sync.core.records import CrmWrite, Value
from cosell.sync.sides.salesforce.schema import TEAM_LIST

if TYPE_CHECKING:
    from cosell.sync.engine.context import Context, Snapshot

NOTES_PATH = "details.notes"


def mirror_solutions(ctx: Context, snap: Snapshot, decided: Plan) -> None:
    """Add a write that puts both CRM places in step with the agreed ids, when they differ."""
    name, crm = solutions.field_name(ctx.mapping), snap.crm
    if name is None or crm is None or name in decided.to_crm or not snap.linked:
        return
    value = decided.new_base.get(name)
    if (snap.crm_values or {}).get(name) != value:
        return  # the CRM disagrees (held, parked): leave its edit alone
    ids = [str(v) for v in value] if isinstance(value, list) else []
    names = ctx.schema.names
    typed = crm.typed_solutions(names) if names.products_field else ids
    if solutions.out_of_step(crm.solution_ids(names), typed, ids, ctx.mapping.fields[name]):
        decided.to_crm[name] = value


def remember_rows(ctx: Context, snap: Snapshot, decided: Plan, new_base: dict[str, Value]) -> None:
    """Store the related list's ids with the base, so a later row deletion is seen."""
    name, crm = solutions.field_name(ctx.mapping), snap.crm
    if name is None or crm is None:
        return
    before = snap.link.base.get(solutions.ROWS_KEY) if snap.link else None
    value = new_base.get(name)
    written = decided.to_crm.get(name) if name in decided.to_crm else None
    agreed = written is not None or (snap.crm_values or {}).get(name) == value
    ids = [str(v) for v in written] if isinstance(written, list) else None
    if written is not None and ids is None:
        ids = []
    rows = crm.solution_ids(ctx.schema.names)
    new_base[solutions.ROWS_KEY] = solutions.rows_after(before, agreed, ids, rows)


def unmatched_team(
    mapping: SyncMapping, users: dict[str, str], write: CrmWrite
) -> list[tuple[str, str]]:
    """``(field, message)`` for each desired team member no active user has."""
    name = next((n for n, s in mapping.fields.items() if s.crm == TEAM_LIST), None)
    if not write.team or name is None:
        return []
    emails = team.unmatched(write.team, frozenset(users))
    return [(name, team.UNMATCHED.format(email=e)) for e in emails]


def notes_field(mapping: SyncMapping) -> str | None:
    return next((n for n, s in mapping.fields.items() if s.partner_center == NOTES_PATH), None)


def with_note(ctx: Context, write: CrmWrite, decided: Plan) -> CrmWrite:
    """``write`` carrying the notes Note's body when the notes changed on either side (a CRM
    that writes it with the rest leaves :func:`mirror_notes` nothing to send)."""
    name = notes_field(ctx.mapping)
    if name is None or not _notes_changed(name, decided):
        return write
    value = decided.new_base.get(name)
    return replace(write, note=value if isinstance(value, str) else None, note_changed=True)


def _notes_changed(name: str, decided: Plan) -> bool:
    return name in decided.to_crm or name in decided.to_partner_center or bool(decided.create)


def mirrors_notes(ctx: Context, decided: Plan) -> bool:
    """Whether :func:`mirror_notes` writes to the CRM for this plan."""
    name = notes_field(ctx.mapping)
    return name is not None and _notes_changed(name, decided)


def mirror_notes(ctx: Context, opportunity_id: str, decided: Plan) -> bool:
    """Refresh the "Partner Center notes" Note when the notes changed on either side; whether
    anything was written."""
    name = notes_field(ctx.mapping)
    if name is not None and _notes_changed(name, decided):
        value = decided.new_base.get(name)
        return ctx.crm.mirror_note(opportunity_id, value if isinstance(value, str) else None)
    return False
