"""Deal values between HubSpot's strings and the engine's record values.

HubSpot sends and takes every value as a string. Reading, numbers stay decimal strings (the
``decimal`` transform reads them), ``datetime`` stamps and ``bool`` words likewise; the deal
stage's internal id becomes the stage label the mapping's stage table names. Writing, a
``YYYY-MM-DD`` into a ``datetime`` property becomes midnight UTC, booleans become
``true``/``false``, ``None`` becomes ``""`` (HubSpot's way to clear a value), and a stage
label becomes the id of that stage in the deal's pipeline.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

from cosell.errors import RejectedError


@dataclass(frozen=True)
class Stages:
    """One pipeline's stages: label (case-insensitive) ↔ id."""

    pipeline: str
    ids_by_label: Mapping[str, str]
    labels_by_id: Mapping[str, str]

    @classmethod
    def of(cls, pipeline: Mapping[str, Any]) -> Stages:
        stages = pipeline.get("stages", [])
        return cls(
            str(pipeline["id"]),
            {str(s["label"]).casefold(): str(s["id"]) for s in stages},
            {str(s["id"]): str(s["label"]) for s in stages},
        )

    def label(self, stage_id: str | None) -> str | None:
        return self.labels_by_id.get(stage_id, stage_id) if stage_id else None

    def id_for(self, label: str) -> str:
        found = self.ids_by_label.get(label.casefold())
        if found is None:
            raise RejectedError(
                f"deal stage {label!r} is not in pipeline {self.pipeline!r}: run "
                "`cosell setup hubspot` or fix the mapping's stage table"
            )
        return found


def to_hubspot(
    values: Mapping[str, Any], types: Mapping[str, str], stages: Stages
) -> dict[str, str]:
    """Engine values for deal properties as HubSpot takes them."""
    out: dict[str, str] = {}
    for name, value in values.items():
        if name == "dealstage" and isinstance(value, str) and value:
            out[name] = stages.id_for(value)
        else:
            out[name] = _wire(value, types.get(name, "string"))
    return out


def _wire(value: Any, kind: str) -> str:
    if value is None:
        return ""
    if isinstance(value, bool):
        return "true" if value else "false"
    if kind == "datetime" and isinstance(value, str) and len(value) == 10:
        return f"{value}T00:00:00.000Z"
    if isinstance(value, float) and value.is_integer():
        return str(int(value))
    return str(value)


def from_hubspot(
    properties: Mapping[str, Any], stages: Stages, types: Mapping[str, str]
) -> dict[str, Any]:
    """A deal's properties as the engine reads them: stage ids become labels, ``bool``
    properties Python booleans (the sync flag is tested for truth)."""
    values: dict[str, Any] = {k: v for k, v in properties.items() if v not in (None, "")}
    for name, value in values.items():
        if types.get(name) == "bool":
            values[name] = str(value).lower() == "true"
    if "dealstage" in values:
        values["dealstage"] = stages.label(str(values["dealstage"]))
    return values
