"""A mapping checked against the real schemas: Partner Center paths against the referral's
shape, and, when the org can be reached, CRM field names and stages against its describe.

Each mistake is a :class:`Problem` naming the file, line and key, as the mapping's own
validation does, so ``cosell mapping check --config`` fails on ``Descriptoin``,
``details.notez`` or a misspelled stage.
"""

from __future__ import annotations

from collections.abc import Callable, Iterator
from typing import Any

from cosell.emulators.partner_center.defaults import skeleton
from cosell.sync.core.mapping import SyncMapping
from cosell.sync.core.mapping_errors import Problem, locate
from cosell.sync.core.mapping_yaml import parse_yaml

Describe = Callable[[str], dict[str, Any]]
"""``SalesforceClient.describe``: an sObject's describe document."""

_RELATED = frozenset({"Contacts", "OpportunityTeam", "Solutions", "Id"})


def referral_shape() -> dict[str, Any]:
    """Every key a referral carries (Partner Center's Referral resource, as the emulator holds)."""
    return skeleton(("org", "Partner"), "Incoming", True) | {"id": "", "engagementId": ""}


def path_known(shape: Any, path: str) -> bool:
    """Whether ``path`` (dots; ``[]`` walks a list) names keys the referral has."""
    node = shape
    for part in path.split("."):
        walks = part.endswith("[]")
        key = part.removesuffix("[]")
        if node is None:
            return True  # below a value the shape leaves open (null): not checkable
        if not isinstance(node, dict) or key not in node:
            return False
        node = node[key]
        if walks:
            if not isinstance(node, list):
                return False
            node = node[0] if node else None
    return True


def schema_problems(
    mapping: SyncMapping, text: str, source: str, describe: Describe | None = None
) -> list[Problem]:
    """Mistakes against the schemas; CRM names and stages only when ``describe`` is given."""
    document = parse_yaml(text, source)
    found = [locate(document, source, loc, msg) for loc, msg in _pc_paths(mapping)]
    if describe is not None:
        found += [locate(document, source, loc, msg) for loc, msg in _crm(mapping, describe)]
    return found


Located = Iterator[tuple[tuple[str | int, ...], str]]


def _pc_paths(mapping: SyncMapping) -> Located:
    shape = referral_shape()
    for name, spec in mapping.fields.items():
        if not path_known(shape, spec.partner_center):
            message = f"{spec.partner_center!r} is not a path of a Partner Center referral"
            yield ("fields", name, "partner_center"), message


def _crm(mapping: SyncMapping, describe: Describe) -> Located:
    sobject = mapping.crm.object
    described = describe(sobject)
    fields = {f["name"]: f for f in described.get("fields", [])}
    account = {f["name"] for f in describe("Account").get("fields", [])}
    for name, spec in mapping.fields.items():
        crm = spec.crm
        if crm in _RELATED:
            continue
        if crm.startswith("Account."):
            if crm.removeprefix("Account.") not in account:
                yield ("fields", name, "crm"), f"{crm!r}: Account has no such field in the org"
        elif crm not in fields:
            yield ("fields", name, "crm"), f"{crm!r}: {sobject} has no such field in the org"
    stage_field = fields.get("StageName", {})
    values = {v.get("value") for v in stage_field.get("picklistValues", []) if v.get("active")}
    if not values:
        return
    stages = mapping.stages
    for key in ("on_hold", "active", "declined", "won", "lost", "expired"):
        value = getattr(stages, key)
        if value not in values:
            yield ("stages", key), f"{value!r} is not a StageName value in the org"
    for index, value in enumerate(stages.open):
        if value not in values:
            yield ("stages", "open", index), f"{value!r} is not a StageName value in the org"
