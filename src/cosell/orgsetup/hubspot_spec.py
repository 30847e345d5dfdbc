"""What cosell needs in a HubSpot portal, as data: a property group, the deal properties the
mapping syncs and cosell owns (typed from each field's transform), the standard properties
it reads, and the pipeline stages its stage table names.

The mapping is the one source of truth, as for Salesforce: custom properties are the mapped
deal properties HubSpot does not define (``cosell_*`` in the shipped mapping).
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

from cosell.sync.core.mapping import CRM_RELATED_LISTS, FieldSpec, SyncMapping

GROUP = "cosell"
GROUP_LABEL = "Microsoft co-sell"
STANDARD_DEAL = frozenset(
    {
        "dealname",
        "amount",
        "closedate",
        "pipeline",
        "dealstage",
        "description",
        "deal_currency_code",
        "hs_object_id",
        "hs_lastmodifieddate",
        "createdate",
        "dealtype",
    }
)
STANDARD_COMPANY = frozenset({"name", "address", "city", "state", "zip", "country", "domain"})
# label → probability for stages HubSpot's default pipeline lacks; closed ones say so
STAGE_DEFAULTS = {"on_hold": (0.1, False), "declined": (0.0, True), "expired": (0.0, True)}


@dataclass(frozen=True)
class PropertySpec:
    """One custom deal property in the properties API's terms."""

    name: str
    label: str
    type: str
    field_type: str
    options: tuple[str, ...] = ()
    unique: bool = False

    def body(self, group: str) -> dict[str, Any]:
        body: dict[str, Any] = {
            "name": self.name,
            "label": self.label,
            "type": self.type,
            "fieldType": self.field_type,
            "groupName": group,
            "hasUniqueValue": self.unique,
        }
        if self.type == "bool":
            body["options"] = [
                {"label": "Yes", "value": "true", "displayOrder": 0, "hidden": False},
                {"label": "No", "value": "false", "displayOrder": 1, "hidden": False},
            ]
        elif self.options:
            body["options"] = [
                {"label": o, "value": o, "displayOrder": i, "hidden": False}
                for i, o in enumerate(self.options)
            ]
        return body


@dataclass(frozen=True)
class StageNeed:
    label: str
    probability: float
    closed: bool


@dataclass(frozen=True)
class PortalSpec:
    """Everything ``cosell setup hubspot`` creates or checks."""

    group: str
    group_label: str
    properties: tuple[PropertySpec, ...]
    standard_deal: tuple[str, ...]
    standard_company: tuple[str, ...]
    stages: tuple[StageNeed, ...] = field(default=())
    pipeline: str = "default"


def portal_spec_for(mapping: SyncMapping, pipeline: str = "default") -> PortalSpec:
    """The schema ``mapping`` needs in a HubSpot portal."""
    crm = mapping.crm
    owned = (
        PropertySpec(crm.sync_flag_field, "Sync with Partner Center", "bool", "booleancheckbox"),
        PropertySpec(crm.status_field, "Co-sell sync status", "string", "text"),
        PropertySpec(crm.error_field, "Co-sell sync error", "string", "textarea"),
        PropertySpec(crm.audit_field, "Co-sell audit", "string", "textarea"),
    )
    mapped = tuple(_mapped(name, spec, mapping) for name, spec in mapping.fields.items())
    props = [p for p in (*owned, *mapped) if p is not None]
    unique = {p.name: p for p in reversed(props)}
    deal = sorted({s.crm for s in mapping.fields.values() if s.crm in STANDARD_DEAL})
    company = sorted(
        {
            s.crm.removeprefix("Account.")
            for s in mapping.fields.values()
            if s.crm.startswith("Account.")
        }
    )
    return PortalSpec(
        GROUP,
        GROUP_LABEL,
        tuple(p for p in props if unique[p.name] is p),
        tuple(deal),
        tuple(company),
        _stages(mapping),
        pipeline,
    )


def _mapped(name: str, spec: FieldSpec, mapping: SyncMapping) -> PropertySpec | None:
    target = spec.crm
    if target in STANDARD_DEAL or target in CRM_RELATED_LISTS or "." in target:
        return None
    if not spec.on_create_to("crm") and target != mapping.referral_id_field:
        return None
    label = name.replace("_", " ").capitalize()
    unique = target == mapping.referral_id_field
    if spec.transform == "bool":
        return PropertySpec(target, label, "bool", "booleancheckbox")
    if spec.transform == "decimal":
        return PropertySpec(target, label, "number", "number")
    if spec.transform == "date":
        return PropertySpec(target, label, "date", "date")
    if spec.values:
        return PropertySpec(target, label, "enumeration", "select", tuple(spec.values.values()))
    long_text = spec.transform == "list" or (spec.max_length or 0) > 255
    return PropertySpec(target, label, "string", "textarea" if long_text else "text", unique=unique)


def _stages(mapping: SyncMapping) -> tuple[StageNeed, ...]:
    table = mapping.stages
    rows = [
        ("on_hold", table.on_hold),
        ("active", table.active),
        ("declined", table.declined),
        ("won", table.won),
        ("lost", table.lost),
        ("expired", table.expired),
        *(("open", label) for label in table.open),
    ]
    needs: dict[str, StageNeed] = {}
    for role, label in rows:
        probability, closed = STAGE_DEFAULTS.get(role, (0.5, False))
        if role == "won":
            probability, closed = 1.0, True
        if role == "lost":
            probability, closed = 0.0, True
        needs.setdefault(label.casefold(), StageNeed(label, probability, closed))
    return tuple(needs.values())


def webhook_subscriptions(mapping: SyncMapping) -> list[dict[str, str]]:
    """The app's webhook subscriptions that cover what ``mapping`` syncs on a deal: its creation,
    its associations (company, contacts) and a ``propertyChange`` per deal property it reads
    (HubSpot subscribes to one property at a time)."""
    crm = mapping.crm
    mapped = [s.crm for s in mapping.fields.values()]
    names = [
        n
        for n in dict.fromkeys(("dealname", "dealstage", *mapped, crm.sync_flag_field))
        if n not in CRM_RELATED_LISTS and "." not in n
    ]
    return [
        {"eventType": "deal.creation"},
        {"eventType": "deal.associationChange"},
        *({"eventType": "deal.propertyChange", "propertyName": n} for n in names),
    ]
