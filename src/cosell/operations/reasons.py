"""Why a record is stuck, in plain words with the fix, from the engine's one-line reasons.

Dead letters and queue errors keep the engine's exact text (``RejectedError: PATCH <url> -> 400
FIELD_CUSTOM_VALIDATION_EXCEPTION: …``) for logs and support; people read ``plain_reason``:
which side said what, without the URL, the status line or a repeated code.
"""

from __future__ import annotations

import re
from dataclasses import dataclass

from cosell.store.records import LedgerRow

_HEAD = re.compile(
    r"^(?P<halted>halted: )?(?:gave up after (?P<tries>\d+) attempts: )?"
    r"(?:(?P<kind>[A-Z][A-Za-z]+): )?(?P<rest>.*)$",
    re.S,
)
_CALL = re.compile(
    r"^(?P<method>GET|POST|PATCH|PUT|DELETE) (?P<url>\S+)"
    r"(?: -> (?P<status>\d{3}))?(?: (?P<code>[A-Z][A-Z0-9_]+))?: (?P<message>.*)$",
    re.S,
)
_URL = re.compile(r"https?://\S+")


@dataclass(frozen=True)
class PlainReason:
    """What happened (``text``) and what a person can do about it (``fix``)."""

    text: str
    fix: str
    raw: str


def plain_reason(raw: str) -> PlainReason:
    """The engine's reason as a sentence and a fix (``raw`` kept for support)."""
    head = _HEAD.match(raw.strip())
    assert head is not None  # the pattern matches any text
    kind, rest = head["kind"] or "", head["rest"]
    call = _CALL.match(rest)
    side = _side(call["url"] if call else rest)
    message = _message(call["message"], call["code"]) if call else _URL.sub("", rest).strip()
    if head["halted"] or kind in ("AuthError", "FatalError"):
        return PlainReason(
            f"cosell cannot sign in to {side}: {message}",
            f"Renew cosell's access to {side} (cosell doctor shows which), then Retry.",
            raw,
        )
    if head["tries"] or kind in ("ServerError", "TransportError", "Throttled"):
        tries = f" after {head['tries']} tries" if head["tries"] else ""
        return PlainReason(
            f"{side} did not answer properly{tries}: {message}",
            f"Retry once {side} is working again; nothing is lost meanwhile.",
            raw,
        )
    if kind == "NotFound":
        return PlainReason(
            f"{side} no longer has this record: {message}",
            "Check whether it was deleted or merged; Retry once it exists again.",
            raw,
        )
    if kind == "NotReady":
        return PlainReason(
            f"Partner Center cannot take this record yet: {message}",
            "Fill in what is missing in the CRM: the record syncs on its own once it changes.",
            raw,
        )
    if kind in ("RejectedError", "RecordRejected", "PropertiesRejected", "Conflict", "Ambiguous"):
        return PlainReason(
            f"{side} refused this record: {message}",
            "Correct the record as the message says: a change to it syncs it again on its own "
            "(or press Retry).",
            raw,
        )
    return PlainReason(message or raw, "Press Retry; if it fails again, see cosell audit.", raw)


def _side(text: str) -> str:
    if "/services/" in text or "salesforce" in text.lower():
        return "Salesforce"
    if "engagements" in text or "referrals" in text or "partner" in text.lower():
        return "Partner Center"
    return "The other side"


def _message(message: str, code: str | None) -> str:
    text = message.strip()
    if code:
        while text.startswith(f"{code}: ") or text.startswith(f"{code} "):
            text = text[len(code) + 1 :].strip(": ").strip()
        text = f"{text} ({_words(code)})" if text else _words(code)
    return _URL.sub("", text).strip()


def _words(code: str) -> str:
    return code.replace("_", " ").lower()


def ledger_reason(entry: LedgerRow, dead_letter: str | None = None) -> PlainReason | None:
    """Why a record is in its ledger state and what changes it (``None`` when it is fine)."""
    raw = entry.raw or dead_letter or entry.reason
    setting = entry.setting or ""
    if entry.state == "refused":
        return plain_reason(raw)
    if entry.state == "waiting":
        fix = f"Fill in {setting} in the CRM" if setting else "Fill in what is missing in the CRM"
        return PlainReason(
            f"Partner Center cannot take this record yet: {entry.reason}",
            f"{fix}: the record syncs on its own once it changes.",
            raw,
        )
    if entry.state == "skipped":
        fix = f"Change {setting} to include it." if setting else "Nothing to do."
        if setting == "sync flag":
            fix = "Tick the sync flag on the opportunity to sync it again."
        return PlainReason(entry.reason, fix, raw)
    if entry.state == "expired":
        return PlainReason(
            entry.reason,
            "Nothing can sync it now: ask the Microsoft seller to share it again, "
            "or enter the deal in the CRM by hand.",
            raw,
        )
    return _waiting_for_people(entry, raw)


def _waiting_for_people(entry: LedgerRow, raw: str) -> PlainReason | None:
    if entry.state == "conflict":
        return PlainReason(entry.reason, "Decide on the Conflicts page (or cosell conflicts).", raw)
    if entry.state == "parked":
        fix = entry.setting or "Fix the record on one side, then Retry."
        return PlainReason(entry.reason, fix, raw)
    if entry.state == "held":
        return PlainReason(
            entry.reason,
            "Accept the referral (in Partner Center or with the CRM's accept field): the held "
            "edits then sync.",
            raw,
        )
    if entry.state in ("closed", "synced") and entry.reason:
        return PlainReason(entry.reason, "Nothing to do.", raw)
    return None
