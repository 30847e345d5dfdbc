"""Referral operations on the store: create, read, list, patch, put, expiry, Microsoft's side.

Every method expects the caller to hold the emulator's lock; each write stamps a new eTag and
``updatedDateTime``, saves the store and fires the matching webhook event.
"""

from __future__ import annotations

import copy
import heapq
from collections.abc import Callable, Mapping, Sequence
from datetime import datetime, timedelta
from functools import partial
from typing import Any, overload

import jsonpatch

from cosell.emulators.created import CreatedMoments
from cosell.emulators.partner_center import lifecycle, registrations
from cosell.emulators.partner_center.defaults import MICROSOFT, skeleton
from cosell.emulators.partner_center.host import Host
from cosell.emulators.partner_center.responses import (
    ApiError,
    format_time,
    invalid,
    new_etag,
    new_id,
    parse_time,
    precondition_failed,
)

EXPIRY = timedelta(days=14)
RegistrationChange = Callable[[dict[str, Any], datetime], dict[str, Any]]
SERVER_OWNED = frozenset(
    {
        "id",
        "eTag",
        "createdDateTime",
        "updatedDateTime",
        "direction",
        "links",
        "organizationId",
        "organizationName",
        "acceptedDateTime",
        "closedDateTime",
        "registrations",
        "registrationStatus",
        "quality",
        "isSpam",
        "tags",
        "@odata.context",
    }
)


FIXED_FIELDS = frozenset({"id", "createdDateTime"})
"""Referral fields set at creation that no write changes."""


class _Listing(Sequence[dict[str, Any]]):
    """A selected listing's referrals in order, each as it is now (looked up by id when read)."""

    def __init__(self, ids: list[str], items: Mapping[str, dict[str, Any]]) -> None:
        self._ids = ids
        self._items = items

    def __len__(self) -> int:
        return len(self._ids)

    @overload
    def __getitem__(self, index: int) -> dict[str, Any]: ...

    @overload
    def __getitem__(self, index: slice) -> list[dict[str, Any]]: ...

    def __getitem__(self, index: int | slice) -> dict[str, Any] | list[dict[str, Any]]:
        if isinstance(index, slice):
            return [self._items[i] for i in self._ids[index]]
        return self._items[self._ids[index]]


class ReferralBook:
    """The referrals of one emulated tenant, with Partner Center's write rules."""

    def __init__(self, host: Host) -> None:
        self.host = host
        self._expiries: list[tuple[datetime, str]] | None = None
        """(expiration, id) of referrals that may expire, earliest first (a heap), built on
        first use; an entry is checked against the referral when it comes due, so one a later
        write made stale (accepted, or a new expiration pushed beside it) is skipped."""
        self._moments: dict[str, datetime] = {}
        self.created = CreatedMoments()
        """When each referral was created (see :mod:`cosell.emulators.created`)."""
        self._writes = 0
        """Referrals created or updated so far: a listing sorted before the last one is stale."""
        self._inserts = 0
        """Referrals created so far: a listing of fixed fields only is stale after one."""
        self._listed: tuple[tuple[object, ...], list[str]] | None = None
        """The last listing selected (its key, then the ids of its referrals in order)."""

    @property
    def _items(self) -> dict[str, dict[str, Any]]:
        return self.host.data.referrals

    def get(self, referral_id: str) -> dict[str, Any]:
        referral = self._items.get(referral_id.lower())
        if referral is None:
            message = f"Referral {referral_id!r} was not found."
            raise ApiError(404, "itemNotFound", message, "id")
        return referral

    def select(
        self,
        predicate: Callable[[Mapping[str, Any]], bool],
        order: tuple[str, bool],
        name: str | None = None,
        fields: frozenset[str] | None = None,
    ) -> Sequence[dict[str, Any]]:
        """The referrals ``predicate`` keeps, in ``order``. With ``name`` (the ``$filter`` text
        the predicate was made from), the same listing asked again with nothing written since,
        as a caller paging through it does, is not filtered and sorted again: at 100,000
        referrals that was a tenth of a second a page, a thousand pages a pass. When the filter
        reads (``fields``) and the order sorts by fields no write changes (``id``,
        ``createdDateTime``), only a new referral makes it stale: a caller that writes each
        referral of a page before asking for the next (a first sync) is not made to wait for
        a filter and sort of every referral a page. Each page shows the referrals as they are."""
        field, descending = order
        fixed = fields is not None and fields | {field} <= FIXED_FIELDS
        writes = self._inserts if fixed else self._writes
        key = (name, order, fixed, writes, id(self._items), len(self._items))
        if name is None or self._listed is None or self._listed[0] != key:
            found = [r for r in self._items.values() if predicate(r)]
            found.sort(key=lambda r: (self._moment(r[field]), r["id"]), reverse=descending)
            ids = [r["id"] for r in found]
            if name is None:
                return found
            self._listed = (key, ids)
        return _Listing(self._listed[1], self._items)

    def _moment(self, text: str) -> datetime:
        """``parse_time`` of a stored timestamp, remembered: a listing sorts every referral by
        one, page after page, and most of them have not changed since the last page."""
        moment = self._moments.get(text)
        if moment is None:
            if len(self._moments) > 4 * len(self._items) + 1024:
                self._moments.clear()
            moment = self._moments[text] = parse_time(text)
        return moment

    def create(self, body: dict[str, Any]) -> dict[str, Any]:
        """A partner's own (outgoing) referral; New/Pending comes back Active/Accepted."""
        lifecycle.check_create(body)
        referral = self._build(body, direction="Outgoing")
        if referral["status"] == "New":
            referral["status"], referral["substatus"] = "Active", "Accepted"
        lifecycle.check_status(referral, None)
        referral["acceptedDateTime"] = referral["createdDateTime"]
        return self._insert(referral, "referral-created")

    def patch(self, referral_id: str, ops: Any, if_match: str | None) -> dict[str, Any]:
        if registrations.targets_registrations(ops):
            change = partial(registrations.apply, ops=ops)
            return self.change_registration(referral_id, change, if_match)
        before = self._writable(referral_id, if_match)
        allowed = lifecycle.PATCHABLE_PATHS | set(self.host.config.extra_patch_paths)
        _check_ops(ops, allowed)
        try:
            after = jsonpatch.apply_patch(before, ops)
        except (jsonpatch.JsonPatchException, jsonpatch.JsonPointerException) as exc:
            raise invalid(f"The patch cannot be applied: {exc}", "body") from None
        return self._update(before, after, "referral-updated")

    def change_registration(
        self, referral_id: str, change: RegistrationChange, if_match: str | None
    ) -> dict[str, Any]:
        """Deal registration: the one write a Closed (Won) referral accepts."""
        before = self._matching(referral_id, if_match)
        return self._insert(change(before, self.host.clock.now()), "referral-updated")

    def put(self, referral_id: str, body: Any, if_match: str | None) -> dict[str, Any]:
        if not if_match:
            raise invalid("The If-Match header is required for a full update.", "If-Match")
        if not isinstance(body, dict):
            raise invalid("The body must be a referral object.", "body")
        if "links" in body:
            raise invalid("Remove the links object from the body of a full update.", "links")
        before = self._writable(referral_id, if_match)
        after = copy.deepcopy(before)
        after.update({k: v for k, v in body.items() if k not in SERVER_OWNED})
        return self._update(before, after, "referral-updated")

    def share_incoming(self, body: dict[str, Any]) -> dict[str, Any]:
        """A Microsoft seller shares a referral with the partner: Incoming, New/Pending.

        Without a ``type`` it is a co-sell referral (``Shared``), as a Microsoft seller's share
        is; a lead is created by saying so (``"type": "Independent"``)."""
        body = {"status": "New", "substatus": "Pending", "type": "Shared", **body}
        referral = self._build(body, direction="Incoming", microsoft_invite=True)
        lifecycle.check_status(referral, None)
        if referral["status"] == "New":
            expiry = parse_time(referral["createdDateTime"]) + EXPIRY
            referral["expirationDateTime"] = format_time(expiry)
        return self._insert(referral, "referral-created")

    def create_related(self, referral_id: str, body: dict[str, Any]) -> dict[str, Any]:
        """Microsoft's own referral in the same engagement (the other side of a co-sell)."""
        partner = self.get(referral_id)
        base = {"status": "New", "substatus": "Pending", "type": "Shared", **body}
        base["engagementId"] = partner["engagementId"]
        related = self._build(base, direction="Outgoing", owner=MICROSOFT)
        related["target"] = [{"type": "BusinessProfileLocation", "id": "msft"}]
        lifecycle.check_status(related, None)
        return self._insert(related, "related-referral-created")

    def microsoft_update(
        self, referral_id: str, changes: Any, if_match: str | None = None
    ) -> dict[str, Any]:
        """A change made on Microsoft's side (JSON merge patch); may close the referral. With
        ``if_match`` (the eTag Microsoft's seller saw) it is refused (412) after anyone's write
        since, as the partner API's own updates are: a read-modify-write of a list (the
        customer's team) then never drops a change made meanwhile."""
        if not isinstance(changes, dict):
            raise invalid("The body must be a JSON object (merge patch).", "body")
        before = self._writable(referral_id, if_match)
        after = copy.deepcopy(before)
        _merge(after, {k: v for k, v in changes.items() if k not in SERVER_OWNED})
        event = "related-referral-updated" if _is_microsoft(before) else "referral-updated"
        return self._update(before, after, event)

    def expire_due(self) -> list[str]:
        """Close incoming New referrals whose 14 days have passed (Closed/Expired). Runs before
        every request, so it looks only at the referrals due (see ``_expiries``), not at all."""
        now = self.host.clock.now()
        if self._expiries is None:
            self._expiries = [e for r in self._items.values() if (e := _expiry(r)) is not None]
            heapq.heapify(self._expiries)
        due: dict[str, dict[str, Any]] = {}
        while self._expiries and self._expiries[0][0] <= now:
            _, referral_id = heapq.heappop(self._expiries)
            referral = self._items.get(referral_id)
            if referral is not None and _expired(referral, now):
                due[referral_id] = referral
        for referral in due.values():
            after = dict(referral, status="Closed", substatus="Expired")
            self._update(referral, after, "referral-updated")
        return list(due)

    def _matching(self, referral_id: str, if_match: str | None) -> dict[str, Any]:
        referral = self.get(referral_id)
        if if_match is not None and if_match.strip() not in ("*", referral["eTag"]):
            raise precondition_failed()
        return referral

    def _writable(self, referral_id: str, if_match: str | None) -> dict[str, Any]:
        referral = self._matching(referral_id, if_match)
        if referral["status"] == "Closed":
            raise lifecycle.closed_error()
        return referral

    def _build(
        self,
        body: dict[str, Any],
        *,
        direction: str,
        owner: tuple[str, str] | None = None,
        microsoft_invite: bool = False,
    ) -> dict[str, Any]:
        org = owner or (self.host.organization_id, "Sandbox Partner")
        referral = skeleton(org, direction, microsoft_invite)
        _merge(referral, {k: v for k, v in body.items() if k not in SERVER_OWNED})
        lifecycle.coerce_deal_value(referral)
        lifecycle.check_fields(referral)
        now = format_time(self.host.clock.now())
        referral |= {"id": new_id(), "createdDateTime": now}
        referral["engagementId"] = str(referral.get("engagementId") or new_id()).lower()
        return referral

    def _insert(self, referral: dict[str, Any], event: str) -> dict[str, Any]:
        self._stamp(referral)
        self._writes += 1
        self._inserts += 1
        self._items[referral["id"]] = referral
        self.created.stamp(referral["id"])
        self._fire(event, referral)
        return referral

    def _update(self, before: dict[str, Any], after: dict[str, Any], event: str) -> dict[str, Any]:
        lifecycle.coerce_deal_value(after)
        lifecycle.check_status(after, before)
        lifecycle.check_visibility(after, before)
        lifecycle.check_fields(after)
        for key in SERVER_OWNED:
            if key in before:
                after[key] = before[key]
        if after["status"] == "Active" and before["status"] != "Active":
            after["acceptedDateTime"] = format_time(self.host.clock.now())
        if after["status"] == "Closed":
            after["closedDateTime"] = format_time(self.host.clock.now())
        self._stamp(after)
        self._writes += 1
        self._items[after["id"]] = after
        self._fire(event, after)
        return after

    def _stamp(self, referral: dict[str, Any]) -> None:
        now = self.host.clock.now()
        referral["updatedDateTime"] = format_time(now)
        referral["eTag"] = new_etag(now)
        base = f"{self.host.config.base_url}/v1.0/engagements/referrals"
        related = f"{base}?$filter=engagementId eq '{referral['engagementId']}'"
        referral["links"] = {
            "relatedReferrals": {"uri": related, "method": "GET"},
            "self": {"uri": f"{base}/{referral['id']}", "method": "GET"},
        }

    def _fire(self, event: str, referral: dict[str, Any]) -> None:
        expiry = _expiry(referral)
        if expiry is not None and self._expiries is not None:
            heapq.heappush(self._expiries, expiry)
        self.host.save([referral["id"]])
        uri = self.host.referral_uri(referral["id"])
        changed = parse_time(referral["updatedDateTime"])  # the change's time, to the tick
        self.host.notify(event, referral["id"], uri, "referral", changed)


def _check_ops(ops: Any, allowed: frozenset[str]) -> None:
    if not isinstance(ops, list) or not ops:
        raise invalid("The body must be a non-empty JSON Patch array.", "body")
    for index, op in enumerate(ops):
        if not isinstance(op, dict):
            raise invalid(f"Operation {index} must be an object.", f"[{index}]")
        if op.get("op") not in ("add", "replace"):
            raise invalid(
                f"Operation {op.get('op')!r} is not supported; use add or replace.", f"[{index}].op"
            )
        if op.get("path") not in allowed:
            raise invalid(f"Path {op.get('path')!r} cannot be patched.", f"[{index}].path")


def _merge(target: dict[str, Any], changes: Mapping[str, Any]) -> None:
    """Merge ``changes`` into ``target``: objects key by key, anything else replaces."""
    for key, value in changes.items():
        if isinstance(value, dict) and isinstance(target.get(key), dict):
            _merge(target[key], value)
        else:
            target[key] = copy.deepcopy(value)


def _is_microsoft(referral: Mapping[str, Any]) -> bool:
    return referral.get("organizationId") == MICROSOFT[0]


def _expiry(referral: Mapping[str, Any]) -> tuple[datetime, str] | None:
    """When the referral expires, if it is one that can (an incoming New one of ours)."""
    if referral.get("status") != "New" or referral.get("direction") != "Incoming":
        return None
    if _is_microsoft(referral) or not referral.get("expirationDateTime"):
        return None
    return parse_time(referral["expirationDateTime"]), str(referral["id"])


def _expired(referral: Mapping[str, Any], now: datetime) -> bool:
    expiry = _expiry(referral)
    return expiry is not None and expiry[0] <= now
