"""Small in-memory stand-ins for the queue, the cursor store and the two remote listings."""

from __future__ import annotations

import re
from collections.abc import Iterator, Mapping
from datetime import datetime
from typing import Any

from cosell.clients.referral import Referral
from cosell.store.records import TenantId
from support.queues import RecordingQueue

ACME = TenantId(1)
__all__ = ["ACME", "Cursors", "RecordingQueue"]


class Cursors:
    def __init__(self) -> None:
        self.values: dict[tuple[TenantId, str], str] = {}

    def get_cursor(self, tenant: TenantId, name: str) -> str | None:
        return self.values.get((tenant, name))

    def set_cursor(self, tenant: TenantId, name: str, value: str) -> None:
        self.values[(tenant, name)] = value


_SINCE = re.compile(r"SystemModstamp >= (\S+)")


class FakeSalesforce:
    """Answers the poll query from a dict of Id → SystemModstamp, honouring >= and order."""

    def __init__(self) -> None:
        self.stamps: dict[str, datetime] = {}
        self.queries: list[str] = []
        self.priorities: list[str | None] = []

    def query(self, soql: str, *, priority: str | None = None) -> Iterator[Mapping[str, Any]]:
        self.queries.append(soql)
        self.priorities.append(priority)
        found = _SINCE.search(soql)
        since = datetime.fromisoformat(found.group(1)) if found else None
        rows = sorted((stamp, id_) for id_, stamp in self.stamps.items())
        for stamp, id_ in rows:
            if since is None or stamp >= since:
                yield {
                    "attributes": {"type": "Opportunity"},
                    "Id": id_,
                    "SystemModstamp": stamp.strftime("%Y-%m-%dT%H:%M:%S.000+0000"),
                }


class FakePartnerCenter:
    """Answers referral listings from a dict of id → updatedDateTime."""

    def __init__(self) -> None:
        self.updated: dict[str, datetime] = {}
        self.listings: list[datetime | None] = []

    def changed_since(self, since: datetime | None) -> Iterator[Referral]:
        self.listings.append(since)
        for stamp, id_ in sorted((s, i) for i, s in self.updated.items()):
            if since is None or stamp >= since.replace(microsecond=0):
                wire = stamp.isoformat().replace("+00:00", "Z")
                yield Referral.model_validate({"id": id_, "updatedDateTime": wire})
