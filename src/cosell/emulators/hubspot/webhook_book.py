"""The app's webhook settings and subscriptions, and the events a store change becomes; the
management routes and the delivery are in ``webhooks.py``."""

from __future__ import annotations

import itertools
from typing import Any

from cosell.emulators.hubspot.store import Change
from cosell.emulators.hubspot.wire import epoch_ms, validation

OBJECTS = ("deal", "company", "contact", "line_item")
EVENTS = ("creation", "deletion", "propertyChange", "associationChange", "merge", "restore")
EVENT_TYPES = frozenset(f"{o}.{e}" for o in OBJECTS for e in EVENTS)
MAX_SUBSCRIPTIONS = 1000


class WebhookBook:
    """The app's webhook settings, its subscriptions and the events waiting to be sent."""

    def __init__(self) -> None:
        self.target_url: str | None = None
        self.subscriptions: dict[int, dict[str, Any]] = {}
        self._ids = itertools.count(1)
        self._events = itertools.count(1)
        self.pending: list[dict[str, Any]] = []

    def subscribe(self, body: Any, stamp: str) -> dict[str, Any]:
        if not isinstance(body, dict) or body.get("eventType") not in EVENT_TYPES:
            raise validation(f"eventType must be one of {sorted(EVENT_TYPES)}.")
        if body["eventType"].endswith("propertyChange") and not body.get("propertyName"):
            raise validation("A propertyChange subscription needs a propertyName.")
        if body.get("propertyName") in ("hs_lastmodifieddate", "num_unique_conversion_events"):
            raise validation(f"Property {body['propertyName']} cannot be subscribed to.")
        if len(self.subscriptions) >= MAX_SUBSCRIPTIONS:
            raise validation(
                "Couldn't create another subscription. You've reached the maximum number "
                f"allowed per application ({MAX_SUBSCRIPTIONS})."
            )
        subscription = {
            "id": next(self._ids),
            "createdAt": stamp,
            "eventType": body["eventType"],
            "active": bool(body.get("active", True)),
        }
        if body.get("propertyName"):
            subscription["propertyName"] = str(body["propertyName"])
        self.subscriptions[subscription["id"]] = subscription
        return subscription

    def events_for(self, change: Change, portal_id: int, app_id: int) -> list[dict[str, Any]]:
        wanted = f"{change.kind.singular}.{change.event}"
        return [
            self._event(s, change, portal_id, app_id)
            for s in self.subscriptions.values()
            if s["active"]
            and s["eventType"] == wanted
            and s.get("propertyName") in (None, change.property_name)
        ]

    def _event(
        self, subscription: dict[str, Any], change: Change, portal_id: int, app_id: int
    ) -> dict[str, Any]:
        event: dict[str, Any] = {
            "eventId": next(self._events),
            "subscriptionId": subscription["id"],
            "portalId": portal_id,
            "appId": app_id,
            "occurredAt": epoch_ms(change.occurred_at),
            "subscriptionType": subscription["eventType"],
            "attemptNumber": 0,
            "objectId": int(change.object_id),
            "changeSource": change.source.change_source,
            "sourceId": change.source.source_id,
        }
        if change.event == "propertyChange":
            event["propertyName"] = change.property_name
            event["propertyValue"] = change.property_value
        if change.event in ("creation", "deletion"):
            event["changeFlag"] = "NEW" if change.event == "creation" else "DELETED"
        return event
