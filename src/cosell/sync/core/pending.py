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

from cosell.sync.core.mapping import SyncMapping
from cosell.sync.core.records import CanonicalRecord, Side, Value
from cosell.sync.core.transforms import project

PENDING_KEY = "writes@pending"
"""The base key holding the writes in flight, by side (not a mapped field)."""

SIDES: tuple[Side, Side] = ("partner_center", "crm")


def with_pending(
    base: Mapping[str, Value], sent: Mapping[Side, Mapping[str, Value]]
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
    """The base to plan on: each value in flight that its side now holds becomes agreed."""
    if base is None:
        return None
    out = without_pending(base)
    flight = base.get(PENDING_KEY)
    if not isinstance(flight, dict):
        return out
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
                out[name] = value
    return out
