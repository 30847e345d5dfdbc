"""Compare an org with the ``OrgSpec`` and create what is missing; never alter what exists.

``inspect`` only reads (describe, SOQL). ``apply`` inspects, then creates missing objects and
fields through the Tooling API, grants access through a permission set and adds missing
Opportunity stages to the ``OpportunityStage`` standard value set.

Access is Salesforce's documented way: a ``PermissionSet`` (``OrgSpec.permission_set``, created
when missing) holding one ``ObjectPermissions`` record per custom object (read, create, edit,
delete) and one ``FieldPermissions`` record per field setup creates (read, plus edit where cosell
writes it), assigned to the integration user with a ``PermissionSetAssignment``. A grant that
exists with fewer flags is raised in place, never duplicated, so a re-run changes nothing.

A field that exists with another type is reported as ``differs`` for an admin to resolve:
changing a type can destroy data, so cosell never does it. Standard fields are only checked:
they cannot be created.
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass, field, replace
from typing import Any, Literal

from cosell.clients.salesforce import SalesforceClient
from cosell.clients.soql import soql_literal
from cosell.errors import APIError, NotFound, RejectedError
from cosell.orgsetup.fields import OBJECT_PERMISSIONS
from cosell.orgsetup.spec import FieldSpec, ObjectSpec, OrgSpec, StageSpec, StandardFieldSpec
from cosell.orgsetup.stages import add_stages, stage_names

Status = Literal["ok", "missing", "created", "granted", "differs", "failed"]
Kind = Literal[
    "object",
    "field",
    "standard field",
    "stage",
    "object access",
    "access",
    "permission set",
    "assignment",
    "group",
    "property",
    "deal property",
    "company property",
]
NOT_CREATABLE = "a standard field cannot be created: enable the feature that adds it"
HIDDEN = "exists, but hidden from this user until access is granted"
STILL_HIDDEN = "exists, but this user still cannot see it: check its access"
ACCESS_KINDS: frozenset[Kind] = frozenset(
    {"permission set", "object access", "access", "assignment"}
)
_ALREADY_EXISTS = frozenset({"DUPLICATE_DEVELOPER_NAME", "DUPLICATE_VALUE"})
Described = dict[str, dict[str, Any]]  # describe fields by lower-cased name
NEEDS_WORK: frozenset[Status] = frozenset({"missing", "differs", "failed"})


@dataclass(frozen=True)
class Finding:
    """One line of the setup report."""

    kind: Kind
    name: str
    expected: str
    status: Status
    detail: str = ""
    record_id: str | None = field(default=None, compare=False)


@dataclass(frozen=True)
class Report:
    """All findings of one inspection or run."""

    findings: tuple[Finding, ...]

    def with_status(self, *statuses: Status) -> list[Finding]:
        return [f for f in self.findings if f.status in statuses]

    @property
    def clean(self) -> bool:
        """Nothing missing, different or failed."""
        return not self.with_status(*NEEDS_WORK)

    @property
    def unchanged(self) -> bool:
        return all(f.status == "ok" for f in self.findings)


class OrgSetup:
    """Inspect and complete an org's cosell schema over a ``SalesforceClient``."""

    def __init__(
        self, client: SalesforceClient, spec: OrgSpec, *, assignee_id: str | None = None
    ) -> None:
        self.client = client
        self.spec = spec
        self.assignee_id = assignee_id

    # --- inspection ----------------------------------------------------------------------------

    def inspect(self) -> Report:
        described = {name: self._describe(name) for name in self._sobjects()}
        findings = [self._object_finding(o, described[o.name]) for o in self.spec.objects]
        findings += [self._field_finding(f, described[f.sobject]) for f in self.spec.fields]
        findings += [
            self._standard_finding(f, described[f.sobject]) for f in self.spec.standard_fields
        ]
        findings += self._stage_findings(described[self.spec.stage_object])
        findings += self._access_findings()
        return Report(tuple(findings))

    def _sobjects(self) -> list[str]:
        named = [f.sobject for f in self.spec.fields]
        named += [f.sobject for f in self.spec.standard_fields]
        return list(dict.fromkeys([*named, self.spec.stage_object]))

    def _describe(self, sobject: str) -> Described | None:
        try:
            fields = self.client.describe(sobject).get("fields") or []
        except NotFound:
            return None
        except RejectedError as exc:
            if exc.code == "INVALID_TYPE":
                return None
            raise
        return {str(f["name"]).lower(): f for f in fields}

    def _object_finding(self, spec: ObjectSpec, described: object) -> Finding:
        status: Status = "ok" if described is not None else "missing"
        return Finding("object", spec.name, "custom object", status)

    def _field_finding(
        self, spec: FieldSpec, described: dict[str, dict[str, Any]] | None
    ) -> Finding:
        expected = _expected(spec)
        current = (described or {}).get(spec.name.lower())
        if current is None:
            return Finding("field", spec.full_name, expected, "missing")
        problems = list(field_differences(spec, current))
        if problems:
            return Finding("field", spec.full_name, expected, "differs", "; ".join(problems))
        return Finding("field", spec.full_name, expected, "ok")

    def _standard_finding(self, spec: StandardFieldSpec, described: Described | None) -> Finding:
        if spec.name.lower() in (described or {}):
            return Finding("standard field", spec.full_name, "exists", "ok")
        if spec.optional_because:
            return Finding("standard field", spec.full_name, "exists", "ok", spec.optional_because)
        return Finding("standard field", spec.full_name, "exists", "missing", NOT_CREATABLE)

    def _stage_findings(self, described: Described | None) -> list[Finding]:
        present = stage_names(described)
        return [_stage_finding(s, s.name in present) for s in self.spec.stages]

    def _access_findings(self) -> list[Finding]:
        pset_id = self._permission_set_id()
        label = self.spec.permission_set_label
        findings = [
            Finding("permission set", label, "exists", "ok" if pset_id else "missing", "", pset_id)
        ]
        objects = self._object_permissions(pset_id) if pset_id else {}
        for obj in self.spec.objects:
            wanted = obj.permissions
            findings.append(_grant_finding("object access", obj.name, wanted, objects))
        granted = self._field_permissions(pset_id) if pset_id else {}
        for spec in self.spec.fields:
            wanted = spec.permissions
            findings.append(_grant_finding("access", spec.full_name, wanted, granted))
        if self.assignee_id:
            findings.append(self._assignment_finding(pset_id, self.assignee_id))
        return findings

    def _permission_set_id(self) -> str | None:
        name = soql_literal(self.spec.permission_set)
        soql = f"SELECT Id FROM PermissionSet WHERE Name = {name}"  # noqa: S608 (escaped)
        rows = list(self.client.query(soql))
        return str(rows[0]["Id"]) if rows else None

    def _object_permissions(self, pset_id: str) -> dict[str, dict[str, Any]]:
        columns = "Id, SobjectType, " + ", ".join(OBJECT_PERMISSIONS)
        where = f"ParentId = {soql_literal(pset_id)}"
        soql = f"SELECT {columns} FROM ObjectPermissions WHERE {where}"  # noqa: S608 (escaped)
        return {str(r["SobjectType"]).lower(): r for r in self.client.query(soql)}

    def _field_permissions(self, pset_id: str) -> dict[str, dict[str, Any]]:
        columns = "Id, Field, PermissionsRead, PermissionsEdit"
        where = f"ParentId = {soql_literal(pset_id)}"
        soql = f"SELECT {columns} FROM FieldPermissions WHERE {where}"  # noqa: S608 (escaped)
        return {str(r["Field"]).lower(): r for r in self.client.query(soql)}

    def _assignment_finding(self, pset_id: str | None, assignee_id: str) -> Finding:
        found = False
        if pset_id:
            where = f"PermissionSetId = {soql_literal(pset_id)}"
            where += f" AND AssigneeId = {soql_literal(assignee_id)}"
            soql = f"SELECT Id FROM PermissionSetAssignment WHERE {where}"  # noqa: S608 (escaped)
            found = bool(list(self.client.query(soql)))
        status: Status = "ok" if found else "missing"
        return Finding("assignment", self.spec.permission_set_label, assignee_id, status)

    # --- changes -------------------------------------------------------------------------------

    def apply(self) -> Report:
        """Create what ``inspect`` found missing; report each item's outcome."""
        report = self.inspect()
        done: list[Finding] = []
        for finding in report.findings:
            fixable = finding.status == "missing" and finding.kind not in _FIXED_ELSEWHERE
            done.append(self._fix(finding, done) if fixable else finding)
        done = self._add_stages(done)
        if any(f.detail == HIDDEN for f in done):
            done = self._recheck_hidden(done)
        return Report(tuple(done))

    def _recheck_hidden(self, done: list[Finding]) -> list[Finding]:
        """Objects and fields that existed but were invisible to us: verify them now that
        access is granted."""
        described = {name: self._describe(name) for name in self._sobjects()}
        out = []
        for finding in done:
            if finding.detail == HIDDEN:
                finding = self._recheck(finding, described)
                if finding.status == "missing":
                    finding = replace(finding, status="failed", detail=STILL_HIDDEN)
            out.append(finding)
        return out

    def _recheck(self, finding: Finding, described: dict[str, Described | None]) -> Finding:
        if finding.kind == "object":
            spec = next(o for o in self.spec.objects if o.name == finding.name)
            return self._object_finding(spec, described[spec.name])
        field_spec = self._field_spec(finding.name)
        return self._field_finding(field_spec, described[field_spec.sobject])

    def _add_stages(self, done: list[Finding]) -> list[Finding]:
        """Add every missing stage with one change to the standard value set."""
        missing = {f.name for f in done if f.kind == "stage" and f.status == "missing"}
        if not missing:
            return done
        try:
            add_stages(self.client, [s for s in self.spec.stages if s.name in missing])
        except APIError as exc:
            return [_settle(f, missing, "failed", exc.message) for f in done]
        return [_settle(f, missing, "created", "") for f in done]

    def _fix(self, finding: Finding, done: Iterable[Finding]) -> Finding:
        try:
            return self._create(finding, done)
        except APIError as exc:
            return replace(finding, status="failed", detail=exc.message)

    def _create(self, finding: Finding, done: Iterable[Finding]) -> Finding:
        if finding.kind == "object":
            return self._create_object(finding)
        if finding.kind == "field":
            return self._create_field(finding)
        if finding.kind == "permission set":
            body = {"Name": self.spec.permission_set, "Label": self.spec.permission_set_label}
            new_id = self.client.create("PermissionSet", body)
            return replace(finding, status="created", record_id=new_id)
        pset_id = _permission_set_of(done)
        if finding.kind == "object access":
            return self._grant_object(finding, pset_id)
        if finding.kind == "access":
            return self._grant(finding, pset_id)
        self.client.create(
            "PermissionSetAssignment", {"PermissionSetId": pset_id, "AssigneeId": self.assignee_id}
        )
        return replace(finding, status="created")

    def _field_spec(self, full_name: str) -> FieldSpec:
        return next(f for f in self.spec.fields if f.full_name == full_name)

    def _create_object(self, finding: Finding) -> Finding:
        spec = next(o for o in self.spec.objects if o.name == finding.name)
        try:
            self.client.create_custom_object(spec.name, spec.metadata())
        except APIError as exc:
            if exc.code not in _ALREADY_EXISTS:
                raise
            return replace(finding, detail=HIDDEN)  # exists; hidden until object access
        return replace(finding, status="created")

    def _create_field(self, finding: Finding) -> Finding:
        spec = self._field_spec(finding.name)
        try:
            self.client.create_custom_field(spec.full_name, spec.metadata())
        except APIError as exc:
            if exc.code not in _ALREADY_EXISTS:
                raise
            # Describe hides fields the user cannot read; look again once access is granted.
            return replace(finding, detail=HIDDEN)
        return replace(finding, status="created")

    def _grant(self, finding: Finding, pset_id: str) -> Finding:
        flags = self._field_spec(finding.name).permissions
        if finding.record_id:
            self.client.update("FieldPermissions", finding.record_id, _raised(flags))
        else:
            sobject = finding.name.split(".", 1)[0]
            body = {"ParentId": pset_id, "SobjectType": sobject, "Field": finding.name, **flags}
            self.client.create("FieldPermissions", body)
        return replace(finding, status="granted")

    def _grant_object(self, finding: Finding, pset_id: str) -> Finding:
        flags = next(o for o in self.spec.objects if o.name == finding.name).permissions
        if finding.record_id:
            self.client.update("ObjectPermissions", finding.record_id, _raised(flags))
        else:
            body = {"ParentId": pset_id, "SobjectType": finding.name, **flags}
            self.client.create("ObjectPermissions", body)
        return replace(finding, status="granted")


_FIXED_ELSEWHERE = frozenset({"standard field", "stage"})


def _stage_finding(spec: StageSpec, present: bool) -> Finding:
    return Finding("stage", spec.name, spec.expected, "ok" if present else "missing")


def _settle(finding: Finding, names: set[str], status: Status, detail: str) -> Finding:
    if finding.kind != "stage" or finding.name not in names:
        return finding
    return replace(finding, status=status, detail=detail)


def _grant_finding(
    kind: Kind, name: str, wanted: dict[str, bool], granted: dict[str, dict[str, Any]]
) -> Finding:
    """``ok`` when the grant on ``name`` has every flag ``wanted``; else ``missing`` (with the
    existing grant's id, to raise it in place)."""
    current = granted.get(name.lower())
    ok = current is not None and all(current.get(f) for f, on in wanted.items() if on)
    perm_id = str(current["Id"]) if current else None
    status: Status = "ok" if ok else "missing"
    return Finding(kind, name, _describe_flags(wanted), status, "", perm_id)


def _describe_flags(flags: dict[str, bool]) -> str:
    return " + ".join(f.removeprefix("Permissions").lower() for f, on in flags.items() if on)


def _raised(flags: dict[str, bool]) -> dict[str, bool]:
    """The flags to switch on in an existing grant (never switch one off)."""
    return {f: True for f, on in flags.items() if on}


def _permission_set_of(done: Iterable[Finding]) -> str:
    for finding in done:
        if finding.kind == "permission set" and finding.record_id:
            return finding.record_id
    raise NotFound("the cosell permission set could not be created")


def _expected(spec: FieldSpec) -> str:
    size = f"({spec.length:,})" if spec.length else ""
    extra = ", external id, unique" if spec.external_id else ""
    return f"{spec.type}{size}{extra}"


def field_differences(spec: FieldSpec, current: dict[str, Any]) -> Iterable[str]:
    """Why an existing field does not serve cosell (empty when it does)."""
    actual = current.get("type")
    if actual != spec.describe_type:
        yield f"is {actual}, expected {spec.describe_type} ({spec.type})"
        return
    if (
        spec.length
        and spec.type in ("Text", "LongTextArea")
        and current.get("length", 0) < spec.length
    ):
        yield f"length {current.get('length')}, expected at least {spec.length}"
    if spec.external_id and not current.get("externalId"):
        yield "not an external id"
    if spec.unique and not current.get("unique"):
        yield "not unique"
    if spec.values:
        present = {p.get("value") for p in current.get("picklistValues") or []}
        absent = [v for v in spec.values if v not in present]
        if absent:
            yield "picklist lacks " + ", ".join(absent)
    if spec.reference_to and spec.reference_to not in (current.get("referenceTo") or []):
        yield f"does not reference {spec.reference_to}"
