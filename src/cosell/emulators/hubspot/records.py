"""Records and who wrote them: property values, their history, and what search can see."""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import datetime, timedelta
from typing import Any

from cosell.emulators.hubspot.types import ALWAYS, ObjectType
from cosell.emulators.hubspot.wire import format_time


@dataclass(frozen=True)
class Source:
    """Who made a change: an app through the API (``INTEGRATION``) or a user in the UI."""

    source_type: str
    source_id: str
    user_id: int | None = None
    app_id: int | None = None

    @property
    def change_source(self) -> str:
        """The ``changeSource`` a webhook event names."""
        return "CRM_UI" if self.source_type == "CRM_UI" else "INTEGRATION"

    def object_source(self) -> str:
        return "CRM_UI" if self.source_type == "CRM_UI" else "API"


@dataclass
class Snapshot:
    """What the search index holds for a record from ``visible_at`` on."""

    visible_at: datetime
    properties: dict[str, str]
    archived: bool


@dataclass
class Record:
    id: str
    kind: ObjectType
    properties: dict[str, str]
    created_at: datetime
    updated_at: datetime
    history: dict[str, list[dict[str, Any]]] = field(default_factory=dict)
    archived: bool = False
    archived_at: datetime | None = None
    snapshots: list[Snapshot] = field(default_factory=list)

    def set(self, name: str, value: str | None, moment: datetime, source: Source) -> bool:
        """Set one value and record its history; False when it already had that value."""
        if self.properties.get(name) == value:
            return False
        if value is None:
            self.properties.pop(name, None)
        else:
            self.properties[name] = value
        entry: dict[str, Any] = {
            "value": value or "",
            "timestamp": format_time(moment),
            "sourceType": source.source_type,
            "sourceId": source.source_id,
        }
        if source.user_id is not None:
            entry["updatedByUserId"] = source.user_id
        self.history.setdefault(name, []).insert(0, entry)
        return True

    def index(self, now: datetime, lag: timedelta) -> None:
        """Queue the current state for search at ``now + lag``; drop snapshots that a newer one
        visible at ``now`` already hides."""
        self.snapshots.append(Snapshot(now + lag, dict(self.properties), self.archived))
        visible = [i for i, s in enumerate(self.snapshots) if s.visible_at <= now]
        if len(visible) > 1:
            del self.snapshots[: visible[-1]]

    def searchable(self, now: datetime) -> Snapshot | None:
        """The newest state the index shows at ``now`` (None: not indexed yet)."""
        shown = [s for s in self.snapshots if s.visible_at <= now]
        return shown[-1] if shown else None

    def view(
        self,
        names: list[str] | None,
        with_history: list[str] | None = None,
        properties: dict[str, str] | None = None,
    ) -> dict[str, Any]:
        """The ``SimplePublicObject`` body with the asked properties (None: the defaults)."""
        values = self.properties if properties is None else properties
        wanted = list(self.kind.defaults) if names is None else [*names, *ALWAYS]
        body: dict[str, Any] = {
            "id": self.id,
            "properties": {n: values.get(n) for n in dict.fromkeys(wanted)},
            "createdAt": format_time(self.created_at),
            "updatedAt": format_time(self.updated_at),
            "archived": self.archived,
        }
        if self.archived_at is not None:
            body["archivedAt"] = format_time(self.archived_at)
        if with_history:
            body["propertiesWithHistory"] = {n: self.history.get(n, []) for n in with_history}
        return body

    def written(self) -> dict[str, Any]:
        """A create/update response: every value the record holds."""
        return self.view(sorted(self.properties))
