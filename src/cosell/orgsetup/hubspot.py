"""Inspect and complete a HubSpot portal's cosell schema: the property group, the deal
properties (created, or reported when they exist with another type), the standard deal and
company properties the mapping reads, and the deal pipeline's stages (added by label).

Running it twice changes nothing the second time; ``inspect`` never writes.
"""

from __future__ import annotations

from typing import Any

from cosell.clients.hubspot import HubSpotClient
from cosell.errors import APIError
from cosell.orgsetup.hubspot_spec import PortalSpec, PropertySpec, StageNeed
from cosell.orgsetup.salesforce import Finding, Kind, Report


class PortalSetup:
    """What a portal has against what ``spec`` needs, over a ``HubSpotClient``."""

    def __init__(self, client: HubSpotClient, spec: PortalSpec) -> None:
        self.client = client
        self.spec = spec

    def inspect(self) -> Report:
        return self._run(apply=False)

    def apply(self) -> Report:
        return self._run(apply=True)

    def _run(self, *, apply: bool) -> Report:
        findings = [self._group(apply)]
        deal = {p["name"]: p for p in self.client.properties("deals")}
        findings += [self._property(p, deal, apply) for p in self.spec.properties]
        findings += [_standard("deal property", n, deal) for n in self.spec.standard_deal]
        company = {p["name"]: p for p in self.client.properties("companies")}
        findings += [_standard("company property", n, company) for n in self.spec.standard_company]
        findings += self._stages(apply)
        return Report(tuple(findings))

    def _group(self, apply: bool) -> Finding:
        name = self.spec.group
        if name in {g["name"] for g in self.client.property_groups("deals")}:
            return Finding("group", name, self.spec.group_label, "ok")
        if not apply:
            return Finding("group", name, self.spec.group_label, "missing")
        return self._attempt(
            Finding("group", name, self.spec.group_label, "created"),
            lambda: self.client.create_property_group("deals", name, self.spec.group_label),
        )

    def _property(self, want: PropertySpec, have: dict[str, Any], apply: bool) -> Finding:
        expected = f"{want.type}/{want.field_type}" + (" unique" if want.unique else "")
        found = have.get(want.name)
        if found is not None:
            problem = _difference(want, found)
            if problem:
                return Finding("property", want.name, expected, "differs", problem)
            missing = _missing_options(want, found)
            if not missing:
                return Finding("property", want.name, expected, "ok")
            if not apply:
                return Finding("property", want.name, expected, "missing", f"options {missing}")
            options = want.body(self.spec.group)["options"]
            return self._attempt(
                Finding("property", want.name, expected, "created", f"options {missing}"),
                lambda: self.client.update_property("deals", want.name, {"options": options}),
            )
        if not apply:
            return Finding("property", want.name, expected, "missing")
        return self._attempt(
            Finding("property", want.name, expected, "created"),
            lambda: self.client.create_property("deals", want.body(self.spec.group)),
        )

    def _stages(self, apply: bool) -> list[Finding]:
        pipelines = {p["id"]: p for p in self.client.pipelines()}
        pipeline = pipelines.get(self.spec.pipeline)
        if pipeline is None:
            detail = f"no deal pipeline {self.spec.pipeline!r}"
            return [
                Finding("stage", s.label, _stage_text(s), "failed", detail)
                for s in self.spec.stages
            ]
        have = {s["label"].casefold(): s for s in pipeline["stages"]}
        order = len(have)
        findings = []
        for need in self.spec.stages:
            found = have.get(need.label.casefold())
            if found is not None:
                findings.append(_stage_finding(need, found))
            elif not apply:
                findings.append(Finding("stage", need.label, _stage_text(need), "missing"))
            else:
                findings.append(self._create_stage(need, order))
                order += 1
        return findings

    def _create_stage(self, need: StageNeed, order: int) -> Finding:
        made = Finding("stage", need.label, _stage_text(need), "created")
        return self._attempt(
            made,
            lambda: self.client.create_stage(
                self.spec.pipeline,
                need.label,
                need.probability,
                closed=need.closed,
                display_order=order,
            ),
        )

    @staticmethod
    def _attempt(done: Finding, action: Any) -> Finding:
        try:
            action()
        except APIError as exc:
            return Finding(done.kind, done.name, done.expected, "failed", str(exc.message))
        return done


def _difference(want: PropertySpec, found: dict[str, Any]) -> str:
    if (found.get("type"), found.get("fieldType")) != (want.type, want.field_type):
        return f"is {found.get('type')}/{found.get('fieldType')}"
    if want.unique and not found.get("hasUniqueValue"):
        return "is not unique (HubSpot cannot change that: recreate it)"
    return ""


def _missing_options(want: PropertySpec, found: dict[str, Any]) -> list[str]:
    have = {str(o.get("value")) for o in found.get("options") or []}
    return [o for o in want.options if o not in have]


def _standard(kind: Kind, name: str, have: dict[str, Any]) -> Finding:
    if name in have:
        return Finding(kind, name, "exists", "ok")
    return Finding(kind, name, "exists", "missing", "a HubSpot-defined property the mapping reads")


def _stage_text(need: StageNeed) -> str:
    closed = ", closed" if need.closed else ""
    return f"probability {need.probability:g}{closed}"


def _stage_finding(need: StageNeed, found: dict[str, Any]) -> Finding:
    closed = str(found.get("metadata", {}).get("isClosed", "false")) == "true"
    if closed != need.closed:
        state = "closed" if closed else "open"
        return Finding("stage", need.label, _stage_text(need), "differs", f"is {state}")
    return Finding("stage", need.label, _stage_text(need), "ok", f"id {found['id']}")
