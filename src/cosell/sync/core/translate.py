"""Translation between side records and canonical values (pure: plain values in and out).

Read: :func:`from_partner_center`, :func:`from_crm`. Write: :func:`to_partner_center_ops`
(JSON Patch for a referral update), :func:`to_partner_center_create` (a referral body),
:func:`to_crm_fields` and :func:`to_crm_create` (a :class:`~cosell.sync.core.records.CrmWrite`).
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import Any

from cosell.sync.core import contacts, paths
from cosell.sync.core.mapping import FieldSpec, ReferralKind, SyncMapping
from cosell.sync.core.records import (
    CanonicalRecord,
    CreateContext,
    CrmRelated,
    CrmWrite,
    Side,
    Value,
)
from cosell.sync.core.transforms import canonical, outbound

SOLUTIONS_PATH = "details.requirements.solutions[].id"
HELP_CODE_PATH = "inviteContext.assistanceRequestCode"
VISIBILITY_PATH = "consent.consentToShareReferralWithMicrosoftSellers"
MICROSOFT_ORG = "msft"
CONTACTS = "Contacts"
PRODUCTS_MAX = 255
"""The most a CRM text field holds: the solution ids typed into ``Products__c``."""


def from_partner_center(referral: Mapping[str, Any], mapping: SyncMapping) -> dict[str, Value]:
    """The canonical record of a referral (as Partner Center returns it)."""
    return {
        name: _canonical(spec, _read_pc(referral, spec), "partner_center", mapping)
        for name, spec in mapping.fields.items()
    }


def _canonical(spec: FieldSpec, raw: Any, side: Side, mapping: SyncMapping) -> Value:
    """A side's canonical value; contacts on both sides in the form the CRM can hold them
    (see :mod:`cosell.sync.core.contacts`), so a create reads back as what it wrote."""
    value = canonical(spec, raw, side, mapping)
    if spec.crm != CONTACTS:
        return value
    held = contacts.as_held(value)
    if side == "crm":
        # Not capped: a contact a seller adds beyond the cap is an addition (sent to Partner
        # Center with the left-out ones), never a reason to read another one as deleted.
        return held
    return contacts.capped(held, mapping.partner_center.max_contacts)


def contacts_left_out(referral: Mapping[str, Any], mapping: SyncMapping) -> str | None:
    """Which of the referral's customer contacts the cap leaves out, in words (None: none)."""
    for spec in mapping.fields.values():
        if spec.crm == CONTACTS and spec.flows_to("crm"):
            held = contacts.as_held(
                canonical(spec, _read_pc(referral, spec), "partner_center", mapping)
            )
            limit = mapping.partner_center.max_contacts
            left_out = contacts.over_cap(held, limit)
            if left_out and isinstance(held, list):
                return contacts.left_out_text(left_out, len(held), limit)
    return None


def _read_pc(referral: Mapping[str, Any], spec: FieldSpec) -> Any:
    if spec.transform == "stage":
        status, substatus = referral.get("status"), referral.get("substatus")
        return f"{status}/{substatus}" if status and substatus else status
    return paths.read(referral, spec.partner_center)


def from_crm(
    opportunity: Mapping[str, Any], related: CrmRelated, mapping: SyncMapping
) -> dict[str, Value]:
    """The canonical record of an opportunity plus its related rows."""
    return {
        name: _canonical(spec, _read_crm(opportunity, related, spec, mapping), "crm", mapping)
        for name, spec in mapping.fields.items()
    }


def _read_crm(
    opportunity: Mapping[str, Any], related: CrmRelated, spec: FieldSpec, mapping: SyncMapping
) -> Any:
    if spec.crm.startswith("Account."):
        return related.account.get(spec.crm.removeprefix("Account."))
    if spec.crm == CONTACTS:
        return related.contacts
    if spec.crm == "OpportunityTeam":
        return related.team
    if spec.partner_center == SOLUTIONS_PATH and related.solutions is not None:
        return [row.get(mapping.crm.solution_id_field) for row in related.solutions]
    return opportunity.get(spec.crm)


def to_partner_center_ops(
    changes: Mapping[str, Value], current_referral: Mapping[str, Any], mapping: SyncMapping
) -> list[dict[str, Any]]:
    """JSON Patch ops (add/replace) writing ``changes`` onto the current referral.

    Only fields whose direction lets them flow to Partner Center produce ops; the status pair
    comes last so data fields land before a close.
    """
    ops: list[dict[str, Any]] = []
    status_ops: list[dict[str, Any]] = []
    working = paths.copied(dict(current_referral))  # later ops see parents earlier ones add
    for name, value in changes.items():
        spec = mapping.fields[name]
        if not spec.flows_to("partner_center"):
            continue
        if spec.transform == "stage":
            status_ops = _status_ops(value) if isinstance(value, str) else []
            continue
        wire = _pc_wire(spec, value, current_referral, mapping)
        ops.append(paths.set_op(working, _pc_target(spec), wire))
        paths.merge_into(working, _pc_target(spec), wire)
    return ops + _share_for_help(working) + status_ops


def _share_for_help(referral: dict[str, Any]) -> list[dict[str, Any]]:
    """Asking Microsoft for help makes the referral co-sell, which means sharing it."""
    if not paths.read(referral, HELP_CODE_PATH) or paths.read(referral, VISIBILITY_PATH) is True:
        return []
    return [paths.set_op(referral, VISIBILITY_PATH, True)]


def _status_ops(value: str) -> list[dict[str, Any]]:
    status, _, substatus = value.partition("/")
    return [
        {"op": "replace", "path": "/status", "value": status},
        {"op": "replace", "path": "/substatus", "value": substatus},
    ]


def _pc_target(spec: FieldSpec) -> str:
    """Where a field is written: a ``[]`` path writes the whole list."""
    return spec.partner_center.split("[]")[0]


def _pc_wire(
    spec: FieldSpec, value: Value, current: Mapping[str, Any], mapping: SyncMapping
) -> Any:
    wire = outbound(spec, value, "partner_center", mapping)
    if spec.crm == CONTACTS and isinstance(wire, list):
        return wire + _left_out_rows(spec, current, mapping)
    if "[]." not in spec.partner_center:
        return wire
    return _merge_items(spec.partner_center, wire or [], current)


def _left_out_rows(spec: FieldSpec, current: Mapping[str, Any], mapping: SyncMapping) -> list[Any]:
    """The referral's members beyond the contacts cap, as they are: a write of the contacts
    (which replaces the list) keeps them, so a member nobody synced is never deleted."""
    rows = paths.read(current, spec.partner_center)
    if not isinstance(rows, list):
        return []
    held = contacts.as_held(canonical(spec, rows, "partner_center", mapping))
    limit = mapping.partner_center.max_contacts
    if not isinstance(held, list) or len(held) <= limit:
        return []
    shown = {contacts.member_key(m) for m in held[:limit] if isinstance(m, dict)}
    kept = []
    for row in rows:
        member = contacts.as_held(canonical(spec, [row], "partner_center", mapping))
        first = member[0] if isinstance(member, list) and member else None
        if isinstance(first, dict) and contacts.member_key(first) not in shown:
            kept.append(row)
    return kept


def _merge_items(path: str, ids: list[Any], current: Mapping[str, Any]) -> list[dict[str, Any]]:
    """Keep existing list items (with their extra attributes) whose key survives; add new ones."""
    list_path, _, key = path.partition("[].")
    existing = paths.read(current, list_path + "[]") or []
    by_key = {item.get(key): dict(item) for item in existing if isinstance(item, Mapping)}
    return [by_key.get(i) or {key: i, "type": "Name"} for i in ids]


def to_partner_center_create(
    record: CanonicalRecord, ctx: CreateContext, mapping: SyncMapping
) -> dict[str, Any]:
    """The referral body for creating a referral from a CRM record.

    ``externalReferenceId`` is the opportunity id (creates are idempotent by it). When a help
    code is set the referral is co-sell: shared with Microsoft sellers with an ``inviteContext``.
    New referrals are sent New/Pending; Partner Center answers Active/Accepted.
    """
    body: dict[str, Any] = {"customerProfile": {}, "consent": {}, "details": {}}
    for name, spec in mapping.fields.items():
        value = _with_default(record.get(name), spec)
        if not spec.on_create_to("partner_center") or spec.transform == "stage" or value is None:
            continue
        paths.merge_into(body, _pc_target(spec), _pc_wire(spec, value, {}, mapping))
    body["externalReferenceId"] = ctx.opportunity_id
    cosell = bool(paths.read(body, HELP_CODE_PATH))
    shared = cosell or bool(paths.read(body, VISIBILITY_PATH))
    body["consent"][VISIBILITY_PATH.split(".")[1]] = shared
    body.update(type="Shared" if cosell else "Independent", qualification="SalesQualified")
    body.update(status="New", substatus="Pending")
    return body


def _with_default(value: Value, spec: FieldSpec) -> Value:
    return spec.default if value is None else value


def to_crm_fields(changes: Mapping[str, Value], mapping: SyncMapping) -> CrmWrite:
    """CRM writes for changed canonical values (only fields that flow to the CRM)."""
    names = [n for n in changes if mapping.fields[n].flows_to("crm")]
    return _crm_write({n: changes[n] for n in names}, mapping)


def to_crm_create(record: CanonicalRecord, mapping: SyncMapping) -> CrmWrite:
    """The opportunity (and related intents) for a referral shared with us.

    The stage follows the stage table (New/Pending → on-hold), the sync flag is set, and the
    referral id and link fields are filled from the record.
    """
    values = {
        name: _with_default(record.get(name), spec)
        for name, spec in mapping.fields.items()
        if spec.on_create_to("crm")
    }
    flag = {mapping.crm.sync_flag_field: True}
    return _crm_write({n: v for n, v in values.items() if v is not None}, mapping, flag)


_RELATED_INTENT = {CONTACTS: "contacts", "OpportunityTeam": "team"}


def held_as_rows(spec: FieldSpec) -> bool:
    """Whether the CRM holds the field as related rows (contacts, team), not on the record."""
    return spec.crm in _RELATED_INTENT


def _crm_write(
    values: Mapping[str, Value], mapping: SyncMapping, extra: Mapping[str, Any] | None = None
) -> CrmWrite:
    opportunity: dict[str, Any] = {}
    account: dict[str, Any] = {}
    related: dict[str, Any] = {}
    for name, value in values.items():
        spec = mapping.fields[name]
        wire = outbound(spec, value, "crm", mapping)
        if spec.partner_center == SOLUTIONS_PATH:
            wire = products_text([str(v) for v in value] if isinstance(value, list) else [], spec)
        if spec.crm.startswith("Account."):
            account[spec.crm.removeprefix("Account.")] = wire
        elif spec.crm in _RELATED_INTENT:
            related[_RELATED_INTENT[spec.crm]] = wire
        else:
            opportunity[spec.crm] = wire
        if spec.partner_center == SOLUTIONS_PATH:
            related["solutions"] = [str(v) for v in value] if isinstance(value, list) else []
    return CrmWrite({**opportunity, **(extra or {})}, account, **related)


def products_text(ids: Sequence[str], spec: FieldSpec) -> str | None:
    """The solutions text for ``ids``: as many whole ids as the field holds (the Microsoft
    Solutions list holds them all, and the CRM's value is the ids in either place)."""
    limit, text = spec.max_length or PRODUCTS_MAX, ""
    for solution_id in ids:
        joined = f"{text};{solution_id}" if text else solution_id
        if len(joined) > limit:
            break
        text = joined
    return text or None


def referral_kind(referral: Mapping[str, Any]) -> ReferralKind:
    """Lead or co-sell opportunity, per Partner Center's category matrix.

    Direct and marketing-qualified referrals are leads, as are independent sales-qualified ones
    Microsoft sent; everything else (shared, or invited by a partner) is co-sell.
    """
    qualification = referral.get("qualification")
    invited_by = paths.read(referral, "inviteContext.invitedBy.organizationId")
    if qualification in {"Direct", "MarketingQualified"}:
        return "lead"
    if referral.get("type") == "Independent" and invited_by in {MICROSOFT_ORG, None}:
        return "lead"
    return "co_sell"
