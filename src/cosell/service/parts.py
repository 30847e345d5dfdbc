"""What a tenant's service is built from, shared by its wiring (:mod:`cosell.service.runtime`)
and its background loops (:mod:`cosell.service.loops`)."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass

from cosell.clients.hubspot import HubSpotClient
from cosell.clients.partner_center import PartnerCenterClient
from cosell.clients.salesforce import SalesforceClient
from cosell.clock import Clock
from cosell.queue.distributed import DistributedQueue
from cosell.queue.embedded import EmbeddedQueue
from cosell.settings import Settings
from cosell.store.records import Job, TenantId
from cosell.store.sql import Store

Handler = Callable[[Job], None]
Queue = EmbeddedQueue | DistributedQueue


@dataclass(frozen=True)
class ServiceParts:
    """What the queue's handler (the sync engine) is built from."""

    settings: Settings
    clock: Clock
    store: Store
    tenant: TenantId
    partner_center: PartnerCenterClient
    salesforce: SalesforceClient | None
    hubspot: HubSpotClient | None = None


HandlerFactory = Callable[[ServiceParts], Handler]
