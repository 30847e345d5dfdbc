"""The field mapping: which Partner Center path syncs with which CRM field, and how.

A mapping is data (a YAML file), validated once at start-up. :func:`load_mapping` reads a file,
:func:`default_mapping` the one shipped with cosell, which mirrors Microsoft's co-sell connector.
Mistakes raise :class:`MappingError` (a :class:`~cosell.errors.ConfigError`) naming the file,
line and key, e.g. ``mapping.yaml:23 fields.deal_value.transform: unknown transform 'decimel'``.
"""

from __future__ import annotations

import re
from functools import cache
from importlib import resources
from pathlib import Path
from typing import Any, Literal

from pydantic import BaseModel, ConfigDict, Field, ValidationError, field_validator, model_validator

from cosell.sync.core.mapping_errors import MappingError, Problem, locate, problems_from_pydantic
from cosell.sync.core.mapping_yaml import parse_yaml

Direction = Literal["both", "to_crm", "to_partner_center", "on_create"]
Owner = Literal["partner_center", "crm", "manual"]
TransformName = Literal[
    "text",
    "decimal",
    "date",
    "currency",
    "iso2_country",
    "bool",
    "list",
    "members",
    "stage",
    "link",
]
ReferralKind = Literal["co_sell", "lead"]

PC_READ_ONLY = frozenset(
    {"id", "engagementId", "direction", "createdDateTime", "updatedDateTime", "closedDateTime"}
    | {"eTag", "links", "trackingInfo", "acceptedDateTime", "expirationDateTime"}
)
"""Top-level referral properties cosell never writes."""

_PC_PATH = re.compile(r"^[A-Za-z][A-Za-z0-9]*(\[\])?(\.[A-Za-z][A-Za-z0-9]*(\[\])?)*$")
_CRM_PATH = re.compile(r"^[A-Za-z][A-Za-z0-9_]*(\.[A-Za-z][A-Za-z0-9_]*)?$")
_FIELD_NAME = re.compile(r"^[a-z][a-z0-9_]*$")
CRM_RELATED_LISTS = frozenset({"Contacts", "OpportunityTeam", "Solutions"})
"""CRM paths that name a related list rather than an opportunity field."""


_CO_SELL_ONLY: tuple[ReferralKind, ...] = ("co_sell",)


class _Strict(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)


class FieldSpec(_Strict):
    """One synced field: both paths, flow direction, conflict owner, transform and value map."""

    partner_center: str
    crm: str
    direction: Direction = "both"
    owner: Owner = "partner_center"
    transform: TransformName = "text"
    max_length: int | None = Field(default=None, gt=0)
    values: dict[str, str] | None = None
    """Partner Center value → CRM label (e.g. assistance codes ↔ picklist labels)."""
    default: Any = None
    irreversible: bool = False
    """A ``true`` value may never be changed back to ``false`` (visibility once shared)."""
    hold: bool = True
    """While the opportunity is on hold, keep CRM edits of this field until it is accepted."""

    @field_validator("partner_center")
    @classmethod
    def _pc_path(cls, value: str) -> str:
        if not _PC_PATH.match(value):
            raise ValueError(f"not a Partner Center path like 'details.dealValue': {value!r}")
        return value

    @field_validator("crm")
    @classmethod
    def _crm_path(cls, value: str) -> str:
        if not _CRM_PATH.match(value):
            raise ValueError(
                f"not a CRM field like 'Amount' or 'Account.BillingCountry': {value!r}"
            )
        return value

    def flows_to(self, side: Literal["partner_center", "crm"]) -> bool:
        """Whether updates of this field may be written to ``side`` after create.

        ``on_create`` fields travel with a create either way, then only Partner Center → CRM
        (Partner Center refuses them in a PATCH).
        """
        if self.direction == "on_create":
            return side == "crm"
        return self.direction == "both" or self.direction == f"to_{side}"

    def on_create_to(self, side: Literal["partner_center", "crm"]) -> bool:
        """Whether a create on ``side`` carries this field."""
        return self.flows_to(side) or self.direction == "on_create"


class CrmSettings(_Strict):
    """Per-deployment CRM names of the fields cosell itself owns (every one configurable).

    ``cosell setup salesforce`` creates these alongside the mapped fields; older mapping files
    without the newer keys get the defaults.
    """

    object: str = "Opportunity"
    sync_flag_field: str = "Sync_with_Partner_Center__c"
    status_field: str = "Co_sell_Sync_Status__c"
    """A one-line ✔ / ✖ summary of the last sync, for sellers."""
    error_field: str = "Co_sell_Sync_Error__c"
    """Why the last sync of the record failed or was refused (empty when it succeeded)."""
    audit_field: str = "Audit__c"
    solution_object: str = "Microsoft_Solution__c"
    """The custom object behind the Microsoft Solutions related list."""
    solution_opportunity_field: str = "Opportunity__c"
    """The lookup from a solution row to its opportunity."""
    solution_id_field: str = "Solution_Id__c"
    """The id column of a row in the Microsoft Solutions related list."""
    solution_name_field: str = "Solution_Name__c"
    contact_role: str | None = "Business User"
    """The ``Role`` of the contact roles cosell adds from the referral's customer contacts
    (a value of the org's ``OpportunityContactRole.Role`` picklist; empty: none)."""
    name_marker: bool = False
    """Also append ✔ / ✖ to the opportunity name, as Microsoft's connector does (opt-in; the
    marker is never sent to Partner Center as part of the name)."""


class PartnerCenterSettings(_Strict):
    """Per-deployment Partner Center behaviour."""

    link_url_template: str = "https://partner.microsoft.com/dashboard/v2/referrals/{id}"
    incoming_kinds: list[ReferralKind] = Field(default_factory=lambda: list(_CO_SELL_ONLY))
    """Which incoming referral kinds are imported (``lead``: leads too)."""
    import_leads_as: Literal["opportunity", "lead"] = "opportunity"
    """With ``lead`` in ``incoming_kinds``: a lead becomes an opportunity (synced both ways like
    a co-sell referral) or a Salesforce ``Lead`` (created once, then the seller's to qualify)."""
    max_contacts: int = Field(default=100, ge=1, le=10_000)
    """The most customer contacts of one referral that sync (the first ones in the members'
    order, by email); the rest stay in Partner Center, listed on the record and in the audit."""

    @field_validator("link_url_template")
    @classmethod
    def _template(cls, value: str) -> str:
        if "{id}" not in value or not value.startswith("https://"):
            raise ValueError("must be an https:// URL containing '{id}'")
        return value


class StageSettings(_Strict):
    """Which CRM stage stands for each Partner Center status (the stage table)."""

    on_hold: str = "On Hold"
    active: str = "Qualification"
    declined: str = "Declined"
    won: str = "Closed Won"
    lost: str = "Closed Lost"
    expired: str = "Closed Lost"
    open: list[str] = Field(default_factory=list)
    """Further open CRM stages; they all mean Active/Accepted."""

    @model_validator(mode="after")
    def _distinct(self) -> StageSettings:
        # Expired may share a stage with lost or declined; the others must be told apart.
        names = [self.on_hold, self.active, self.declined, self.won, self.lost]
        if len({n.casefold() for n in names}) != len(names):
            raise ValueError("on_hold, active, declined, won and lost must be different stages")
        if self.expired.casefold() in {self.on_hold.casefold(), self.active.casefold()}:
            raise ValueError("expired must be a closed stage")
        return self


class SyncMapping(_Strict):
    """A validated mapping: settings plus fields keyed by canonical field name."""

    version: Literal[1] = 1
    crm: CrmSettings = Field(default_factory=CrmSettings)
    partner_center: PartnerCenterSettings = Field(default_factory=PartnerCenterSettings)
    stages: StageSettings = Field(default_factory=StageSettings)
    fields: dict[str, FieldSpec]

    def field_for_pc(self, path: str) -> str | None:
        """The name of the field mapped to a Partner Center path, if any."""
        return next((n for n, s in self.fields.items() if s.partner_center == path), None)

    def stage_field(self) -> str | None:
        """The name of the field with the ``stage`` transform, if any."""
        return next((n for n, s in self.fields.items() if s.transform == "stage"), None)

    @property
    def referral_id_field(self) -> str:
        """The CRM external-id field holding the referral id (creates upsert by it)."""
        return next(s.crm for s in self.fields.values() if _is_referral_id(s))

    @property
    def pairing_fields(self) -> frozenset[str]:
        """Fields that hold a side's own record id on the other side (the referral id in the
        CRM, the opportunity id as ``externalReferenceId``): their first value is the pairing
        itself, which the create's audit line already tells."""
        ids = {"id", "externalReferenceId"}
        return frozenset(n for n, s in self.fields.items() if s.partner_center in ids)

    @property
    def referral_link_field(self) -> str | None:
        """The CRM field holding the portal link to the referral, if mapped."""
        return next((s.crm for s in self.fields.values() if s.transform == "link"), None)


def _is_referral_id(spec: FieldSpec) -> bool:
    return spec.partner_center == "id" and spec.transform == "text"


def load_mapping(path: Path | str) -> SyncMapping:
    """Read and validate a mapping file; raise :class:`MappingError` naming line and key."""
    path = Path(path)
    try:
        text = path.read_text(encoding="utf-8")
    except OSError as exc:
        raise MappingError([Problem(path.name, None, "", f"cannot read: {exc.strerror}")]) from exc
    return parse_mapping(text, path.name)


def parse_mapping(text: str, source: str = "mapping.yaml") -> SyncMapping:
    """Validate mapping YAML text; ``source`` names it in error messages."""
    document = parse_yaml(text, source)
    try:
        mapping = SyncMapping.model_validate(document)
    except ValidationError as exc:
        raise MappingError(problems_from_pydantic(exc, document, source)) from None
    problems = [locate(document, source, loc, msg) for loc, msg in semantic_problems(mapping)]
    if problems:
        raise MappingError(problems)
    return mapping


@cache
def default_mapping() -> SyncMapping:
    """The mapping shipped with cosell (mirrors Microsoft's co-sell connector)."""
    return parse_mapping(default_mapping_text(), "default_mapping.yaml")


def default_mapping_text() -> str:
    """The YAML text of the shipped mapping (a starting point for users' own files)."""
    return (resources.files("cosell.sync.core") / "default_mapping.yaml").read_text(
        encoding="utf-8"
    )


Loc = tuple[str | int, ...]


def semantic_problems(mapping: SyncMapping) -> list[tuple[Loc, str]]:
    """Rules that span keys (pydantic checks each key alone)."""
    found: list[tuple[Loc, str]] = []
    for name, spec in mapping.fields.items():
        found += [(("fields", name, *loc), msg) for loc, msg in _field_problems(name, spec)]
    found += _duplicate_targets(mapping)
    if not any(_is_referral_id(s) for s in mapping.fields.values()):
        found.append(
            (("fields",), "no field maps Partner Center 'id' (the referral id) to the CRM")
        )
    stage_fields = [n for n, s in mapping.fields.items() if s.transform == "stage"]
    found += [
        (("fields", n, "transform"), "only one field may use 'stage'") for n in stage_fields[1:]
    ]
    return found


def _field_problems(name: str, spec: FieldSpec) -> list[tuple[Loc, str]]:
    found: list[tuple[Loc, str]] = []
    if not _FIELD_NAME.match(name):
        found.append(((), "field names are lower_snake_case"))
    if spec.max_length is not None and spec.transform != "text":
        found.append((("max_length",), "applies only to transform 'text'"))
    if spec.values is not None and spec.transform != "text":
        found.append((("values",), "value maps apply only to transform 'text'"))
    if spec.values is not None and len(set(spec.values.values())) != len(spec.values):
        found.append((("values",), "two Partner Center values map to the same CRM label"))
    found += _path_problems(spec)
    return found


_TRANSFORM_PC_PATH = {"stage": "status", "link": "id"}


def _path_problems(spec: FieldSpec) -> list[tuple[Loc, str]]:
    found: list[tuple[Loc, str]] = []
    fixed = _TRANSFORM_PC_PATH.get(spec.transform)
    if fixed and spec.partner_center != fixed:
        found.append((("partner_center",), f"transform '{spec.transform}' reads '{fixed}'"))
    top = spec.partner_center.split(".")[0].removesuffix("[]")
    if top in PC_READ_ONLY and spec.direction != "to_crm":
        found.append((("direction",), f"Partner Center '{top}' is read-only; use 'to_crm'"))
    head = spec.crm.split(".")[0]
    if "." in spec.crm and head != "Account":
        found.append((("crm",), f"related object {head!r} unsupported (only 'Account.<Field>')"))
    is_list = spec.crm in CRM_RELATED_LISTS
    if spec.transform == "members" and spec.crm not in {"Contacts", "OpportunityTeam"}:
        found.append((("crm",), "transform 'members' syncs 'Contacts' or 'OpportunityTeam'"))
    if is_list and spec.transform not in {"members", "list"}:
        found.append((("transform",), f"{spec.crm!r} is a related list: use 'members' or 'list'"))
    return found


def _duplicate_targets(mapping: SyncMapping) -> list[tuple[Loc, str]]:
    seen: dict[str, str] = {}
    found: list[tuple[Loc, str]] = []
    for name, spec in mapping.fields.items():
        if not spec.on_create_to("crm"):
            continue
        if spec.crm in seen:
            found.append(
                (("fields", name, "crm"), f"{spec.crm!r} is already written by {seen[spec.crm]!r}")
            )
        seen.setdefault(spec.crm, name)
    return found
