"""Echo-freedom: what we wrote comes back as no change, for any records and facts."""

from typing import Any

from hypothesis import given, settings
from hypothesis import strategies as st
from sync_samples import MAPPING

from cosell.sync.core.mapping import SyncMapping
from cosell.sync.core.plan import Plan, PlanFacts, plan
from cosell.sync.core.records import Side, Value
from cosell.sync.core.stages import READ_ORDER, ROLE_OF_STATUS
from cosell.sync.core.transforms import project

MEMBER: dict[str, Value] = {"first_name": "A", "last_name": "B", "email": "a@x.example"}
OTHER: dict[str, Value] = {"first_name": "C", "email": "c@x.example"}
POOLS: dict[str, list[Value]] = {
    "text": ["alpha", "beta", "ProofOfConceptOrDemo", "GeneralOrOther"],
    "decimal": ["1.00", "2.50", "not a number"],
    "date": ["2027-01-31", "2027-02-28", "someday"],
    "currency": ["USD", "EUR"],
    "iso2_country": ["US", "DE", "Narnia"],
    "bool": [True, False],
    "list": [["SOL-1"], ["SOL-1", "SOL-2"]],
    "members": [[MEMBER], [MEMBER, OTHER]],
    "link": ["https://partner.microsoft.com/dashboard/v2/referrals/r1"],
}
PC_STAGES: list[Value] = list(ROLE_OF_STATUS)
CRM_STAGES: list[Value] = [status for _, status in READ_ORDER[:-1]]


def manual_everywhere(mapping: SyncMapping) -> SyncMapping:
    fields = {
        n: s.model_copy(update={"owner": "manual"}) if s.direction == "both" else s
        for n, s in mapping.fields.items()
    }
    return mapping.model_copy(update={"fields": fields})


MAPPINGS = [MAPPING, manual_everywhere(MAPPING)]


def pool(mapping: SyncMapping, name: str, side: Side | None) -> list[Value]:
    spec = mapping.fields[name]
    if spec.transform == "stage":
        return CRM_STAGES if side == "crm" else PC_STAGES
    return [None, *POOLS[spec.transform]]


@st.composite
def records(draw: Any, mapping: SyncMapping, side: Side | None) -> dict[str, Value]:
    return {name: draw(st.sampled_from(pool(mapping, name, side))) for name in mapping.fields}


facts = st.builds(
    PlanFacts,
    sync_enabled=st.booleans(),
    direction=st.sampled_from([None, "incoming", "outgoing"]),
    link_exists=st.just(True),
    pc_closed=st.booleans(),
    crm_on_hold=st.booleans(),
)


def writes(result: Plan) -> dict[str, Any]:
    return {"pc": result.to_partner_center, "crm": result.to_crm, "create": result.create}


NO_WRITES = {"pc": {}, "crm": {}, "create": None}


@settings(max_examples=300, deadline=None)
@given(data=st.data(), mapping=st.sampled_from(MAPPINGS), facts=facts)
def test_identical_records_plan_no_writes(
    data: Any, mapping: SyncMapping, facts: PlanFacts
) -> None:
    record = data.draw(records(mapping, None))
    assert writes(plan(record, record, record, mapping, facts)) == NO_WRITES


def applied(
    record: dict[str, Value], changes: dict[str, Value], side: Side, mapping: SyncMapping
) -> dict[str, Value]:
    """What ``side`` reads after we write ``changes`` there."""
    written = {n: project(mapping.fields[n], v, side, mapping) for n, v in changes.items()}
    return {**record, **written}


@settings(max_examples=500, deadline=None)
@given(data=st.data(), mapping=st.sampled_from(MAPPINGS), facts=facts)
def test_replanning_after_applying_a_plan_writes_nothing(
    data: Any, mapping: SyncMapping, facts: PlanFacts
) -> None:
    base = data.draw(records(mapping, None))
    pc = data.draw(records(mapping, "partner_center"))
    crm = data.draw(records(mapping, "crm"))
    first = plan(base, pc, crm, mapping, facts)
    pc_after = applied(pc, first.to_partner_center, "partner_center", mapping)
    crm_after = applied(crm, first.to_crm, "crm", mapping)
    second = plan(first.new_base, pc_after, crm_after, mapping, facts)
    assert writes(second) == NO_WRITES, (first, second)
