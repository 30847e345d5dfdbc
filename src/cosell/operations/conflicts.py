"""``cosell conflicts``: fields both sides changed differently, and recording how to settle them.

A resolution is stored on the conflict as JSON text (``Resolution.encode``) and the link's key
is enqueued. The engine applies it on that reconcile: it reads the link's *resolved* conflicts
(``store.conflicts(tenant, state="resolved")``), decodes each with ``Resolution.decode`` and
writes ``value_for(conflict)`` to whichever side differs, then takes it as the field's base.
"""

from __future__ import annotations

import json
from dataclasses import dataclass
from typing import Any, Literal

from cosell.operations.links_view import link_ids
from cosell.queue.protocol import queue_key
from cosell.store.records import FieldConflict, TenantId
from cosell.store.sql import Store
from cosell.sync.engine.account_review import NEW_ACCOUNT
from cosell.sync.engine.resolutions import ACCOUNT_FIELD

Take = Literal["partner_center", "crm", "value"]
TAKE_CHOICES: tuple[str, ...] = ("partner_center", "crm", "value=<value>")


@dataclass(frozen=True)
class Resolution:
    """Which value wins: Partner Center's, the CRM's, or one the operator typed."""

    take: Take
    value: Any = None

    @classmethod
    def parse(cls, option: str) -> Resolution:
        """From ``--take``: ``partner_center``, ``crm`` or ``value=<JSON or text>``."""
        if option in ("partner_center", "crm"):
            return cls(option)  # type: ignore[arg-type]
        name, sep, raw = option.partition("=")
        if name != "value" or not sep:
            raise ValueError(f"--take must be one of {', '.join(TAKE_CHOICES)}, not {option!r}")
        if not raw:
            raise ValueError("value= needs a value (value='\"\"' for an empty text)")
        return cls("value", _json_or_text(raw))

    @classmethod
    def decode(cls, text: str) -> Resolution:
        """A stored resolution (``ValueError`` when it is not one)."""
        try:
            data = json.loads(text)
            take = data["take"]
        except (ValueError, TypeError, KeyError) as exc:
            raise ValueError(f"not a conflict resolution: {text!r}") from exc
        if take not in ("partner_center", "crm", "value"):
            raise ValueError(f"not a conflict resolution: {text!r}")
        return cls(take, data.get("value"))

    def encode(self) -> str:
        body: dict[str, Any] = {"take": self.take}
        if self.take == "value":
            body["value"] = self.value
        return json.dumps(body, sort_keys=True)

    def value_for(self, conflict: FieldConflict) -> Any:
        """The value both sides get."""
        if self.take == "partner_center":
            return conflict.pc
        if self.take == "crm":
            return conflict.crm
        return self.value

    def describe(self) -> str:
        if self.take == "value":
            return f"value {json.dumps(self.value)}"
        return "Partner Center's value" if self.take == "partner_center" else "the CRM's value"


@dataclass(frozen=True)
class ConflictView:
    """An open conflict with the ids of its link."""

    conflict: FieldConflict
    referral_id: str | None
    opportunity_id: str | None

    @property
    def key(self) -> str | None:
        """The queue key that reconciles the link."""
        if self.referral_id:
            return queue_key("referral", self.referral_id)
        return queue_key("opportunity", self.opportunity_id) if self.opportunity_id else None


def open_conflicts(store: Store, tenant: TenantId) -> list[ConflictView]:
    """Open conflicts, oldest first, with their links' ids."""
    return [_view(store, tenant, c) for c in store.conflicts(tenant, "open")]


def _view(store: Store, tenant: TenantId, conflict: FieldConflict) -> ConflictView:
    referral_id, opportunity_id = link_ids(store, tenant, conflict.link_id)
    return ConflictView(conflict, referral_id, opportunity_id)


def resolve(
    store: Store, tenant: TenantId, conflict_id: int, resolution: Resolution
) -> ConflictView:
    """Record the resolution and enqueue the link; ``LookupError`` when no such conflict is
    open, ``ValueError`` when the resolution does not fit it (see ``check_account_choice``)."""
    found = next((v for v in open_conflicts(store, tenant) if v.conflict.id == conflict_id), None)
    if found is not None and found.conflict.field == ACCOUNT_FIELD:
        check_account_choice(found.conflict, resolution)
    if found is None or not store.resolve_conflict(tenant, conflict_id, resolution.encode()):
        raise LookupError(f"no open conflict has id {conflict_id}")
    if found.key is not None:
        store.enqueue(tenant, found.key)
    return found


def account_candidates(conflict: FieldConflict) -> list[dict[str, Any]]:
    """The matching accounts of an account conflict (id, name, country, postal code)."""
    found = conflict.crm if isinstance(conflict.crm, list) else []
    return [c for c in found if isinstance(c, dict) and c.get("Id")]


def check_account_choice(conflict: FieldConflict, resolution: Resolution) -> None:
    """An account conflict is settled by naming one of the matching accounts, or ``new`` for
    a new account. Taking "Partner Center's value" would create one more account named like
    the ones that already match: a duplicate nobody asked for, so it is refused."""
    ids = [str(c["Id"]) for c in account_candidates(conflict)]
    if resolution.take == "crm":
        return
    if resolution.take == "value" and str(resolution.value) in (*ids, NEW_ACCOUNT):
        return
    raise ValueError(
        "an account conflict takes one of the matching accounts "
        f"(value=<id>: {', '.join(ids) or 'none listed'}) or value={NEW_ACCOUNT} "
        "for a new account"
    )


def _json_or_text(raw: str) -> Any:
    try:
        return json.loads(raw)
    except ValueError:
        return raw
