"""Drift: where the two sides of a linked pair disagree, field by field, per the mapping (pure).

Both sides are translated into canonical records (see :mod:`cosell.sync.core.translate`) from what
was read *now*, and compared with no help from the stored base: the base says what cosell
believes both sides hold, and drift is exactly where that belief and the truth part ways.

A difference is either *drift* (the sides should agree and do not) or *held* (the mapping's own
rules keep them apart, and the reason is the one the engine gives: a Closed referral takes no
CRM edits, an on-hold opportunity keeps its edits until accepted, the sync flag is off, Partner
Center refuses the stage move, visibility cannot be withdrawn). Fields that travel only with a
create (``on_create``, e.g. the customer's address, which may match an existing account whose
address differs) are not compared.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field

from cosell.sync.core.mapping import FieldSpec, SyncMapping
from cosell.sync.core.plan import NO_UNSHARE, NOT_SYNCABLE, ON_HOLD, SYNC_OFF
from cosell.sync.core.records import CanonicalRecord, Value
from cosell.sync.core.stages import is_closed, is_on_hold, transition_allowed
from cosell.sync.core.transforms import project


@dataclass(frozen=True)
class FieldDrift:
    """One field the sides disagree on: both canonical values as read."""

    field: str
    partner_center: Value
    crm: Value

    def describe(self) -> str:
        return f"{self.field}: Partner Center {self.partner_center!r} ≠ CRM {self.crm!r}"


@dataclass(frozen=True)
class HeldField:
    """A difference the mapping's rules explain, with the engine's reason."""

    field: str
    partner_center: Value
    crm: Value
    reason: str


@dataclass
class Comparison:
    """One pair compared: ``drift`` must be empty for the pair to agree."""

    drift: list[FieldDrift] = field(default_factory=list)
    held: list[HeldField] = field(default_factory=list)
    compared: list[str] = field(default_factory=list)

    @property
    def agrees(self) -> bool:
        return not self.drift


def compare(
    pc: CanonicalRecord,
    crm: CanonicalRecord,
    mapping: SyncMapping,
    *,
    sync_enabled: bool = True,
    crm_extra: Mapping[str, tuple[Value, Value]] | None = None,
) -> Comparison:
    """Compare two canonical records of one pair per ``mapping``.

    ``crm_extra`` holds differences inside the CRM record itself that the canonical value hides
    (e.g. the solutions related list and the ``Products__c`` text out of step): each key is
    reported as drift of that name with the two CRM values.
    """
    out = Comparison()
    gates = _Gates(pc, crm, mapping, sync_enabled)
    for name in sorted(mapping.fields):
        spec = mapping.fields[name]
        if spec.direction == "on_create":
            continue
        out.compared.append(name)
        p, c = pc.get(name), crm.get(name)
        if same(spec, p, c, mapping):
            continue
        reason = gates.reason(name, spec, p, c)
        if reason is None:
            out.drift.append(FieldDrift(name, p, c))
        else:
            out.held.append(HeldField(name, p, c, reason))
    for name, (first, second) in sorted((crm_extra or {}).items()):
        out.drift.append(FieldDrift(name, first, second))
    return out


def same(spec: FieldSpec, pc: Value, crm: Value, mapping: SyncMapping) -> bool:
    """Whether the two canonical values agree as each side reads the other's back (a default
    stands for no value; a longer text agrees with its cut form; two stages sharing a CRM stage
    agree)."""
    if _or_default(spec, pc) == _or_default(spec, crm):
        return True
    return project(spec, pc, "crm", mapping) == crm or project(
        spec, crm, "partner_center", mapping
    ) == _or_default(spec, pc)


def _or_default(spec: FieldSpec, value: Value) -> Value:
    return spec.default if value is None else value


class _Gates:
    """The engine's reasons for not moving a value (see :mod:`cosell.sync.core.plan`)."""

    def __init__(
        self, pc: CanonicalRecord, crm: CanonicalRecord, mapping: SyncMapping, sync_enabled: bool
    ) -> None:
        stage = mapping.stage_field()
        self.stage = stage
        self.closed = stage is not None and is_closed(pc.get(stage))
        self.on_hold = stage is not None and is_on_hold(crm.get(stage))
        self.sync_enabled = sync_enabled

    def reason(self, name: str, spec: FieldSpec, pc: Value, crm: Value) -> str | None:
        if spec.irreversible and pc is True and crm is not True:
            return f"{name} {NO_UNSHARE}"
        if not spec.flows_to("partner_center"):
            return None
        if self.closed:
            return NOT_SYNCABLE
        if not self.sync_enabled:
            return SYNC_OFF
        if name == self.stage:
            return _stage_problem(pc, crm)
        if self.on_hold and spec.hold:
            return ON_HOLD
        return None


def _stage_problem(pc: Value, crm: Value) -> str | None:
    if not isinstance(crm, str):
        return "stage has no Partner Center status"
    current = pc if isinstance(pc, str) else None
    if transition_allowed(current, crm):
        return None
    return f"Partner Center cannot move a referral from {current} to {crm}"
