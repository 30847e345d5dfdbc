"""The parts of an org spec: custom fields and objects to create, standard fields and
Opportunity stages to check, each as data with the Tooling API body it needs."""

from __future__ import annotations

from typing import Any, Literal

from pydantic import BaseModel, ConfigDict

Access = Literal["read", "edit"]
FieldType = Literal[
    "Checkbox", "Text", "Url", "Picklist", "LongTextArea", "Lookup", "Date", "Currency"
]

# How each Metadata API type shows up in describe (``fields[].type``).
DESCRIBE_TYPES: dict[FieldType, str] = {
    "Checkbox": "boolean",
    "Text": "string",
    "Url": "url",
    "Picklist": "picklist",
    "LongTextArea": "textarea",
    "Lookup": "reference",
    "Date": "date",
    "Currency": "currency",
}

OBJECT_PERMISSIONS = (
    "PermissionsRead",
    "PermissionsCreate",
    "PermissionsEdit",
    "PermissionsDelete",
)

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
    precision: int | None = None
    scale: int | None = None
    reference_to: str | None = None
    relationship_name: str | None = None
    description: str = ""
    access: Access = "edit"
    """What the integration user needs: ``read`` for fields cosell only reads."""

    @property
    def full_name(self) -> str:
        return f"{self.sobject}.{self.name}"

    @property
    def permissions(self) -> dict[str, bool]:
        """The ``FieldPermissions`` flags this field needs."""
        return {"PermissionsRead": True, "PermissionsEdit": self.access == "edit"}

    @property
    def describe_type(self) -> str:
        return DESCRIBE_TYPES[self.type]

    def metadata(self) -> dict[str, Any]:
        meta: dict[str, Any] = {"label": self.label, "type": self.type}
        optional = {
            "length": self.length,
            "defaultValue": self.default,
            "visibleLines": self.visible_lines,
            "precision": self.precision,
            "scale": self.scale,
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

    @property
    def permissions(self) -> dict[str, bool]:
        """The ``ObjectPermissions`` flags cosell needs: it reads, creates, edits and deletes
        solution rows (no view-all or modify-all: sharing stays the org's)."""
        return dict.fromkeys(OBJECT_PERMISSIONS, True)

    def metadata(self) -> dict[str, Any]:
        return {
            "label": self.label,
            "pluralLabel": self.plural_label,
            "nameField": {"label": self.name_field_label, "type": "Text"},
            "deploymentStatus": "Deployed",
            "sharingModel": "ReadWrite",
        }


ForecastCategory = Literal["Omitted", "Pipeline", "BestCase", "Forecast", "Closed"]


class StageSpec(BaseModel):
    """An Opportunity stage the mapping names; ``value()`` is its ``standardValue`` entry in the
    ``OpportunityStage`` standard value set."""

    model_config = ConfigDict(frozen=True)

    name: str
    closed: bool = False
    won: bool = False
    probability: int = 10
    forecast_category: ForecastCategory = "Pipeline"

    def value(self) -> dict[str, Any]:
        return {
            "fullName": self.name,
            "label": self.name,
            "default": False,
            "closed": self.closed,
            "won": self.won,
            "probability": self.probability,
            "forecastCategory": self.forecast_category,
        }

    @property
    def expected(self) -> str:
        if self.won:
            return "closed, won"
        return "closed, not won" if self.closed else f"open, {self.probability}%"


class StandardFieldSpec(BaseModel):
    """A standard field the mapping syncs: only checked to exist (it cannot be created)."""

    model_config = ConfigDict(frozen=True)

    sobject: str
    name: str
    optional_because: str = ""
    """Why the sync can do without it (then its absence is reported, not an error)."""

    @property
    def full_name(self) -> str:
        return f"{self.sobject}.{self.name}"
