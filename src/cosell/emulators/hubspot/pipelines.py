"""Deal pipelines and their stages: the seeded ``default`` pipeline, CRUD, and the checks a
deal's ``pipeline``/``dealstage`` pair must pass."""

from __future__ import annotations

import itertools
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

from cosell.emulators.hubspot.wire import HubSpotError, PropertyProblem, validation

MAX_STAGES = 100
DEFAULT_STAGES = (
    ("appointmentscheduled", "Appointment Scheduled", "0.2", "false"),
    ("qualifiedtobuy", "Qualified To Buy", "0.4", "false"),
    ("presentationscheduled", "Presentation Scheduled", "0.6", "false"),
    ("decisionmakerboughtin", "Decision Maker Bought-In", "0.8", "false"),
    ("contractsent", "Contract Sent", "0.9", "false"),
    ("closedwon", "Closed Won", "1.0", "true"),
    ("closedlost", "Closed Lost", "0.0", "true"),
)


@dataclass
class Stage:
    id: str
    label: str
    display_order: int
    metadata: dict[str, str]
    created_at: str
    updated_at: str
    archived: bool = False

    @property
    def probability(self) -> float:
        return float(self.metadata.get("probability", "0"))

    @property
    def closed(self) -> bool:
        return self.metadata.get("isClosed", "false") == "true"

    def as_dict(self) -> dict[str, Any]:
        return {
            "id": self.id,
            "label": self.label,
            "displayOrder": self.display_order,
            "metadata": dict(self.metadata),
            "archived": self.archived,
            "createdAt": self.created_at,
            "updatedAt": self.updated_at,
            "writePermissions": "CRM_PERMISSIONS_ENFORCEMENT",
        }


@dataclass
class Pipeline:
    id: str
    label: str
    display_order: int
    created_at: str
    updated_at: str
    stages: list[Stage] = field(default_factory=list)
    archived: bool = False

    def stage(self, stage_id: str) -> Stage | None:
        return next((s for s in self.stages if s.id == stage_id and not s.archived), None)

    def live_stages(self) -> list[Stage]:
        return sorted((s for s in self.stages if not s.archived), key=lambda s: s.display_order)

    def as_dict(self) -> dict[str, Any]:
        return {
            "id": self.id,
            "label": self.label,
            "displayOrder": self.display_order,
            "archived": self.archived,
            "createdAt": self.created_at,
            "updatedAt": self.updated_at,
            "stages": [s.as_dict() for s in self.live_stages()],
        }


class Pipelines:
    """Deal pipelines; ``in_use`` tells whether any live deal sits in a stage."""

    def __init__(self, stamp: str, in_use: Callable[[str, str | None], list[str]]) -> None:
        self._ids = itertools.count(11348542)
        self._in_use = in_use
        default = Pipeline("default", "Sales Pipeline", 0, stamp, stamp)
        default.stages = [
            Stage(sid, label, i, {"probability": p, "isClosed": c}, stamp, stamp)
            for i, (sid, label, p, c) in enumerate(DEFAULT_STAGES)
        ]
        self.pipelines: dict[str, Pipeline] = {"default": default}

    def live(self) -> list[Pipeline]:
        return sorted(
            (p for p in self.pipelines.values() if not p.archived), key=lambda p: p.display_order
        )

    def get(self, pipeline_id: str) -> Pipeline:
        found = self.pipelines.get(pipeline_id)
        if found is None or found.archived:
            raise HubSpotError(
                404, "OBJECT_NOT_FOUND", f"Unable to find pipeline with id: {pipeline_id}"
            )
        return found

    def stage(self, pipeline_id: str, stage_id: str) -> Stage:
        found = self.get(pipeline_id).stage(stage_id)
        if found is None:
            raise HubSpotError(404, "OBJECT_NOT_FOUND", f"Unable to find stage {stage_id}")
        return found

    def create(self, body: dict[str, Any], stamp: str) -> Pipeline:
        label = _label(body)
        if any(p.label == label for p in self.live()):
            raise validation(f"A pipeline with label {label} already exists.")
        stages = body.get("stages")
        if not isinstance(stages, list) or not stages:
            raise validation("A pipeline needs at least one stage.")
        pipeline = Pipeline(
            str(next(self._ids)), label, int(body.get("displayOrder", 0)), stamp, stamp
        )
        for raw in stages:
            self._add_stage(pipeline, raw, stamp)
        self.pipelines[pipeline.id] = pipeline
        return pipeline

    def update(self, pipeline_id: str, body: dict[str, Any], stamp: str) -> Pipeline:
        pipeline = self.get(pipeline_id)
        if "label" in body:
            pipeline.label = _label(body)
        if "displayOrder" in body:
            pipeline.display_order = int(body["displayOrder"])
        pipeline.updated_at = stamp
        return pipeline

    def archive(self, pipeline_id: str, validate: bool) -> None:
        pipeline = self.get(pipeline_id)
        if validate:
            used = self._in_use(pipeline.id, None)
            if used:
                raise _in_use_error([s.id for s in pipeline.stages], used)
        pipeline.archived = True

    def create_stage(self, pipeline_id: str, body: dict[str, Any], stamp: str) -> Stage:
        return self._add_stage(self.get(pipeline_id), body, stamp)

    def update_stage(
        self, pipeline_id: str, stage_id: str, body: dict[str, Any], stamp: str
    ) -> Stage:
        pipeline, stage = self.get(pipeline_id), self.stage(pipeline_id, stage_id)
        if "label" in body:
            label = _label(body)
            if any(s.label == label and s.id != stage.id for s in pipeline.live_stages()):
                raise validation(f"A stage with label {label} already exists in this pipeline.")
            stage.label = label
        if "displayOrder" in body:
            stage.display_order = int(body["displayOrder"])
        if "metadata" in body:
            stage.metadata = _metadata({**stage.metadata, **body["metadata"]})
        stage.updated_at = stamp
        return stage

    def archive_stage(self, pipeline_id: str, stage_id: str) -> None:
        """Archive a stage no live deal sits in (a deal is never left in a missing stage)."""
        stage = self.stage(pipeline_id, stage_id)
        used = self._in_use(pipeline_id, stage_id)
        if used:
            raise _in_use_error([stage_id], used)
        stage.archived = True

    def check_deal(self, pipeline_id: str | None, stage_id: str | None) -> list[PropertyProblem]:
        """Problems with a deal's pipeline and stage (either may be None: not being set)."""
        live = {p.id: p for p in self.live()}
        pipeline = live.get(pipeline_id or "default")
        if pipeline is None:
            message = f"{pipeline_id} was not one of the allowed options: {sorted(live)}"
            return [PropertyProblem("pipeline", "INVALID_OPTION", message)]
        if stage_id is not None and pipeline.stage(stage_id) is None:
            allowed = [s.id for s in pipeline.live_stages()]
            message = f"{stage_id} was not one of the allowed options: {allowed}"
            return [PropertyProblem("dealstage", "INVALID_OPTION", message)]
        return []

    def _add_stage(self, pipeline: Pipeline, raw: Any, stamp: str) -> Stage:
        if not isinstance(raw, dict):
            raise validation("Each stage must be a JSON object.")
        label = _label(raw)
        if any(s.label == label for s in pipeline.live_stages()):
            raise validation(f"A stage with label {label} already exists in this pipeline.")
        if len(pipeline.live_stages()) >= MAX_STAGES:
            raise validation(f"A deal pipeline can have at most {MAX_STAGES} stages.")
        metadata = _metadata(raw.get("metadata") or {})
        stage_id = str(raw.get("stageId") or next(self._ids))
        stage = Stage(stage_id, label, int(raw.get("displayOrder", 0)), metadata, stamp, stamp)
        pipeline.stages.append(stage)
        return stage


def _label(body: dict[str, Any]) -> str:
    label = body.get("label")
    if not isinstance(label, str) or not label.strip():
        raise validation("label: a non-empty label is required.")
    return label


def _metadata(raw: dict[str, Any]) -> dict[str, str]:
    if "probability" not in raw:
        raise validation("Deal stages require metadata.probability between 0.0 and 1.0.")
    try:
        probability = float(raw["probability"])
    except (TypeError, ValueError):
        probability = -1.0
    if not 0.0 <= probability <= 1.0:
        raise validation("metadata.probability must be a number between 0.0 and 1.0.")
    metadata = {str(k): str(v).lower() if isinstance(v, bool) else str(v) for k, v in raw.items()}
    metadata.setdefault("isClosed", "false")
    return metadata


def _in_use_error(stage_ids: list[str], object_ids: list[str]) -> HubSpotError:
    return validation(
        "The pipeline stage is in use by one or more deals.",
        sub_category="PipelineError.STAGE_ID_IN_USE",
        context={"stageIds": stage_ids, "objectIds": object_ids},
    )
