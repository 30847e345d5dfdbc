"""What the org actually has, and the mapping fitted to it.

The shipped mapping names fields a given org may not have (a loss reason, the visibility flag,
the Microsoft CRM identifier). :func:`describe_org` asks the org once; mapped fields it lacks are
left out of the sync (and reported at start-up) instead of failing every reconcile. The status,
error and solution names come from the mapping's ``crm`` settings and ``cosell setup
salesforce``'s :class:`~cosell.sync.core.names.OrgNames`.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any

from cosell.clients.salesforce import SalesforceClient
from cosell.errors import NotFound
from cosell.sync.core.mapping import FieldSpec, SyncMapping
from cosell.sync.core.names import CrmNames, OrgNames
from cosell.sync.core.translate import SOLUTIONS_PATH

TEAM_LIST = "OpportunityTeam"
TEAM_OBJECT = "OpportunityTeamMember"


@dataclass(frozen=True)
class CrmSchema:
    """The fitted mapping plus the org's field names (from describe)."""

    mapping: SyncMapping
    names: CrmNames
    opportunity_fields: frozenset[str]
    account_fields: frozenset[str]
    has_solution_object: bool
    left_out: tuple[str, ...] = field(default=())
    """Mapped fields the org lacks, as ``name (CRM field)``."""
    has_team: bool = True
    """The org has opportunity teams (team selling enabled)."""
    children: Mapping[str, str] = field(default_factory=dict)
    """Child relationship names of the opportunity by child object (``OpportunityContactRole``
    → ``OpportunityContactRoles``, the solutions object → its ``__r`` name), from describe's
    ``childRelationships``: the FROM of the subqueries that read related rows with it."""
    checkboxes: frozenset[str] = frozenset()
    """Opportunity fields that hold true or false and never nothing (describe's ``boolean``,
    not nillable)."""

    def child(self, sobject: str, lookup: str) -> str | None:
        """The relationship name of ``sobject`` rows pointing at the opportunity by ``lookup``."""
        return self.children.get(f"{sobject}.{lookup}")

    @property
    def team_synced(self) -> bool:
        """The partner team is mapped and the org can hold it."""
        return any(s.crm == TEAM_LIST for s in self.mapping.fields.values())

    @property
    def read_fields(self) -> list[str]:
        """Opportunity columns to select: mapped fields plus the engine's own."""
        n = self.names
        own = [n.sync_flag_field, n.referral_id_field, n.status_field, n.error_field, n.audit_field]
        own.append(n.products_field)
        mapped = [s.crm for s in self.mapping.fields.values() if _is_opportunity_field(s)]
        wanted = [name for name in [*mapped, *own] if name]
        return [name for name in dict.fromkeys(wanted) if name in self.opportunity_fields]

    @property
    def unguarded_fields(self) -> frozenset[str]:
        """The opportunity fields only cosell writes and no person edits (sync status, sync
        error, audit), unless the mapping maps one: a write of these alone cannot overwrite
        anybody's edit, so it needs no ``If-Unmodified-Since`` guard."""
        n = self.names
        mapped = {s.crm for s in self.mapping.fields.values()}
        own = {n.status_field, n.error_field, n.audit_field} - {None}
        return frozenset(name for name in own if name and name not in mapped)

    @property
    def copied_fields(self) -> frozenset[str]:
        """Opportunity fields the mapping only ever writes from Partner Center (``direction:
        to_crm``, such as the referral id and link): their CRM value is never read as a
        change, so an edit of one is replaced by the next sync whatever this write does."""
        specs = [s for s in self.mapping.fields.values() if _is_opportunity_field(s)]
        both = {s.crm for s in specs if s.direction != "to_crm"}
        return frozenset(s.crm for s in specs if s.crm not in both)

    def needs_guard(self, fields: Mapping[str, Any], read: Mapping[str, Any]) -> bool:
        """Whether writing ``fields`` over the opportunity as ``read`` could overwrite an edit
        made since the read, so the write must carry ``If-Unmodified-Since``.

        A write cannot, field by field, when the field is cosell's own
        (:attr:`unguarded_fields`), a copy of Partner Center's value (:attr:`copied_fields`), or
        a checkbox being turned to the other of its two values: the only edit of it since the
        read can have been to the value written. A write only changes the fields it names, so
        edits of other fields stay whatever this write does."""
        free = self.unguarded_fields | self.copied_fields
        return any(
            name not in free and not self._flipped(name, value, read)
            for name, value in fields.items()
        )

    def _flipped(self, name: str, value: Any, read: Mapping[str, Any]) -> bool:
        was = read.get(name)
        return (
            name in self.checkboxes
            and isinstance(value, bool)
            and isinstance(was, bool)
            and (value is not was)
        )

    @property
    def account_fields_read(self) -> list[str]:
        mapped = [s.crm.removeprefix("Account.") for s in self.mapping.fields.values()]
        prefixed = [s.crm for s in self.mapping.fields.values()]
        return [m for m, p in zip(mapped, prefixed, strict=True) if p.startswith("Account.")]


def _is_opportunity_field(spec: FieldSpec) -> bool:
    return "." not in spec.crm and spec.crm not in {"Contacts", "OpportunityTeam", "Solutions"}


def describe_org(
    client: SalesforceClient, mapping: SyncMapping, org: OrgNames | None = None
) -> CrmSchema:
    """Describe the objects once and fit the mapping to the fields that exist."""
    org = org or OrgNames()
    described = client.describe(mapping.crm.object)
    opportunity = _field_names(described)
    account = _field_names(client.describe("Account"))
    solutions = _describe_or_none(client, org.solution_object)
    team = _describe_or_none(client, TEAM_OBJECT) is not None
    checkboxes = frozenset(
        str(f["name"])
        for f in described.get("fields") or ()
        if f.get("type") == "boolean" and f.get("nillable") is False
    )
    names = _names(mapping, org, opportunity, _field_names(solutions) if solutions else frozenset())
    return fit(
        mapping,
        names,
        opportunity,
        account,
        solutions is not None,
        has_team=team,
        children=_children(described),
        checkboxes=checkboxes,
    )


def fit(
    mapping: SyncMapping,
    names: CrmNames,
    opportunity: frozenset[str],
    account: frozenset[str],
    has_solution_object: bool,
    *,
    has_team: bool = True,
    children: Mapping[str, str] | None = None,
    checkboxes: frozenset[str] = frozenset(),
) -> CrmSchema:
    """The schema with ``mapping`` reduced to the fields the org has."""
    kept: dict[str, FieldSpec] = {}
    left_out: list[str] = []
    for name, spec in mapping.fields.items():
        if spec.crm == TEAM_LIST and not has_team:
            left_out.append(f"{name} ({spec.crm})")
        elif _present(spec, opportunity, account, has_solution_object):
            kept[name] = spec
        else:
            left_out.append(f"{name} ({spec.crm})")
    fitted = mapping.model_copy(update={"fields": kept})
    return CrmSchema(
        fitted,
        names,
        opportunity,
        account,
        has_solution_object,
        tuple(left_out),
        has_team,
        dict(children or {}),
        checkboxes & opportunity,
    )


def _present(
    spec: FieldSpec, opportunity: frozenset[str], account: frozenset[str], solutions: bool
) -> bool:
    if spec.crm in ("Contacts", "Id", TEAM_LIST):
        return True
    if spec.partner_center == SOLUTIONS_PATH and solutions:
        return True
    if spec.crm.startswith("Account."):
        return spec.crm.removeprefix("Account.") in account
    return spec.crm in opportunity


def _names(
    mapping: SyncMapping,
    org: OrgNames,
    opportunity: frozenset[str],
    solution_fields: frozenset[str] = frozenset(),
) -> CrmNames:
    crm = mapping.crm
    status = next((f for f in (crm.status_field, org.sync_status) if f in opportunity), None)
    products = next(
        (s.crm for s in mapping.fields.values() if s.partner_center == SOLUTIONS_PATH), None
    )
    return CrmNames(
        sync_flag_field=crm.sync_flag_field,
        referral_id_field=mapping.referral_id_field,
        status_field=status,
        error_field=org.sync_error if org.sync_error in opportunity else None,
        audit_field=crm.audit_field if crm.audit_field in opportunity else None,
        products_field=products if products in opportunity else None,
        solution_object=org.solution_object,
        solution_opportunity_field=org.solution_opportunity,
        solution_id_field=crm.solution_id_field,
        solution_name_field=(
            crm.solution_name_field if crm.solution_name_field in solution_fields else None
        ),
        contact_role=crm.contact_role or None,
    )


def _field_names(described: dict[str, Any]) -> frozenset[str]:
    return frozenset(str(f["name"]) for f in described.get("fields") or ())


def _children(described: Mapping[str, Any]) -> dict[str, str]:
    """``Child.Lookup`` → relationship name, for every named child relationship."""
    found: dict[str, str] = {}
    for rel in described.get("childRelationships") or ():
        name, child, lookup = rel.get("relationshipName"), rel.get("childSObject"), rel.get("field")
        if name and child and lookup:
            found[f"{child}.{lookup}"] = str(name)
    return found


def _describe_or_none(client: SalesforceClient, sobject: str) -> dict[str, Any] | None:
    try:
        return client.describe(sobject)
    except NotFound:
        return None
