"""The standard objects the emulated org starts with, and the builders for custom ones."""

from __future__ import annotations

from dataclasses import dataclass, replace

from cosell.emulators.salesforce.permissions import OBJECT_FLAGS
from cosell.emulators.salesforce.schema import FieldDef, ObjectDef


@dataclass(frozen=True)
class Stage:
    """An Opportunity stage with Salesforce's default probability and closed/won flags."""

    name: str
    probability: int
    closed: bool = False
    won: bool = False
    forecast_category: str = ""
    """Pipeline, BestCase, Forecast, Closed or Omitted; empty: derived from closed/won."""

    @property
    def forecast(self) -> str:
        if self.forecast_category:
            return self.forecast_category
        return "Closed" if self.won else "Omitted" if self.closed else "Pipeline"


STAGES = (
    Stage("Prospecting", 10),
    Stage("Qualification", 10),
    Stage("Needs Analysis", 20),
    Stage("Value Proposition", 50),
    Stage("Id. Decision Makers", 60),
    Stage("Perception Analysis", 70),
    Stage("Proposal/Price Quote", 75),
    Stage("Negotiation/Review", 90),
    Stage("Closed Won", 100, closed=True, won=True),
    Stage("Closed Lost", 0, closed=True),
)
STAGE_BY_NAME = {s.name: s for s in STAGES}


def system_fields(owner: bool = True) -> list[FieldDef]:
    """Id, audit fields and (optionally) OwnerId: present on every object."""
    fields = [
        FieldDef("Id", "id", "Record ID", 18, nillable=False, createable=False, updateable=False),
        _readonly("IsDeleted", "boolean", "Deleted", nillable=False),
        _readonly("CreatedDate", "datetime", "Created Date", nillable=False),
        _user_ref("CreatedById", "CreatedBy", "Created By ID", writable=False),
        _readonly("LastModifiedDate", "datetime", "Last Modified Date", nillable=False),
        _user_ref("LastModifiedById", "LastModifiedBy", "Last Modified By ID", writable=False),
        _readonly("SystemModstamp", "datetime", "System Modstamp", nillable=False),
    ]
    if owner:
        fields.append(_user_ref("OwnerId", "Owner", "Owner ID", writable=True))
    return fields


def _readonly(name: str, type_: str, label: str, nillable: bool = True) -> FieldDef:
    return FieldDef(name, type_, label, nillable=nillable, createable=False, updateable=False)


def _user_ref(name: str, rel: str, label: str, writable: bool) -> FieldDef:
    return FieldDef(
        name,
        "reference",
        label,
        18,
        nillable=False,
        createable=writable,
        updateable=writable,
        default="$user" if writable else None,
        reference_to=["User"],
        relationship_name=rel,
    )


def text(name: str, length: int, label: str = "", *, required: bool = False) -> FieldDef:
    return FieldDef(name, "string", label or name, length, nillable=not required)


def ref(
    name: str, target: str, rel: str, *, required: bool = False, child: str | None = None
) -> FieldDef:
    """A lookup to `target`; `child` names the relationship seen from the parent (describe's
    ``childRelationships``, the FROM of a subquery)."""
    return FieldDef(
        name,
        "reference",
        name,
        18,
        nillable=not required,
        reference_to=[target],
        relationship_name=rel,
        child_relationship=child,
    )


def picklist(
    name: str, values: list[str], *, restricted: bool = False, required: bool = False
) -> FieldDef:
    return FieldDef(
        name, "picklist", name, 255, nillable=not required, picklist=values, restricted=restricted
    )


def _make(name: str, prefix: str, fields: list[FieldDef], *, owner: bool = True) -> ObjectDef:
    obj = ObjectDef(name, name, prefix)
    for f in [*system_fields(owner), *fields]:
        obj.add(f)
    return obj


def opportunity(multi_currency: bool, currencies: tuple[str, ...], corporate: str) -> ObjectDef:
    fields = [
        text("Name", 120, "Name", required=True),
        ref("AccountId", "Account", "Account", child="Opportunities"),
        FieldDef("Amount", "currency", "Amount", precision=18, scale=2),
        FieldDef("CloseDate", "date", "Close Date", nillable=False),
        picklist("StageName", [s.name for s in STAGES], restricted=True, required=True),
        _readonly("IsWon", "boolean", "Won", nillable=False),
        _readonly("IsClosed", "boolean", "Closed", nillable=False),
        FieldDef("Probability", "percent", "Probability (%)", precision=3),
        FieldDef("Description", "textarea", "Description", 32000),
        picklist("Type", ["Existing Customer - Upgrade", "New Customer"]),
        picklist("LeadSource", ["Web", "Phone Inquiry", "Partner Referral", "Other"]),
        text("NextStep", 255, "Next Step"),
    ]
    if multi_currency:
        fields.append(_currency(currencies, corporate))
    return _make("Opportunity", "006", fields)


def _currency(currencies: tuple[str, ...], corporate: str) -> FieldDef:
    return FieldDef(
        "CurrencyIsoCode",
        "picklist",
        "Opportunity Currency",
        3,
        nillable=False,
        picklist=list(currencies),
        restricted=True,
        default=corporate,
    )


def account(multi_currency: bool, currencies: tuple[str, ...], corporate: str) -> ObjectDef:
    fields = [
        text("Name", 255, "Account Name", required=True),
        FieldDef("BillingStreet", "textarea", "Billing Street", 255),
        text("BillingCity", 40, "Billing City"),
        text("BillingState", 80, "Billing State/Province"),
        text("BillingPostalCode", 20, "Billing Zip/Postal Code"),
        text("BillingCountry", 80, "Billing Country"),
        FieldDef("Website", "url", "Website", 255),
        FieldDef("Phone", "phone", "Account Phone", 40),
        picklist("Industry", ["Technology", "Finance", "Healthcare", "Retail", "Other"]),
        FieldDef("Description", "textarea", "Account Description", 32000),
        text("DunsNumber", 9, "D-U-N-S Number"),
    ]
    if multi_currency:
        fields.append(_currency(currencies, corporate))
    return _make("Account", "001", fields)


def contact() -> ObjectDef:
    return _make(
        "Contact",
        "003",
        [
            text("FirstName", 40, "First Name"),
            text("LastName", 80, "Last Name", required=True),
            _readonly("Name", "string", "Full Name"),
            FieldDef("Email", "email", "Email", 80),
            FieldDef("Phone", "phone", "Business Phone", 40),
            text("Title", 128, "Title"),
            ref("AccountId", "Account", "Account", child="Contacts"),
        ],
    )


def lead() -> ObjectDef:
    statuses = ["Open - Not Contacted", "Working - Contacted", "Closed - Converted"]
    status = picklist("Status", [*statuses, "Closed - Not Converted"], required=True)
    status = replace(status, default=statuses[0])
    return _make(
        "Lead",
        "00Q",
        [
            text("FirstName", 40, "First Name"),
            text("LastName", 80, "Last Name", required=True),
            _readonly("Name", "string", "Full Name"),
            text("Company", 255, "Company", required=True),
            text("Title", 128, "Title"),
            FieldDef("Email", "email", "Email", 80),
            FieldDef("Phone", "phone", "Phone", 40),
            status,
            picklist("LeadSource", ["Web", "Phone Inquiry", "Partner Referral", "Other"]),
            FieldDef("Description", "textarea", "Description", 32000),
            FieldDef("Street", "textarea", "Street", 255),
            text("City", 40, "City"),
            text("State", 80, "State/Province"),
            text("PostalCode", 20, "Zip/Postal Code"),
            text("Country", 80, "Country"),
        ],
    )


def contact_role() -> ObjectDef:
    roles = ["Business User", "Decision Maker", "Economic Buyer", "Technical Buyer", "Other"]
    return _make(
        "OpportunityContactRole",
        "00K",
        [
            ref(
                "OpportunityId",
                "Opportunity",
                "Opportunity",
                required=True,
                child="OpportunityContactRoles",
            ),
            ref("ContactId", "Contact", "Contact", required=True, child="OpportunityContactRoles"),
            picklist("Role", roles),
            FieldDef("IsPrimary", "boolean", "Primary", nillable=False, default=False),
        ],
        owner=False,
    )


def team_member() -> ObjectDef:
    roles = ["Account Manager", "Sales Manager", "Sales Rep", "Pre-Sales Consultant", "Other"]
    return _make(
        "OpportunityTeamMember",
        "00q",
        [
            ref(
                "OpportunityId",
                "Opportunity",
                "Opportunity",
                required=True,
                child="OpportunityTeamMembers",
            ),
            ref("UserId", "User", "User", required=True),
            picklist("TeamMemberRole", roles),
            picklist("OpportunityAccessLevel", ["Read", "Edit"]),
        ],
        owner=False,
    )


def user() -> ObjectDef:
    obj = _make(
        "User",
        "005",
        [
            text("Username", 80, "Username", required=True),
            text("FirstName", 40, "First Name"),
            text("LastName", 80, "Last Name", required=True),
            text("Name", 121, "Full Name"),
            FieldDef("Email", "email", "Email", 128, nillable=False),
            text("Alias", 8, "Alias"),
            FieldDef("IsActive", "boolean", "Active", nillable=False, default=True),
        ],
        owner=False,
    )
    obj.createable = False
    for f in obj.fields.values():
        f.createable = f.updateable = False
    return obj


def note() -> ObjectDef:
    parent = ref("ParentId", "Opportunity", "Parent", required=True, child="Notes")
    parent.reference_to = ["Opportunity", "Account", "Contact"]
    return _make(
        "Note",
        "002",
        [
            parent,
            text("Title", 80, "Title", required=True),
            FieldDef("Body", "textarea", "Body", 32000),
            FieldDef("IsPrivate", "boolean", "Private", nillable=False, default=False),
        ],
    )


def permission_objects() -> list[ObjectDef]:
    """PermissionSet, ObjectPermissions, FieldPermissions and PermissionSetAssignment."""
    name = text("Name", 80, "Name", required=True)
    name.unique = True
    pset = _make(
        "PermissionSet", "0PS", [name, text("Label", 80, "Label", required=True)], owner=False
    )
    objects = _make(
        "ObjectPermissions",
        "110",
        [
            ref("ParentId", "PermissionSet", "Parent", required=True, child="ObjectPerms"),
            text("SobjectType", 40, "SObject Type Name", required=True),
            *(_flag(n, n.removeprefix("Permissions")) for n in OBJECT_FLAGS),
        ],
        owner=False,
    )
    fields = _make(
        "FieldPermissions",
        "01k",
        [
            ref("ParentId", "PermissionSet", "Parent", required=True, child="FieldPerms"),
            text("SobjectType", 40, "SObject Type Name", required=True),
            text("Field", 255, "Field Name", required=True),
            _flag("PermissionsRead", "Read Field"),
            _flag("PermissionsEdit", "Edit Field"),
        ],
        owner=False,
    )
    assignment = _make(
        "PermissionSetAssignment",
        "0Pa",
        [
            ref(
                "PermissionSetId",
                "PermissionSet",
                "PermissionSet",
                required=True,
                child="Assignments",
            ),
            ref("AssigneeId", "User", "Assignee", required=True, child="PermissionSetAssignments"),
        ],
        owner=False,
    )
    return [pset, objects, fields, assignment]


def _flag(name: str, label: str) -> FieldDef:
    return FieldDef(name, "boolean", label, nillable=False, default=False)


def custom_object(name: str, label: str, prefix: str, name_label: str) -> ObjectDef:
    obj = _make(name, prefix, [text("Name", 80, name_label, required=True)])
    obj.label = label
    obj.custom = True
    return obj


def standard_objects(
    multi_currency: bool, currencies: tuple[str, ...], corporate: str
) -> list[ObjectDef]:
    return [
        opportunity(multi_currency, currencies, corporate),
        account(multi_currency, currencies, corporate),
        contact(),
        lead(),
        contact_role(),
        team_member(),
        user(),
        note(),
        *permission_objects(),
    ]
