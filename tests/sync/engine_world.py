"""The engine's test world: both emulators in-process, the real clients over ``TestClient``,
the org set up with ``cosell.orgsetup``, a SQLite store in ``tmp_path`` and the engine on top."""

from __future__ import annotations

import random
from dataclasses import dataclass, field
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import httpx
from pydantic import SecretStr
from starlette.applications import Starlette
from starlette.testclient import TestClient

from cosell.clients.entra_auth import (
    REFERRALS_RESOURCE,
    AppCredentials,
    Audience,
    Authority,
    BearerAuth,
    PasswordGrant,
)
from cosell.clients.partner_center import PartnerCenterClient
from cosell.clients.retry import RetryPolicy
from cosell.clients.salesforce import SalesforceClient
from cosell.clients.salesforce_auth import TOKEN_PATH, SalesforceAuth
from cosell.clients.salesforce_auth import PasswordGrant as SalesforcePassword
from cosell.clock import ManualClock, OffsetClock
from cosell.emulators.partner_center import PartnerCenterEmulatorConfig
from cosell.emulators.partner_center.app import create_app as create_pc_app
from cosell.emulators.salesforce import SalesforceEmulatorConfig
from cosell.emulators.salesforce import create_app as create_sf_app
from cosell.orgsetup.salesforce import OrgSetup
from cosell.orgsetup.spec import connector_spec
from cosell.queue.embedded import EmbeddedQueue, QueueStats
from cosell.store.records import TenantId
from cosell.store.sql import Store, sqlite_url
from cosell.sync.core.mapping import default_mapping
from cosell.sync.engine.engine import Engine

PC_BASE = "http://127.0.0.1:8601"
SF_BASE = "http://127.0.0.1:8602"
PC_CONFIG = PartnerCenterEmulatorConfig(public_url=PC_BASE)
SF_CONFIG = SalesforceEmulatorConfig(public_url=SF_BASE)
EXTRA_STAGES = (
    {"name": "On Hold", "probability": 10},
    {"name": "Declined", "probability": 0, "closed": True},
)
"""Stages the default mapping uses that a fresh org lacks (an admin adds them)."""
START = datetime(2026, 3, 2, 9, 0, tzinfo=UTC)


def pc_http(app: Starlette, clock: OffsetClock) -> TestClient:
    """An authenticated client of the Partner Center emulator (ROPC, as a sandbox user)."""
    http = TestClient(app, base_url=PC_BASE)
    grant = PasswordGrant(
        AppCredentials(PC_CONFIG.client_id, SecretStr(PC_CONFIG.client_secret)),
        PC_CONFIG.username,
        SecretStr(PC_CONFIG.password),
        Authority(tenant=PC_CONFIG.tenant, url=PC_BASE),
        Audience(resource=REFERRALS_RESOURCE, version="v1"),
    )
    http.auth = BearerAuth(grant, clock=clock)
    return http


def sf_http(app: Starlette) -> TestClient:
    """An authenticated client of the Salesforce emulator (password flow)."""
    grant = SalesforcePassword(
        SF_CONFIG.client_id, SF_CONFIG.client_secret, SF_CONFIG.username, SF_CONFIG.password
    )
    http = TestClient(app, base_url=SF_BASE)
    http.auth = SalesforceAuth(grant, SF_BASE + TOKEN_PATH, http=TestClient(app, base_url=SF_BASE))
    return http


def prepare_org(app: Starlette, client: SalesforceClient) -> None:
    """What an admin does once: ``cosell setup salesforce`` and the on-hold/declined stages."""
    report = OrgSetup(client, connector_spec()).apply()
    assert report.clean, report
    control = TestClient(app, base_url=SF_BASE)
    for stage in EXTRA_STAGES:
        response = control.post("/_emulator/stages", json=stage)
        assert response.status_code == 200, response.text


@dataclass
class World:
    """Two emulated systems, the store, the engine and helpers to act as people on each side."""

    pc_app: Starlette
    sf_app: Starlette
    pc_control: TestClient
    pc_client: PartnerCenterClient
    sf_client: SalesforceClient
    clock: ManualClock
    emulator_clock: OffsetClock
    store: Store
    tenant: TenantId
    engine: Engine
    delivered: list[bytes] = field(default_factory=list)
    """The bodies of the webhook deliveries Partner Center sent (once a registration asks)."""

    # --- people on each side -----------------------------------------------------------------

    def share_referral(self, **body: Any) -> dict[str, Any]:
        """A Microsoft seller shares a co-sell referral with us."""
        fields = {"name": "Shared by Microsoft", "type": "Shared", **body}
        response = self.pc_control.post("/_emulator/referrals", json=fields)
        assert response.status_code == 201, response.text
        referral: dict[str, Any] = response.json()
        return referral

    def microsoft_update(self, referral_id: str, **changes: Any) -> dict[str, Any]:
        response = self.pc_control.patch(f"/_emulator/referrals/{referral_id}", json=changes)
        assert response.status_code == 200, response.text
        referral: dict[str, Any] = response.json()
        return referral

    def referral(self, referral_id: str) -> dict[str, Any]:
        return self.pc_client.get_referral(referral_id).to_wire()

    def referrals(self) -> list[dict[str, Any]]:
        return [r.to_wire() for r in self.pc_client.list_referrals()]

    def account(self, **fields: Any) -> str:
        values = {"Name": "Northwind Traders", "BillingCountry": "US", **fields}
        return self.sf_client.create("Account", values)

    def opportunity(
        self, *, contacts: int = 1, solutions: tuple[str, ...] = (), **fields: Any
    ) -> str:
        """A seller's opportunity with an account, contacts (with roles) and solution rows."""
        account_id = fields.pop("AccountId", None) or self.account()
        values = {
            "Name": "Northwind renewal",
            "StageName": "Prospecting",
            "CloseDate": "2026-09-30",
            "Amount": 125000,
            "CurrencyIsoCode": "USD",
            "Description": "Renewal with Azure migration",
            "AccountId": account_id,
            **fields,
        }
        opportunity_id = self.sf_client.create("Opportunity", values)
        for n in range(contacts):
            self.add_contact(opportunity_id, f"buyer{n}@northwind.example", account_id)
        for solution in solutions:
            self.add_solution(opportunity_id, solution)
        return opportunity_id

    def add_contact(self, opportunity_id: str, email: str, account_id: str | None = None) -> str:
        contact = {"FirstName": "Jo", "LastName": email.split("@")[0].title(), "Email": email}
        if account_id:
            contact["AccountId"] = account_id
        contact_id = self.sf_client.create("Contact", contact)
        role = {"OpportunityId": opportunity_id, "ContactId": contact_id}
        self.sf_client.create("OpportunityContactRole", role)
        return contact_id

    def add_solution(self, opportunity_id: str, solution_id: str) -> str:
        row = {"Name": solution_id, "Solution_Id__c": solution_id, "Opportunity__c": opportunity_id}
        return self.sf_client.create("Microsoft_Solution__c", row)

    def edit(self, opportunity_id: str, **fields: Any) -> None:
        """A seller edits the opportunity (a second later, as people do)."""
        self.emulator_clock.advance(1)
        self.sf_client.update("Opportunity", opportunity_id, fields)

    def hold_time(self) -> None:
        """The emulated systems' time stops running on the wall clock: it moves only when
        advanced (a test that counts the re-reads of a write made in one second needs the
        second not to end on its own)."""
        self.emulator_clock._base = ManualClock(self.emulator_clock.now())

    def opp(self, opportunity_id: str) -> dict[str, Any]:
        return self.sf_client.get("Opportunity", opportunity_id)

    def query(self, soql: str) -> list[dict[str, Any]]:
        return list(self.sf_client.query(soql))

    # --- the engine and the queue ------------------------------------------------------------

    def sync(self, key: str) -> None:
        self.emulator_clock.advance(1)
        self.engine.reconcile_key(key)

    def queue(self, engine: Engine | None = None) -> EmbeddedQueue:
        retry = RetryPolicy(base=1.0, cap=60.0, max_retry_after=600.0, clock=self.clock)
        retry.rng = random.Random(7)
        handler = (engine or self.engine).reconcile
        return EmbeddedQueue(self.store, handler, workers=1, clock=self.clock, retry=retry)

    def full_pass(self, engine: Engine | None = None) -> QueueStats:
        """Every flagged-or-linked opportunity and every referral, reconciled until idle."""
        self.emulator_clock.advance(1)
        keys = [f"opportunity:{i}" for i in self.engine.crm.flagged_or_linked()]
        keys += [f"referral:{i}" for i in self.engine.pc.all_ids()]
        queue = self.queue(engine)
        queue.enqueue_many(self.tenant, keys)
        return queue.run_until_idle(timeout=30)

    def writes(self) -> int:
        """Write calls both emulators have seen (logins excluded)."""
        total = 0
        for app in (self.pc_app, self.sf_app):
            seen = app.state.emulator.calls.snapshot()
            # Salesforce counts the calls that wrote (a composite of queries is a POST that reads)
            calls = seen.get("writes", seen["calls"])
            total += sum(
                n
                for route, n in calls.items()
                if not route.startswith("GET ") and "oauth2" not in route
            )
        return total

    def link_for(self, opportunity_id: str) -> Any:
        return self.store.link_by_opportunity(self.tenant, opportunity_id)


class WorldClock(ManualClock):
    """The connector's clock in a world: a wait it makes lets the emulated systems' time pass
    as well (a guarded write waits for the second of the record's last edit to be over)."""

    def __init__(self, start: datetime, emulated: OffsetClock) -> None:
        super().__init__(start)
        self._emulated = emulated

    def sleep(self, seconds: float) -> None:
        super().sleep(seconds)
        self._emulated.advance(max(seconds, 0.0))


def build_world(tmp_path: Path, store: Store | None = None) -> World:
    emulator_clock = OffsetClock()
    delivered: list[bytes] = []

    def deliver(request: httpx.Request) -> httpx.Response:
        delivered.append(request.content)
        return httpx.Response(200)

    delivery = httpx.Client(transport=httpx.MockTransport(deliver))
    pc_app = create_pc_app(PC_CONFIG, clock=emulator_clock, delivery_client=delivery)
    sf_app = create_sf_app(SF_CONFIG, clock=emulator_clock)
    clock = WorldClock(START, emulator_clock)
    sleeps = ManualClock(START)
    pc_client = PartnerCenterClient(
        pc_http(pc_app, emulator_clock),
        retry=RetryPolicy(attempts=2, clock=sleeps, rng=random.Random(1)),
    )
    sf_client = SalesforceClient(
        sf_http(sf_app), retry=RetryPolicy(attempts=2, clock=sleeps, rng=random.Random(2))
    )
    prepare_org(sf_app, sf_client)
    store = store or Store.open(sqlite_url(tmp_path), clock=clock)
    tenant = store.ensure_tenant("test")
    engine = Engine.build(
        store=store,
        tenant=tenant,
        partner_center=pc_client,
        salesforce=sf_client,
        mapping=default_mapping(),
        clock=clock,
    )
    control = TestClient(pc_app, base_url=PC_BASE)
    return World(
        pc_app,
        sf_app,
        control,
        pc_client,
        sf_client,
        clock,
        emulator_clock,
        store,
        tenant,
        engine,
        delivered,
    )
