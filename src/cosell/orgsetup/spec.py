"""What cosell needs in a Salesforce org, as data: custom fields, one custom object, field
access, the standard fields the mapping syncs and the Opportunity stages its stage table names.

The mapping is the one source of truth: :func:`connector_spec_for` derives the spec from it
(every custom field it references, typed from its transform, plus the fields cosell itself owns,
named in its ``crm`` section). ``OrgNames`` holds the engine-owned API names, so a deployment
that already uses other names (or a namespace) changes configuration, not code.
"""

from __future__ import annotations

from pydantic import BaseModel, ConfigDict

from cosell.orgsetup.derive import mapped_fields, stage_specs, standard_fields
from cosell.orgsetup.fields import (
    DESCRIBE_TYPES,
    HELP_VALUES,
    FieldSpec,
    FieldType,
    ObjectSpec,
    StageSpec,
    StandardFieldSpec,
)
from cosell.sync.core.leads import LEAD_OBJECT
from cosell.sync.core.mapping import SyncMapping, default_mapping
from cosell.sync.core.names import OrgNames

__all__ = [
    "DESCRIBE_TYPES",
    "HELP_VALUES",
    "FieldSpec",
    "FieldType",
    "ObjectSpec",
    "OrgNames",
    "OrgSpec",
    "StageSpec",
    "StandardFieldSpec",
    "connector_spec",
    "connector_spec_for",
]


class OrgSpec(BaseModel):
    """Everything ``cosell setup salesforce`` creates or checks."""

    model_config = ConfigDict(frozen=True)

    objects: tuple[ObjectSpec, ...]
    fields: tuple[FieldSpec, ...]
    permission_set: str
    permission_set_label: str
    standard_fields: tuple[StandardFieldSpec, ...] = ()
    stages: tuple[StageSpec, ...] = ()
    stage_object: str = "Opportunity"


def connector_spec_for(mapping: SyncMapping) -> OrgSpec:
    """The schema ``mapping`` needs: its custom fields, cosell's own fields, its stages."""
    return connector_spec(OrgNames.from_mapping(mapping), mapping)


def connector_spec(names: OrgNames | None = None, mapping: SyncMapping | None = None) -> OrgSpec:
    """The schema for ``mapping`` (default: the shipped one) with the engine's fields named by
    ``names`` (default: the mapping's names)."""
    mapping = mapping or default_mapping()
    n = names or OrgNames.from_mapping(mapping)
    fields = (
        *_opportunity_fields(n),
        *mapped_fields(mapping),
        *_solution_fields(n),
        *_lead_fields(n, mapping),
    )
    unique = {f.full_name: f for f in reversed(fields)}  # the first definition of a name wins
    return OrgSpec(
        objects=(
            ObjectSpec(
                name=n.solution_object,
                label="Microsoft Solution",
                plural_label="Microsoft Solutions",
                name_field_label="Microsoft Solution Name",
            ),
        ),
        fields=tuple(f for f in fields if unique[f.full_name] is f),
        permission_set=n.permission_set,
        permission_set_label=n.permission_set_label,
        standard_fields=standard_fields(mapping),
        stages=stage_specs(mapping.stages),
        stage_object=n.opportunity,
    )


def _lead_fields(n: OrgNames, mapping: SyncMapping) -> tuple[FieldSpec, ...]:
    """The referral id on ``Lead``, when lead referrals are imported as CRM leads."""
    settings = mapping.partner_center
    if "lead" not in settings.incoming_kinds or settings.import_leads_as != "lead":
        return ()
    return (
        FieldSpec(
            sobject=LEAD_OBJECT,
            name=n.referral_id,
            label="Referral Identifier",
            type="Text",
            length=100,
            external_id=True,
            unique=True,
        ),
    )


def _opportunity_fields(n: OrgNames) -> tuple[FieldSpec, ...]:
    """The fields cosell itself owns on the opportunity (the mapping adds the synced ones)."""
    o = n.opportunity
    return (
        FieldSpec(
            sobject=o,
            name=n.sync_flag,
            label="Sync with Partner Center",
            type="Checkbox",
            default="false",
        ),
        FieldSpec(
            sobject=o,
            name=n.referral_id,
            label="Referral Identifier",
            type="Text",
            length=100,
            external_id=True,
            unique=True,
        ),
        FieldSpec(
            sobject=o,
            name=n.audit,
            label="Audit",
            type="LongTextArea",
            length=100_000,
            visible_lines=4,
        ),
        FieldSpec(
            sobject=o,
            name=n.sync_status,
            label="Co-sell Sync Status",
            type="Text",
            length=255,
        ),
        FieldSpec(
            sobject=o,
            name=n.sync_error,
            label="Co-sell Sync Error",
            type="LongTextArea",
            length=32_768,
            visible_lines=3,
        ),
    )


def _solution_fields(n: OrgNames) -> tuple[FieldSpec, ...]:
    s = n.solution_object
    return (
        FieldSpec(
            sobject=s,
            name=n.solution_opportunity,
            label="Opportunity",
            type="Lookup",
            reference_to=n.opportunity,
            relationship_name="Microsoft_Solutions",
        ),
        FieldSpec(sobject=s, name=n.solution_id, label="Solution Id", type="Text", length=100),
        FieldSpec(sobject=s, name=n.solution_name, label="Solution Name", type="Text", length=255),
    )
