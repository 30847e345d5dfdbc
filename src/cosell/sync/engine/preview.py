"""A dry run of one reconcile: what would be written to each side, field by field.

:func:`preview` reads both sides now, exactly as a reconcile does, plans against the stored
base (resolved conflicts included) and translates the plan into the writes the engine would
make, without writing anything (neither side nor the store). ``cosell mapping preview`` prints
it with :func:`render`.
"""

from __future__ import annotations

import json
from dataclasses import dataclass, field
from typing import Any

from cosell.queue.protocol import KeyKind
from cosell.sync.core.plan import Plan, plan
from cosell.sync.core.records import CreateContext, CrmWrite
from cosell.sync.core.translate import to_crm_create, to_crm_fields, to_partner_center_create
from cosell.sync.core.translate import to_partner_center_ops as pc_ops
from cosell.sync.core.validation import check_cosell_ready
from cosell.sync.engine import related, resolutions
from cosell.sync.engine.context import Snapshot
from cosell.sync.engine.engine import Engine
from cosell.sync.sides.partner_center import split_patchable

PC = "Partner Center"
CRM = "CRM"


@dataclass(frozen=True)
class Change:
    """One value that would be written: ``where`` names the path or CRM field."""

    side: str
    where: str
    current: Any
    new: Any


@dataclass
class Preview:
    """What one reconcile of ``key`` would do."""

    key: str
    action: str
    changes: list[Change] = field(default_factory=list)
    create_body: dict[str, Any] | None = None
    notes: list[str] = field(default_factory=list)

    @property
    def writes_anything(self) -> bool:
        return bool(self.changes or self.create_body)


def preview(engine: Engine, kind: KeyKind, record_id: str) -> Preview:
    """Read both sides, plan and translate, writing nothing."""
    key = f"{kind}:{record_id}"
    snap = engine.read(kind, record_id)
    if snap.pc is None and snap.crm is None:
        return Preview(key, "nothing: neither record exists")
    base = snap.link.base if snap.linked and snap.link else None
    decided = plan(base, snap.pc_values, snap.crm_values, engine.mapping, engine.facts(snap))
    if decided.create == "referral":
        return _referral_create(engine, key, snap, decided)
    if decided.create == "opportunity":
        body = _crm_body(to_crm_create(decided.to_crm, engine.mapping))
        return Preview(key, "create opportunity", create_body=body, notes=_notes(decided))
    if snap.pc is None or snap.crm is None:
        return Preview(key, "nothing", notes=_notes(decided))
    if snap.link is not None and snap.linked:
        parked = resolutions.pending(engine.store, engine.tenant, snap.link.id)
        choices = [c for c in (resolutions.resolved(p, engine.mapping) for p in parked) if c]
        resolutions.apply(decided, choices, snap.pc_values or {}, snap.crm_values or {})
    related.mirror_solutions(engine.context, snap, decided)
    return _update(engine, key, snap, decided)


def _referral_create(engine: Engine, key: str, snap: Snapshot, decided: Plan) -> Preview:
    assert snap.crm is not None
    problems = check_cosell_ready(snap.crm_values or {}, engine.mapping)
    if problems:
        notes = [f"refused before submit: {p}" for p in problems]
        return Preview(key, "nothing: the record is not ready for co-sell", notes=notes)
    ctx = CreateContext(snap.crm.id)
    body = to_partner_center_create(decided.to_partner_center, ctx, engine.mapping)
    return Preview(key, "create referral", create_body=body, notes=_notes(decided))


def _update(engine: Engine, key: str, snap: Snapshot, decided: Plan) -> Preview:
    assert snap.pc is not None
    assert snap.crm is not None
    out = Preview(key, "update", notes=_notes(decided))
    ops = pc_ops(decided.to_partner_center, snap.pc.raw, engine.mapping)
    kept, refused = split_patchable(ops)
    for op in kept:
        current = _at(snap.pc.raw, str(op["path"]))
        out.changes.append(Change(PC, str(op["path"]), current, op.get("value")))
    out.notes += [f"not sent (Partner Center refuses it): {path}" for path in refused]
    write = to_crm_fields(decided.to_crm, engine.mapping)
    out.changes += _crm_changes(snap, write)
    if not out.changes:
        out.action = "nothing to write"
    return out


def _crm_changes(snap: Snapshot, write: CrmWrite) -> list[Change]:
    assert snap.crm is not None
    opportunity, account = snap.crm.opportunity, snap.crm.account
    changes = [
        Change(CRM, name, opportunity.get(name), value)
        for name, value in write.opportunity.items()
        if opportunity.get(name) != value and name != "Id"
    ]
    changes += [
        Change(CRM, f"Account.{name}", account.get(name), value)
        for name, value in write.account.items()
        if account.get(name) != value
    ]
    for label, rows in (("contacts", write.contacts), ("team", write.team)):
        if rows is not None:
            changes.append(Change(CRM, label, None, [r.get("Email") for r in rows]))
    if write.solutions is not None:
        changes.append(Change(CRM, "Microsoft Solutions", None, write.solutions))
    return changes


def _crm_body(write: CrmWrite) -> dict[str, Any]:
    body: dict[str, Any] = {"Opportunity": dict(write.opportunity), "Account": dict(write.account)}
    if write.contacts is not None:
        body["Contacts"] = write.contacts
    if write.team is not None:
        body["OpportunityTeam"] = write.team
    if write.solutions is not None:
        body["Microsoft Solutions"] = write.solutions
    return body


def _notes(decided: Plan) -> list[str]:
    notes = [f"skipped {s.field}: {s.reason}" for s in decided.skipped]
    notes += [
        f"conflict on {c.field}: Partner Center {c.partner_center!r}, CRM {c.crm!r} "
        f"→ {c.resolution if c.resolution != 'manual' else 'parked for a person'}"
        for c in decided.conflicts
    ]
    return notes


def _at(document: Any, pointer: str) -> Any:
    for part in pointer.strip("/").split("/"):
        if not isinstance(document, dict):
            return None
        document = document.get(part)
    return document


def render(result: Preview) -> str:
    """The preview as text: one line per change, or the create body as JSON."""
    lines = [f"{result.key}: {result.action}"]
    for change in result.changes:
        current, new = json.dumps(change.current), json.dumps(change.new)
        lines.append(f"  {change.side} {change.where}: {current} → {new}")
    if result.create_body is not None:
        lines.append(json.dumps(result.create_body, indent=2, sort_keys=True, default=str))
    lines += [f"  note: {n}" for n in result.notes]
    lines.append("(dry run: nothing was written; the status and audit fields are not shown)")
    return "\n".join(lines)
