"""One deployment as the operations commands see it: settings, its store and both clients.

Everything is built on first use, so ``cosell audit`` never signs in anywhere and ``cosell
doctor`` can report a broken connection without failing the others.
"""

from __future__ import annotations

from functools import cached_property
from typing import Protocol

import httpx

from cosell.clients.connect import (
    HttpFactory,
    default_http,
    followed_clock,
    partner_center_client,
    salesforce_client,
)
from cosell.clients.partner_center import PartnerCenterClient
from cosell.clients.salesforce import SalesforceClient
from cosell.clock import Clock
from cosell.private_files import private_dir
from cosell.settings import Settings
from cosell.store.records import TenantId
from cosell.store.sql import Store


class _Closable(Protocol):
    def close(self) -> None: ...


class Deployment:
    """Lazily opened parts of one cosell deployment; ``close`` releases what was opened."""

    def __init__(self, settings: Settings, clock: Clock, http: HttpFactory = default_http) -> None:
        self.settings = settings
        self.clock = followed_clock(settings, clock, http)
        self._http = http
        self._opened: list[_Closable] = []

    @cached_property
    def store(self) -> Store:
        """The store, migrated to the newest schema (as ``cosell run`` would)."""
        private_dir(self.settings.service.state_dir)
        store = Store.open(self.settings.database_url, clock=self.clock)
        self._opened.append(store)
        return store

    @cached_property
    def tenant(self) -> TenantId:
        return self.store.ensure_tenant(self.settings.tenant.name)

    @cached_property
    def partner_center(self) -> PartnerCenterClient:
        return partner_center_client(self.settings, self.clock, self._tracked)

    @cached_property
    def salesforce(self) -> SalesforceClient:
        return salesforce_client(self.settings, self.clock, self._tracked)

    def _tracked(self, base_url: str, auth: httpx.Auth | None) -> httpx.Client:
        client = self._http(base_url, auth)
        self._opened.append(client)
        return client

    def close(self) -> None:
        for part in reversed(self._opened):
            part.close()
        self._opened.clear()

    def __enter__(self) -> Deployment:
        return self

    def __exit__(self, *_: object) -> None:
        self.close()
