"""What cosell needs in a Salesforce org, as data: custom fields, one custom object, field access.

``OrgNames`` holds every API name, so a deployment that already uses other names (or a
namespace) changes configuration, not code. ``connector_spec(names)`` turns them into the
declarative ``OrgSpec`` that ``cosell.orgsetup.salesforce`` compares with the org.
"""

from __future__ import annotations

from typing import Any, Literal

from pydantic import BaseModel, ConfigDict

FieldType = Literal["Checkbox", "Text", "Url", "Picklist", "LongTextArea", "Lookup"]

# How each Metadata API type shows up in describe (``fields[].type``).
DESCRIBE_TYPES: dict[FieldType, str] = {
    "Checkbox": "boolean",
    "Text": "string",
    "Url": "url",
    "Picklist": "picklist",
    "LongTextArea": "textarea",
    "Lookup": "reference",
}

HELP_VALUES = (
    "Workload specific value proposition",
    "Customer technical architecture",
    "Proof of concept or demo",
    "Quotes or licensing",
    "Post sales customer success",
    "General or other",
)


class FieldSpec(BaseModel):
    """One custom field; ``metadata()`` is the Tooling API ``Metadata`` body."""

    model_config = ConfigDict(frozen=True)

    sobject: str
    name: str
    label: str
    type: FieldType
    length: int | None = None
    external_id: bool = False
    unique: bool = False
    default: str | None = None
    values: tuple[str, ...] = ()
    visible_lines: int | None = None
    reference_to: str | None = None
    relationship_name: str | None = None
    description: str = ""

    @property
    def full_name(self) -> str:
        return f"{self.sobject}.{self.name}"

    @property
    def describe_type(self) -> str:
        return DESCRIBE_TYPES[self.type]

    def metadata(self) -> dict[str, Any]:
        meta: dict[str, Any] = {"label": self.label, "type": self.type}
        optional = {
            "length": self.length,
            "defaultValue": self.default,
            "visibleLines": self.visible_lines,
            "referenceTo": self.reference_to,
            "relationshipName": self.relationship_name,
            "description": self.description or None,
        }
        meta |= {k: v for k, v in optional.items() if v is not None}
        if self.external_id or self.unique:
            meta |= {"externalId": self.external_id, "unique": self.unique, "caseSensitive": False}
        if self.type == "Lookup":
            meta["deleteConstraint"] = "SetNull"
        if self.values:
            meta["valueSet"] = _value_set(self.values)
        return meta


def _value_set(values: tuple[str, ...]) -> dict[str, Any]:
    entries = [{"fullName": v, "label": v, "default": False} for v in values]
    return {"restricted": True, "valueSetDefinition": {"sorted": False, "value": entries}}


class ObjectSpec(BaseModel):
    """A custom object; its fields are listed separately in ``OrgSpec.fields``."""

    model_config = ConfigDict(frozen=True)

    name: str
    label: str
    plural_label: str
    name_field_label: str

    def metadata(self) -> dict[str, Any]:
        return {
            "label": self.label,
            "pluralLabel": self.plural_label,
            "nameField": {"label": self.name_field_label, "type": "Text"},
            "deploymentStatus": "Deployed",
            "sharingModel": "ReadWrite",
        }


class OrgSpec(BaseModel):
    """Everything ``cosell setup salesforce`` creates or checks."""

    model_config = ConfigDict(frozen=True)

    objects: tuple[ObjectSpec, ...]
    fields: tuple[FieldSpec, ...]
    permission_set: str
    permission_set_label: str


class OrgNames(BaseModel):
    """API names cosell uses in the org (configurable; defaults follow Microsoft's connector)."""

    model_config = ConfigDict(frozen=True)

    opportunity: str = "Opportunity"
    sync_flag: str = "Sync_with_Partner_Center__c"
    referral_id: str = "Referral_Identifier__c"
    referral_link: str = "Referral_Link__c"
    help_code: str = "How_can_Microsoft_help__c"
    products: str = "Products__c"
    audit: str = "Audit__c"
    sync_status: str = "Co_sell_Sync_Status__c"
    sync_error: str = "Co_sell_Sync_Error__c"
    solution_object: str = "Microsoft_Solution__c"
    solution_opportunity: str = "Opportunity__c"
    solution_id: str = "Solution_Id__c"
    solution_name: str = "Solution_Name__c"
    permission_set: str = "cosell_Integration"
    permission_set_label: str = "cosell Integration"


def connector_spec(names: OrgNames | None = None) -> OrgSpec:
    """The default schema: Microsoft's connector fields plus cosell's status fields."""
    n = names or OrgNames()
    return OrgSpec(
        objects=(
            ObjectSpec(
                name=n.solution_object,
                label="Microsoft Solution",
                plural_label="Microsoft Solutions",
                name_field_label="Microsoft Solution Name",
            ),
        ),
        fields=(*_opportunity_fields(n), *_solution_fields(n)),
        permission_set=n.permission_set,
        permission_set_label=n.permission_set_label,
    )


def _opportunity_fields(n: OrgNames) -> tuple[FieldSpec, ...]:
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
        FieldSpec(sobject=o, name=n.referral_link, label="Referral Link", type="Url"),
        FieldSpec(
            sobject=o,
            name=n.help_code,
            label="How can Microsoft help?",
            type="Picklist",
            values=HELP_VALUES,
        ),
        FieldSpec(sobject=o, name=n.products, label="Products", type="Text", length=255),
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
