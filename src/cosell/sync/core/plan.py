"""The pure three-way planner: base + both sides' canonical records → what to write.

A side's change is its difference from the base (as that side would read the base back, see
:func:`~cosell.sync.core.transforms.project`). One side changed: the value flows to the other, if
the field's direction allows. Both changed to the same value: nothing to write. Both changed
differently: the field's owner wins (the loser is audited) or, for ``manual``, the field is
parked and every other field still syncs. Our own writes come back equal to the new base, so
echoes plan to nothing by construction.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import date, timedelta
from typing import Literal

from cosell.sync.core.mapping import FieldSpec, ReferralKind, SyncMapping
from cosell.sync.core.member_merge import listed, merge_members
from cosell.sync.core.records import CanonicalRecord, Side, Value
from cosell.sync.core.stages import is_closed, is_on_hold, transition_allowed
from cosell.sync.core.transforms import project

CreateKind = Literal["referral", "opportunity"]
Resolution = Literal["partner_center", "crm", "manual"]
RECORD = "*"
"""The ``field`` of a skip that concerns the whole record."""

NOT_SYNCABLE = "referral is Closed: not syncable"
ON_HOLD = "on hold: kept until accepted"
HELD_PREFIX = "held@"
"""Base keys ``held@<field>``: the CRM value a reconcile kept back because the opportunity is on
hold. A Partner Center change seen after it is the newer edit (real-time sync would have sent
the seller's value first and Microsoft's over it), so it wins over the held value at release
instead of losing to the owner rule."""
FILLED_PREFIX = "filled@"
"""Base keys ``filled@<field>``: the value a create wrote to the CRM for a field the record had
none for and the CRM requires (a referral without a closing date gets a close date). For that
pair no value and the filled one are the same, as no value and a field's ``default`` are for
every pair: the filler is never read as the seller's edit, and a later clear in Partner Center
writes the filler back rather than an empty required field."""
SYNC_OFF = "sync flag is off"
NO_UNSHARE = "cannot go from shared back to private"
CLOSED_NOT_CREATED = "referral is Closed: no opportunity is created for it"
DECLINED = "Closed/Declined"
REASON_PATH = "statusReason"
CLOSE_PATH = "details.closingDateTime"
DEFAULT_CLOSE_DAYS = 90
"""Days from the create to the close date of an opportunity whose referral has none."""
CREATED_STATUS = "Active/Accepted"
"""Partner Center answers a referral create with this status, whatever was sent."""


@dataclass(frozen=True)
class PlanFacts:
    """What the engine knows beyond field values.

    ``pc_closed`` and ``crm_on_hold`` are also derived from the stage field when the mapping
    has one; set them for mappings without a stage field.
    """

    sync_enabled: bool = True
    """The CRM sync flag: off stops CRM → Partner Center updates and referral creates."""
    direction: Literal["incoming", "outgoing"] | None = None
    """Who created the pair: incoming (Partner Center first) or outgoing (CRM first)."""
    link_exists: bool = False
    """A stored link exists, so a missing side was deleted rather than never created."""
    referral_kind: ReferralKind | None = None
    pc_closed: bool = False
    crm_on_hold: bool = False
    default_close_date: str | None = None
    """The close date an opportunity created from a referral without one gets (ISO date): the
    CRM requires one. See :data:`FILLED_PREFIX`."""


@dataclass(frozen=True)
class FieldConflict:
    """Both sides changed one field differently; ``resolution`` names the winner or manual."""

    field: str
    base: Value
    partner_center: Value
    crm: Value
    resolution: Resolution


@dataclass(frozen=True)
class Skip:
    """A change that was not written, and why."""

    field: str
    reason: str


@dataclass(frozen=True)
class Decision:
    """An audited write: ``field`` flows from ``source``, ``old`` → ``new``."""

    field: str
    source: Side
    old: Value
    new: Value


@dataclass
class Plan:
    """What one reconcile should do. Write the side dicts, then store ``new_base``.

    For a create, ``to_partner_center`` or ``to_crm`` holds the values to create with (pass it
    to ``to_partner_center_create`` / ``to_crm_create``).
    """

    to_partner_center: dict[str, Value] = field(default_factory=dict)
    to_crm: dict[str, Value] = field(default_factory=dict)
    new_base: dict[str, Value] = field(default_factory=dict)
    create: CreateKind | None = None
    conflicts: list[FieldConflict] = field(default_factory=list)
    skipped: list[Skip] = field(default_factory=list)
    decisions: list[Decision] = field(default_factory=list)
    agreed_before_crm: dict[str, Value] = field(default_factory=dict)
    """For a field written to both sides (a list of people merged person by person): its base
    once Partner Center has taken its write and the CRM not yet, which is what both then hold
    alike (the base with the CRM's own changes, which Partner Center now holds too). A field
    still to reach the CRM otherwise keeps its old base until the CRM's write lands; for such a
    field the CRM's changes would then read as Partner Center's."""

    @property
    def has_writes(self) -> bool:
        """True when anything is to be written or created."""
        return bool(self.to_partner_center or self.to_crm or self.create)


def plan(
    base: CanonicalRecord | None,
    pc: CanonicalRecord | None,
    crm: CanonicalRecord | None,
    mapping: SyncMapping,
    facts: PlanFacts,
) -> Plan:
    """Decide the writes that bring both sides to agreement (pure)."""
    if pc is None or crm is None:
        return _plan_missing(base, pc, crm, mapping, facts)
    start = dict(base) if base is not None else _first_base(pc, crm, mapping, facts)
    return _Merge(start, pc, crm, mapping, facts).run()


def _first_base(
    pc: CanonicalRecord, crm: CanonicalRecord, mapping: SyncMapping, facts: PlanFacts
) -> dict[str, Value]:
    """No base yet (a create not committed: interrupted, or found by its reference): the
    creating side's values are the base where the other side already holds them. Where it does
    not (the create stopped half-way: some contacts written, an older deal value), the other
    side's value is the base, so the creator's value reads as the change and finishes the
    create; a gap is never read as an edit or a deletion on the other side. Unknown creator:
    none agreed."""
    if facts.direction is None:
        return {}
    creator, other = (pc, crm) if facts.direction == "incoming" else (crm, pc)
    target: Side = "crm" if facts.direction == "incoming" else "partner_center"
    start = dict(creator)
    for name, spec in mapping.fields.items():
        value, held = creator.get(name), other.get(name)
        if not spec.on_create_to(target) or _or_default(spec, value) == _or_default(spec, held):
            continue
        if project(spec, value, target, mapping) != held:
            start[name] = held
    return start


def _plan_missing(
    base: CanonicalRecord | None,
    pc: CanonicalRecord | None,
    crm: CanonicalRecord | None,
    mapping: SyncMapping,
    facts: PlanFacts,
) -> Plan:
    kept = dict(base or {})
    if pc is None and crm is None:
        return Plan(new_base=kept)
    if base is not None or facts.link_exists:
        gone = "referral" if pc is None else "opportunity"
        return Plan(new_base=kept, skipped=[Skip(RECORD, f"linked {gone} not found")])
    return _plan_opportunity(pc, mapping, facts) if pc else _plan_referral(crm, mapping, facts)


def _plan_opportunity(pc: CanonicalRecord, mapping: SyncMapping, facts: PlanFacts) -> Plan:
    kinds = mapping.partner_center.incoming_kinds
    if facts.referral_kind is not None and facts.referral_kind not in kinds:
        imported = ", ".join(kinds) or "nothing"
        reason = (
            f"not imported: Partner Center classes this referral as {facts.referral_kind!r} and "
            f"the mapping imports only {imported}; add {facts.referral_kind!r} to "
            "partner_center.incoming_kinds to import it"
        )
        return Plan(skipped=[Skip(RECORD, reason)])
    stage = mapping.stage_field()
    if facts.pc_closed or (stage is not None and is_closed(pc.get(stage))):
        return Plan(skipped=[Skip(RECORD, CLOSED_NOT_CREATED)])
    values = _create_values(pc, mapping, "crm")
    new_base = _with_defaults(pc, mapping, "crm")
    close = next((n for n, s in mapping.fields.items() if s.partner_center == CLOSE_PATH), None)
    filler = facts.default_close_date
    if close and filler and close not in values and mapping.fields[close].on_create_to("crm"):
        values[close] = new_base[FILLED_PREFIX + close] = filler
    return Plan(to_crm=values, new_base=new_base, create="opportunity")


def _plan_referral(crm: CanonicalRecord | None, mapping: SyncMapping, facts: PlanFacts) -> Plan:
    if crm is None or not facts.sync_enabled:
        return Plan(skipped=[Skip(RECORD, SYNC_OFF)])
    values = _create_values(crm, mapping, "partner_center")
    new_base = _with_defaults(crm, mapping, "partner_center")
    stage = mapping.stage_field()
    if stage is not None:
        # The base holds what Partner Center will have, so a CRM stage that differs (e.g. the
        # deal is already won) is a CRM change that flows on the next reconcile.
        new_base[stage] = CREATED_STATUS
    return Plan(to_partner_center=values, new_base=new_base, create="referral")


def _with_defaults(record: CanonicalRecord, mapping: SyncMapping, side: Side) -> dict[str, Value]:
    """The base a create commits: the record, with the defaults the create writes to ``side``
    for fields without a value (what that side then holds)."""
    base = dict(record)
    for name, spec in mapping.fields.items():
        if base.get(name) is None and spec.default is not None and spec.on_create_to(side):
            base[name] = spec.default
    return base


def _create_values(record: CanonicalRecord, mapping: SyncMapping, side: Side) -> dict[str, Value]:
    return {
        name: record.get(name)
        for name, spec in mapping.fields.items()
        if spec.on_create_to(side) and record.get(name) is not None
    }


class _Merge:
    """One three-way merge over every mapped field (the stage first: it decides the hold)."""

    def __init__(
        self,
        base: dict[str, Value],
        pc: CanonicalRecord,
        crm: CanonicalRecord,
        mapping: SyncMapping,
        facts: PlanFacts,
    ) -> None:
        self.base, self.pc, self.crm, self.mapping, self.facts = base, pc, crm, mapping, facts
        self.out = Plan(new_base=dict(base))
        stage = mapping.stage_field()
        self.closed = facts.pc_closed or (stage is not None and is_closed(pc.get(stage)))
        self.on_hold = facts.crm_on_hold

    def run(self) -> Plan:
        stage = self.mapping.stage_field()
        names = sorted(self.mapping.fields, key=lambda n: n != stage)
        for name in names:
            self._field(name, self.mapping.fields[name])
            if name == stage:
                crm_stage = self.out.to_crm.get(name, self.crm.get(name))
                self.on_hold = self.on_hold or is_on_hold(crm_stage)
                if self.on_hold and self._declined_by_reason(name):
                    self._decline(name)
        return self.out

    def _declined_by_reason(self, stage: str) -> bool:
        """A reason entered on an on-hold opportunity declines the referral (an explicit action,
        as good as moving it to the decline stage)."""
        reason = reason_field(self.mapping)
        if reason is None or self.closed or not self.facts.sync_enabled:
            return False
        if not self.mapping.fields[reason].flows_to("partner_center"):
            return False
        changed = self.crm.get(reason) != self.base.get(reason) and bool(self.crm.get(reason))
        return changed and is_on_hold(self.pc.get(stage))

    def _decline(self, stage: str) -> None:
        self.out.to_partner_center[stage] = DECLINED
        self.out.to_crm[stage] = DECLINED
        self.out.decisions.append(Decision(stage, "crm", self.base.get(stage), DECLINED))
        self.out.new_base[stage] = DECLINED
        self.on_hold = False

    def _field(self, name: str, spec: FieldSpec) -> None:
        b, p, c = self.base.get(name), self.pc.get(name), self.crm.get(name)
        pc_changed = self._changed(name, spec, b, p, "partner_center")
        crm_changed = self._changed(name, spec, b, c, "crm")
        if pc_changed and crm_changed:
            self._both(name, spec, b, p, c)
        elif pc_changed:
            self._flow(name, spec, "partner_center", p)
        elif crm_changed:
            self._flow(name, spec, "crm", c)

    def _changed(self, name: str, spec: FieldSpec, base: Value, value: Value, side: Side) -> bool:
        """A side's value differs from the base as that side would read the base back. No value
        and the field's default (or the value its create filled in) are the same: a create
        writes it for no value."""
        if self._or_default(name, spec, value) == self._or_default(name, spec, base):
            return False
        return value != project(spec, base, side, self.mapping)

    def _or_default(self, name: str, spec: FieldSpec, value: Value) -> Value:
        if value is not None:
            return value
        return spec.default if spec.default is not None else self.base.get(FILLED_PREFIX + name)

    def _both(self, name: str, spec: FieldSpec, b: Value, p: Value, c: Value) -> None:
        if (
            self._or_default(name, spec, p) == self._or_default(name, spec, c)
            or project(spec, p, "crm", self.mapping) == c
        ):
            self.out.new_base[name] = p
            self.out.new_base.pop(HELD_PREFIX + name, None)
            return
        winner = _winner(spec)
        if winner == "crm" and self.base.get(HELD_PREFIX + name) == c and spec.flows_to("crm"):
            winner = "partner_center"  # the seller's value was held before Microsoft's edit
        if winner is None:
            self.out.skipped.append(Skip(name, "direction on_create"))
            return
        if spec.transform == "members" and self._merge_members(name, spec, b, p, c, winner):
            return
        self.out.conflicts.append(FieldConflict(name, b, p, c, winner))
        if winner == "manual":
            return
        won, lost = (p, c) if winner == "partner_center" else (c, p)
        if not self._flow(name, spec, winner, won):
            # The owner rule decided once: the loser's value (what the other side holds) is the
            # base, so the winner's value waits as that side's own change (e.g. held until
            # accepted) instead of re-firing the conflict on every reconcile.
            self.out.new_base[name] = lost

    def _merge_members(
        self, name: str, spec: FieldSpec, b: Value, p: Value, c: Value, winner: Resolution
    ) -> bool:
        """Both sides changed a list of people: merge it person by person
        (:mod:`~cosell.sync.core.member_merge`). False (the field is merged whole) when a value
        is not such a list, or a person both changed differently waits for a person's
        decision (``owner: manual``)."""
        merge = merge_members(
            b,
            p,
            c,
            base_pc=project(spec, b, "partner_center", self.mapping),
            base_crm=project(spec, b, "crm", self.mapping),
            winner="partner_center" if winner == "partner_center" else "crm",
        )
        if merge is None or (merge.conflicts and winner == "manual"):
            return False
        for row in merge.conflicts:
            self.out.conflicts.append(
                FieldConflict(name, row.base, row.partner_center, row.crm, winner)
            )
        merged = listed(merge.merged)
        to_crm = project(spec, merged, "crm", self.mapping) != c
        to_pc = project(spec, merged, "partner_center", self.mapping) != p
        crm_ok = not to_crm or self._send(name, spec, "partner_center", merged)
        pc_ok = not to_pc or self._send(name, spec, "crm", merged, held=c)
        if crm_ok and pc_ok:
            self.out.new_base[name] = merged
            self.out.new_base.pop(HELD_PREFIX + name, None)
            if to_crm and to_pc:
                self.out.agreed_before_crm[name] = listed(merge.from_crm)
        elif crm_ok:  # the CRM took Partner Center's changes; its own wait to flow
            self.out.new_base[name] = listed(merge.from_partner_center)
        elif pc_ok:
            self.out.new_base[name] = listed(merge.from_crm)
        return True

    def _flow(self, name: str, spec: FieldSpec, source: Side, value: Value) -> bool:
        """Send ``value`` from ``source`` to the other side; False when it may not go now."""
        target: Side = "crm" if source == "partner_center" else "partner_center"
        if value is None and target == "crm":
            value = self.base.get(FILLED_PREFIX + name)  # a required field keeps its filler
        if not self._send(name, spec, source, value):
            return False
        self.out.new_base[name] = value
        self.out.new_base.pop(HELD_PREFIX + name, None)
        return True

    def _send(
        self, name: str, spec: FieldSpec, source: Side, value: Value, held: Value = None
    ) -> bool:
        """Write ``value`` to the side other than ``source``, unless it may not go now (then
        the reason is a skip, and a CRM value kept back for the hold is remembered: ``held``,
        else ``value``)."""
        target: Side = "crm" if source == "partner_center" else "partner_center"
        reason = self._blocked(name, spec, target, value)
        if reason:
            self.out.skipped.append(Skip(name, reason))
            if reason == ON_HOLD and source == "crm":
                self.out.new_base[HELD_PREFIX + name] = value if held is None else held
            return False
        (self.out.to_crm if target == "crm" else self.out.to_partner_center)[name] = value
        self.out.decisions.append(Decision(name, source, self.base.get(name), value))
        return True

    def _blocked(self, name: str, spec: FieldSpec, target: Side, value: Value) -> str | None:
        if not spec.flows_to(target):
            return f"direction {spec.direction}"
        current = (self.crm if target == "crm" else self.pc).get(name)
        if spec.irreversible and current is True and value is not True:
            return f"{name} {NO_UNSHARE}"
        return self._pc_gate(name, spec, value) if target == "partner_center" else None

    def _pc_gate(self, name: str, spec: FieldSpec, value: Value) -> str | None:
        if self.closed:
            return NOT_SYNCABLE
        if not self.facts.sync_enabled:
            return SYNC_OFF
        if spec.transform == "stage":
            return _transition_problem(self.pc.get(name), value)
        return ON_HOLD if self.on_hold and spec.hold else None


def default_close_date(today: date) -> str:
    """The close date (ISO) an opportunity created ``today`` gets when its referral has none."""
    return (today + timedelta(days=DEFAULT_CLOSE_DAYS)).isoformat()


def _or_default(spec: FieldSpec, value: Value) -> Value:
    return spec.default if value is None else value


def reason_field(mapping: SyncMapping) -> str | None:
    """The field mapped to the referral's ``statusReason`` (loss or decline reason), if any."""
    return next((n for n, s in mapping.fields.items() if s.partner_center == REASON_PATH), None)


def _winner(spec: FieldSpec) -> Resolution | None:
    """Who wins a both-sides change: a one-way field's source, else the owner."""
    if spec.direction == "on_create":
        return None
    if spec.direction == "to_crm":
        return "partner_center"
    return "crm" if spec.direction == "to_partner_center" else spec.owner


def _transition_problem(current: Value, new: Value) -> str | None:
    if not isinstance(new, str):
        return "stage has no Partner Center status"
    now = current if isinstance(current, str) else None
    if transition_allowed(now, new):
        return None
    return f"Partner Center cannot move a referral from {now} to {new}"
