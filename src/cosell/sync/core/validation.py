"""Pre-submit co-sell checks: what Partner Center would reject, said precisely, before we call it.

The engine calls :func:`check_cosell_ready` before creating or updating a referral and shows the
reasons on the CRM record; the record retries once it changes.
"""

from __future__ import annotations

import re
from collections.abc import Callable
from dataclasses import dataclass

from cosell.sync.core.countries import suggest_iso2, to_iso2
from cosell.sync.core.mapping import SyncMapping
from cosell.sync.core.records import CanonicalRecord, Value
from cosell.sync.core.translate import HELP_CODE_PATH, SOLUTIONS_PATH

_ISO2 = re.compile(r"^[A-Z]{2}$")
_ISO4217 = re.compile(r"^[A-Z]{3}$")
_DATE = re.compile(r"^\d{4}-\d{2}-\d{2}$")
_DECIMAL = re.compile(r"^-?\d+\.\d{2}$")
HELP_CODES = frozenset(
    {
        "WorkloadSpecificValueProposition",
        "CustomerTechnicalArchitecture",
        "ProofOfConceptOrDemo",
        "QuotesOrLicensing",
        "PostSalesCustomerSuccess",
        "GeneralOrOther",
    }
)
"""Partner Center's assistance codes (``Unknown`` is not a request for help)."""

REQUIRED = {
    "name": "Deal name",
    "details.dealValue": "Deal value",
    "details.closingDateTime": "Close date",
}
"""Partner Center paths every referral needs, with their human names."""


@dataclass(frozen=True)
class Problem:
    """Why a record cannot be submitted: the field and a reason a seller can act on."""

    field: str
    reason: str

    def __str__(self) -> str:
        return self.reason


def check_cosell_ready(record: CanonicalRecord, mapping: SyncMapping) -> list[Problem]:
    """Every reason Partner Center would refuse this record (empty when ready)."""
    checks: list[Callable[[CanonicalRecord, SyncMapping], list[Problem]]] = [
        _required,
        _formats,
        _country,
        _help_code,
        _cosell_needs,
    ]
    return [problem for check in checks for problem in check(record, mapping)]


def _field(mapping: SyncMapping, path: str) -> str | None:
    return mapping.field_for_pc(path)


def _value(record: CanonicalRecord, name: str | None) -> Value:
    return record.get(name) if name else None


def _required(record: CanonicalRecord, mapping: SyncMapping) -> list[Problem]:
    problems = []
    for path, label in REQUIRED.items():
        name = _field(mapping, path)
        if name and _value(record, name) is None:
            crm = mapping.fields[name].crm
            problems.append(Problem(name, f"{label} is required (CRM field {crm} is empty)"))
    return problems


def _formats(record: CanonicalRecord, mapping: SyncMapping) -> list[Problem]:
    problems = []
    for name, spec in mapping.fields.items():
        value = record.get(name)
        if value is None:
            continue
        if spec.transform == "decimal" and not _DECIMAL.match(str(value)):
            problems.append(Problem(name, _number_reason(spec.crm, str(value))))
        if spec.transform == "date" and not _DATE.match(str(value)):
            problems.append(Problem(name, f"{spec.crm} {value!r} is not a date (YYYY-MM-DD)"))
        if spec.transform == "currency" and not _ISO4217.match(str(value)):
            reason = f"Currency {value!r} is not an ISO 4217 three-letter code (e.g. 'USD')"
            problems.append(Problem(name, reason))
    return problems


def _number_reason(crm: str, value: str) -> str:
    try:
        number = float(value)
    except ValueError:
        return f"{crm} {value!r} is not a number"
    if number != number or number in (float("inf"), float("-inf")):
        return f"{crm} {value!r} is not a finite number"
    return f"{crm} {value!r} is out of range (at most 18 digits)"


def _country(record: CanonicalRecord, mapping: SyncMapping) -> list[Problem]:
    problems = []
    for name, spec in mapping.fields.items():
        value = record.get(name)
        if spec.transform != "iso2_country":
            continue
        if value is None:
            problems.append(Problem(name, f"Customer country is required (CRM field {spec.crm})"))
        elif not (isinstance(value, str) and _ISO2.match(value) and to_iso2(value)):
            problems.append(Problem(name, _country_reason(str(value))))
    return problems


def _country_reason(value: str) -> str:
    hint = suggest_iso2(value)
    example = f"expected e.g. {hint!r}" if hint else "e.g. 'US', 'DE'"
    return f"Customer country {value!r} is not an ISO 3166 two-letter code ({example})"


def _help_code(record: CanonicalRecord, mapping: SyncMapping) -> list[Problem]:
    name = _field(mapping, HELP_CODE_PATH)
    code = _value(record, name)
    if name is None or code is None or code in HELP_CODES:
        return []
    labels = ", ".join(sorted((mapping.fields[name].values or {}).values())) or "see mapping"
    return [Problem(name, f"'How can Microsoft help?' value {code!r} is unknown ({labels})")]


def _cosell_needs(record: CanonicalRecord, mapping: SyncMapping) -> list[Problem]:
    """Co-sell (help requested) needs a solution id and a customer contact with an email."""
    if _value(record, _field(mapping, HELP_CODE_PATH)) is None:
        return []
    problems = []
    solutions = _field(mapping, SOLUTIONS_PATH)
    if solutions and not _value(record, solutions):
        problems.append(Problem(solutions, "Solution ID is required for co-sell (add one)"))
    contacts = _field(mapping, "customerProfile.team")
    if contacts and not _has_email(_value(record, contacts)):
        reason = "A customer contact with an email is required when Microsoft help is requested"
        problems.append(Problem(contacts, reason))
    return problems


def _has_email(members: Value) -> bool:
    if not isinstance(members, list):
        return False
    return any(isinstance(m, dict) and m.get("email") for m in members)
