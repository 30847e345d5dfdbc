"""Opportunity stages: read from describe, added through the Tooling API.

A real org keeps its stages in the ``OpportunityStage`` standard value set (Tooling object
``StandardValueSet``); its ``Metadata.standardValue`` lists each stage with ``closed``, ``won``,
``probability`` and ``forecastCategory``. Adding stages means writing the whole list back with
the new values appended; values already in the set are kept as they are (re-activated if an
admin had deactivated them).
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

from cosell.clients.salesforce import SalesforceClient
from cosell.errors import NotFound
from cosell.orgsetup.fields import StageSpec

VALUE_SET = "OpportunityStage"
STAGE_FIELD = "stagename"
VALUE_SET_QUERY = f"SELECT Id, Metadata FROM StandardValueSet WHERE MasterLabel = '{VALUE_SET}'"  # noqa: S608


def stage_names(described: dict[str, dict[str, Any]] | None) -> frozenset[str]:
    """The active StageName values in a describe (fields by lower-cased name)."""
    field = (described or {}).get(STAGE_FIELD) or {}
    values = field.get("picklistValues") or []
    return frozenset(str(v["value"]) for v in values if v.get("active", True))


def add_stages(client: SalesforceClient, stages: Sequence[StageSpec]) -> None:
    """Append ``stages`` to the ``OpportunityStage`` value set (one read, one write)."""
    rows = list(client.tooling_query(VALUE_SET_QUERY))
    if not rows:
        raise NotFound(f"the {VALUE_SET} standard value set was not found")
    record_id, metadata = str(rows[0]["Id"]), dict(rows[0].get("Metadata") or {})
    metadata["standardValue"] = merged_values(metadata.get("standardValue") or [], stages)
    path = f"tooling/sobjects/StandardValueSet/{record_id}"
    client.request("PATCH", path, json={"Metadata": metadata})


def merged_values(
    current: Sequence[dict[str, Any]], stages: Sequence[StageSpec]
) -> list[dict[str, Any]]:
    """The full ``standardValue`` list: what is there (wanted ones active) plus new stages."""
    wanted = {s.name: s for s in stages}
    merged = [_activated(v) if v.get("fullName") in wanted else dict(v) for v in current]
    known = {v.get("fullName") for v in current}
    return merged + [s.value() for s in stages if s.name not in known]


def _activated(value: dict[str, Any]) -> dict[str, Any]:
    return {**value, "isActive": True}
