"""Writes in flight: what a reconcile sent to each side before its final commit.

The base is only what both sides are known to hold. A reconcile writes Partner Center first,
then the CRM (the opportunity, then its related rows and the notes mirror), and commits the new
base last. Any step can fail, or the process can die, after an earlier write landed. If the base
then stayed as it was, the value that landed would read as an edit made on that side: a later
edit on the other side would meet it as a both-sides change, and the owner rule would send the
older value back over the newer one (a lost update).

So the engine records the values it is about to send under :data:`PENDING_KEY` in the stored
base before it writes (write-ahead), moves what a write is known to have done into the base as
soon as it answers, and the next reconcile settles what is left with :func:`settle`: a value
sent to a side that the side now holds is agreed (the write landed), any other is forgotten
(the write did not land, or the side was edited since: its own value is then a change).
"""

from __future__ import annotations

from collections.abc import Mapping

from cosell.sync.core.contacts import member_key
from cosell.sync.core.mapping import SyncMapping
from cosell.sync.core.records import CanonicalRecord, Side, Value
from cosell.sync.core.transforms import project

PENDING_KEY = "writes@pending"
"""The base key holding the writes in flight, by side (not a mapped field)."""

SIDES: tuple[Side, Side] = ("partner_center", "crm")
BEFORE_CRM = "agreed@before_crm"
"""In :data:`PENDING_KEY`: for a field sent to both sides (a merged list of people), what is agreed
when Partner Center holds what it was sent and the CRM does not (``Plan.agreed_before_crm``)."""
CREATE = "create"
"""In :data:`PENDING_KEY`: the related rows (contacts, team) a CRM create writes after the record
itself, while the create is unfinished."""


def with_pending(
    base: Mapping[str, Value], sent: Mapping[str, Mapping[str, Value]]
) -> dict[str, Value]:
    """``base`` recording ``sent`` (side → field → value) as in flight; empty sides left out."""
    out = without_pending(base)
    flight: dict[str, Value] = {side: dict(values) for side, values in sent.items() if values}
    if flight:
        out[PENDING_KEY] = flight
    return out


def without_pending(base: Mapping[str, Value]) -> dict[str, Value]:
    """The agreed values alone."""
    return {k: v for k, v in base.items() if k != PENDING_KEY}


def has_pending(base: Mapping[str, Value] | None) -> bool:
    return bool(base and base.get(PENDING_KEY))


def settle(
    base: Mapping[str, Value] | None,
    pc: CanonicalRecord | None,
    crm: CanonicalRecord | None,
    mapping: SyncMapping,
) -> dict[str, Value] | None:
    """The base to plan on: each value in flight that its side now holds becomes agreed (for
    a field sent to both sides, Partner Center holding it agrees only what both then hold
    alike, :data:`BEFORE_CRM`)."""
    if base is None:
        return None
    out = without_pending(base)
    flight = base.get(PENDING_KEY)
    if not isinstance(flight, dict):
        return out
    before_crm = flight.get(BEFORE_CRM)
    partial = before_crm if isinstance(before_crm, dict) else {}
    for side, record in zip(SIDES, (pc, crm), strict=True):
        sent = flight.get(side)
        if record is None or not isinstance(sent, dict):
            continue
        for name, value in sent.items():
            spec = mapping.fields.get(name)
            if spec is None:
                continue
            held = record.get(name)
            default = spec.default
            same_default = (default if held is None else held) == (
                default if value is None else value
            )
            if held == value or same_default or held == project(spec, value, side, mapping):
                # Partner Center's half of a both-sides write: the CRM's half decides the rest.
                out[name] = partial.get(name, value) if side == "partner_center" else value
    return out


def creating(base: Mapping[str, Value], rows: Mapping[str, Value]) -> dict[str, Value]:
    """What a CRM create records before it is made: the base it will commit, and the related
    rows it writes after the record itself."""
    out = without_pending(base)
    out[PENDING_KEY] = {CREATE: dict(rows)}
    return out


def finish_create(
    stored: Mapping[str, Value], crm: CanonicalRecord, mapping: SyncMapping
) -> dict[str, Value] | None:
    """The base of a CRM create that stopped after the record itself was made (``None`` when
    ``stored`` records no create). The record's own fields arrive in one write, so what the
    create sent is the base: a value the record holds otherwise is a seller's edit made since,
    and flows. Related rows are written afterwards and may be missing: where the record holds
    fewer rows than were sent, the base is the rows sent that it holds (people matched by who
    they are), so the rest is sent again, never read as a deletion, and a person it holds that
    differs from what was sent is a seller's edit. Where it holds them all, they were written,
    and a row that differs from what was sent is a seller's edit like any other (it was taken
    for a row still to write, and the sent value written back over the edit)."""
    flight = stored.get(PENDING_KEY)
    rows = flight.get(CREATE) if isinstance(flight, dict) else None
    if not isinstance(rows, dict):
        return None
    out = without_pending(stored)
    for name, value in rows.items():
        spec = mapping.fields.get(name)
        held = crm.get(name)
        if spec is None or held == value or held == project(spec, value, "crm", mapping):
            continue
        if not _all_written(held, value):
            out[name] = _written(held, value)
    return out


def _written(held: Value, sent: Value) -> Value:
    """Of the people a create sent, those the record holds, as sent; other values: as held."""
    if not isinstance(sent, list) or not all(isinstance(row, dict) for row in sent):
        return held
    rows = held if isinstance(held, list) else []
    there = {member_key(row) for row in rows if isinstance(row, dict)}
    kept: list[Value] = [row for row in sent if isinstance(row, dict) and member_key(row) in there]
    return kept or None


def _all_written(held: Value, sent: Value) -> bool:
    """The record holds as many related rows as the create sent (or a value, where it sent
    one that is not a list of rows)."""
    if isinstance(sent, list):
        return isinstance(held, list) and len(held) >= len(sent)
    return held is not None
