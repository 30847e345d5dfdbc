"""The sync core: mapping, translation and the pure three-way planner.

The engine reads both sides, translates them to canonical records, calls :func:`plan`, writes
what the plan says (via the translate functions) and stores ``Plan.new_base``.
"""

from cosell.sync.core.mapping import FieldSpec, SyncMapping, default_mapping, load_mapping
from cosell.sync.core.mapping_errors import MappingError
from cosell.sync.core.plan import Decision, FieldConflict, Plan, PlanFacts, Skip, plan
from cosell.sync.core.records import CanonicalRecord, CreateContext, CrmRelated, CrmWrite, Value
from cosell.sync.core.translate import (
    from_crm,
    from_partner_center,
    referral_kind,
    to_crm_create,
    to_crm_fields,
    to_partner_center_create,
    to_partner_center_ops,
)
from cosell.sync.core.validation import Problem, check_cosell_ready

__all__ = [
    "CanonicalRecord",
    "CreateContext",
    "CrmRelated",
    "CrmWrite",
    "Decision",
    "FieldConflict",
    "FieldSpec",
    "MappingError",
    "Plan",
    "PlanFacts",
    "Problem",
    "Skip",
    "SyncMapping",
    "Value",
    "check_cosell_ready",
    "default_mapping",
    "from_crm",
    "from_partner_center",
    "load_mapping",
    "plan",
    "referral_kind",
    "to_crm_create",
    "to_crm_fields",
    "to_partner_center_create",
    "to_partner_center_ops",
]
