"""Deal registration: the one write a Won referral accepts, and Microsoft's review of it.

A partner registers a Won co-sell or partner-led deal with one JSON Patch op
(``add /registrations/-`` with a DealRegistration value), then corrects it with ``add``/``replace``
ops on ``/registrations/0/contract/*`` and ``/registrations/0/solutionDetails/0/*``. The service
fills the id, ``registrationDateTime``, ``status`` and ``statusHistory``; Microsoft's review
(played through the control surface) moves the status on.
"""

from __future__ import annotations

import copy
from collections.abc import Callable, Mapping
from datetime import datetime, timedelta
from functools import partial
from typing import Any

import jsonpatch

from cosell.emulators.partner_center import lifecycle
from cosell.emulators.partner_center.responses import (
    format_time,
    invalid,
    new_id,
    parse_time,
)

ROOT = "/registrations"
ADD_PATH = "/registrations/-"
WAIT_AFTER_CREATE = timedelta(hours=72)
REGISTRATION_TYPES = frozenset({"AzureIPCoSell"})
# status -> its statusHistory key; ReviewPending is where every (re)submission lands
HISTORY_KEYS = {
    "ReviewPending": "reviewPendingDateTime",
    "ActionRequired": "actionRequiredDateTime",
    "Passed": "passedDateTime",
    "Failed": "failedDateTime",
    "Approved": "approvedDateTime",
}
REVIEW_OUTCOMES = frozenset({"ActionRequired", "Passed", "Failed", "Approved"})
EDITABLE_STATUSES = frozenset({"ReviewPending", "ActionRequired"})

Check = Callable[[Any, str], Any]


def _number(value: Any, target: str) -> Any:
    """A JSON number, or a numeric string (lenient, as for ``dealValue``)."""
    if isinstance(value, str):
        try:
            number = float(value)
        except ValueError:
            raise invalid(f"{target} must be a number.", target) from None
        return int(number) if number.is_integer() else number
    if isinstance(value, bool) or not isinstance(value, int | float):
        raise invalid(f"{target} must be a number.", target)
    return value


def _text(value: Any, target: str) -> Any:
    if not isinstance(value, str):
        raise invalid(f"{target} must be a string.", target)
    return value


def _moment(value: Any, target: str) -> Any:
    try:
        parse_time(_text(value, target))
    except ValueError:
        raise invalid(f"{target} must be an ISO 8601 date/time.", target) from None
    return value


def _flag(value: Any, target: str) -> Any:
    if not isinstance(value, bool):
        raise invalid(f"{target} must be true or false.", target)
    return value


def _one_of(choices: frozenset[str], value: Any, target: str) -> Any:
    if value not in choices:
        raise invalid(f"{target} {value!r} is not one of {sorted(choices)}.", target)
    return value


CONTRACT_FIELDS: dict[str, Check] = {
    "value": _number,
    "currency": _text,
    "startDateTime": _moment,
    "endDateTime": _moment,
    "signDateTime": _moment,
    "term": partial(_one_of, frozenset({"Perpetual", "Finite"})),
}
SOLUTION_FIELDS: dict[str, Check] = {
    "value": _number,
    "currency": _text,
    "isDeployedOnAzure": _flag,
    "primaryDeploymentOn": partial(_one_of, frozenset({"Customer", "Partner"})),
    "pricingModel": partial(_one_of, frozenset({"PayAsYouGo", "Other"})),
}
MARKETPLACE_FIELDS: dict[str, Check] = {
    "isMarketplaceTransacted": _flag,
    "marketplaceTransactionDateTime": _moment,
}
# the paths of the update shape, each with the check its value must pass
UPDATE_PATHS: dict[str, Check] = {
    **{f"/registrations/0/contract/{k}": c for k, c in CONTRACT_FIELDS.items()},
    **{f"/registrations/0/solutionDetails/0/{k}": c for k, c in SOLUTION_FIELDS.items()},
    **{
        f"/registrations/0/solutionDetails/0/marketplaceTransactionDetails/{k}": c
        for k, c in MARKETPLACE_FIELDS.items()
    },
}


def targets_registrations(ops: Any) -> bool:
    """True when a patch body touches ``/registrations`` (it must then touch nothing else)."""
    if not isinstance(ops, list):
        return False
    return any(isinstance(op, dict) and _under_root(op.get("path")) for op in ops)


def apply(referral: Mapping[str, Any], now: datetime, *, ops: list[Any]) -> dict[str, Any]:
    """The referral after a deal-registration patch: a new registration, or an update of it."""
    for index, op in enumerate(ops):
        if not isinstance(op, dict) or not _under_root(op.get("path")):
            raise invalid(
                "A deal registration patch may only contain operations under /registrations.",
                f"[{index}].path",
            )
    if any(op.get("path") == ADD_PATH for op in ops):
        return register(referral, ops, now)
    return revise(referral, ops, now)


def register(referral: Mapping[str, Any], ops: list[Any], now: datetime) -> dict[str, Any]:
    """``add /registrations/-``: check eligibility, fill the server's fields, review pending."""
    if len(ops) != 1 or ops[0].get("op") != "add":
        raise invalid("Register a deal with exactly one add operation on /registrations/-.", "[0]")
    check_eligible(referral, now)
    value = ops[0].get("value")
    if not isinstance(value, dict):
        raise invalid("The registration value must be an object.", "[0].value")
    after = copy.deepcopy(dict(referral))
    after["registrations"] = [_registration(value, referral, now)]
    after["registrationStatus"] = "ReviewPending"
    return after


def check_eligible(referral: Mapping[str, Any], now: datetime) -> None:
    """400 naming the first deal-registration rule the referral breaks."""
    if referral.get("registrations"):
        raise invalid("The referral already has a deal registration.", "registrations")
    if (referral.get("status"), referral.get("substatus")) != ("Closed", "Won"):
        raise invalid("Only a Closed/Won referral can be registered.", "status")
    consent = (referral.get("consent") or {}).get("consentToShareReferralWithMicrosoftSellers")
    if not consent and not lifecycle.is_co_sell(dict(referral)):
        raise invalid(
            "A private referral cannot be registered; it must be co-sell or partner-led.",
            "consent.consentToShareReferralWithMicrosoftSellers",
        )
    if not _solution_ids(referral):
        target = "details.requirements.solutions"
        raise invalid("A referral without a solution cannot be registered.", target)
    ready = parse_time(str(referral["createdDateTime"])) + WAIT_AFTER_CREATE
    if now < ready:
        raise invalid(
            "A referral can be registered 72 hours after it was created "
            f"(from {format_time(ready)}).",
            "createdDateTime",
        )


def revise(referral: Mapping[str, Any], ops: list[Any], now: datetime) -> dict[str, Any]:
    """``add``/``replace`` on registration 0's contract and solution 0; back to review."""
    current = referral.get("registrations") or []
    if not current:
        raise invalid("The referral has no deal registration to update.", "registrations")
    if current[0].get("status") not in EDITABLE_STATUSES:
        message = f"A deal registration in status {current[0].get('status')!r} cannot be changed."
        raise invalid(message, "registrations[0].status")
    checked = [_checked_op(index, op) for index, op in enumerate(ops)]
    try:
        after: dict[str, Any] = jsonpatch.apply_patch(dict(referral), checked)
    except (jsonpatch.JsonPatchException, jsonpatch.JsonPointerException) as exc:
        raise invalid(f"The patch cannot be applied: {exc}", "body") from None
    _move(after, "ReviewPending", None, now)
    return after


def review(
    referral: Mapping[str, Any], now: datetime, *, status: object, reason: object
) -> dict[str, Any]:
    """Microsoft's review of registration 0: ActionRequired, Passed, Failed or Approved."""
    if not referral.get("registrations"):
        raise invalid("The referral has no deal registration to review.", "registrations")
    outcome: str = _one_of(REVIEW_OUTCOMES, status, "status")
    text: str | None = None if reason is None else _text(reason, "statusReason")
    after = copy.deepcopy(dict(referral))
    _move(after, outcome, text, now)
    return after


def _move(referral: dict[str, Any], status: str, reason: str | None, now: datetime) -> None:
    registration = referral["registrations"][0]
    registration["status"], registration["statusReason"] = status, reason
    registration["statusHistory"][HISTORY_KEYS[status]] = format_time(now)
    referral["registrationStatus"] = status


def _registration(value: Mapping[str, Any], referral: Mapping[str, Any], now: datetime) -> Any:
    kind = value.get("type", "AzureIPCoSell")
    _one_of(REGISTRATION_TYPES, kind, "[0].value.type")
    contract = value.get("contract") or {}
    if not isinstance(contract, dict):
        raise invalid("contract must be an object.", "[0].value.contract")
    history = dict.fromkeys(HISTORY_KEYS.values())
    history["reviewPendingDateTime"] = format_time(now)
    return {
        "id": new_id(),
        "type": kind,
        "registrationDateTime": format_time(now),
        "status": "ReviewPending",
        "statusReason": None,
        "contract": _fields(CONTRACT_FIELDS, contract, "[0].value.contract"),
        "solutionDetails": _solutions(value.get("solutionDetails"), referral),
        "statusHistory": history,
    }


def _solutions(given: Any, referral: Mapping[str, Any]) -> list[dict[str, Any]]:
    """The registered solutions; each must be on the deal. None given: every deal solution."""
    names = _solution_ids(referral)
    if given in (None, []):
        given = [{"id": solution_id} for solution_id in names]
    if not isinstance(given, list):
        raise invalid("solutionDetails must be an array.", "[0].value.solutionDetails")
    return [
        _solution(item, names, f"[0].value.solutionDetails[{i}]") for i, item in enumerate(given)
    ]


def _solution(item: Any, names: Mapping[str, Any], target: str) -> dict[str, Any]:
    if not isinstance(item, dict):
        raise invalid(f"{target} must be an object.", target)
    if item.get("id") not in names:
        raise invalid(f"{target}.id {item.get('id')!r} is not a solution on the referral.", target)
    market = item.get("marketplaceTransactionDetails") or {}
    if not isinstance(market, dict):
        raise invalid("marketplaceTransactionDetails must be an object.", target)
    return {
        "id": item["id"],
        "name": names[item["id"]],
        **_fields(SOLUTION_FIELDS, item, target),
        "marketplaceTransactionDetails": _fields(
            MARKETPLACE_FIELDS, market, f"{target}.marketplaceTransactionDetails"
        ),
    }


def _fields(checks: Mapping[str, Check], given: Mapping[str, Any], target: str) -> dict[str, Any]:
    """Every field of ``checks`` (null when absent), each present value checked."""
    out: dict[str, Any] = {}
    for key, check in checks.items():
        value = given.get(key)
        out[key] = None if value is None else check(value, f"{target}.{key}")
    return out


def _checked_op(index: int, op: dict[str, Any]) -> dict[str, Any]:
    if op.get("op") not in ("add", "replace"):
        raise invalid(
            f"Operation {op.get('op')!r} is not supported; use add or replace.", f"[{index}].op"
        )
    check = UPDATE_PATHS.get(str(op.get("path")))
    if check is None:
        raise invalid(f"Path {op.get('path')!r} cannot be patched.", f"[{index}].path")
    value = op.get("value")
    value = None if value is None else check(value, f"[{index}].value")
    return {"op": op["op"], "path": op["path"], "value": value}


def _solution_ids(referral: Mapping[str, Any]) -> dict[str, Any]:
    """The referral's solutions by id (their names as values)."""
    solutions = ((referral.get("details") or {}).get("requirements") or {}).get("solutions") or []
    return {s["id"]: s.get("name") for s in solutions if isinstance(s, dict) and s.get("id")}


def _under_root(path: Any) -> bool:
    return isinstance(path, str) and (path == ROOT or path.startswith(ROOT + "/"))
