"""One engine world per CRM for the scenario suite that runs against both.

``CrmWorld`` is Partner Center's emulator, the store and the engine as in ``engine_world``, with
the CRM side chosen by name. Its ``Seller`` acts in that CRM in the mapping's terms: fields are
named by the mapping's canonical names ("deal_value", "stage"), stages by the stage table's role
("active", "won"), so one test reads the same for Salesforce opportunities and HubSpot deals.
"""

from __future__ import annotations

import random
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Protocol

import httpx
from engine_world import (
    PC_BASE,
    PC_CONFIG,
    SF_BASE,
    SF_CONFIG,
    START,
    pc_http,
    prepare_org,
    sf_http,
)
from starlette.applications import Starlette
from starlette.testclient import TestClient

from cosell.clients.hubspot import HubSpotClient
from cosell.clients.hubspot_auth import PrivateAppAuth
from cosell.clients.partner_center import PartnerCenterClient
from cosell.clients.retry import RetryPolicy
from cosell.clients.salesforce import SalesforceClient
from cosell.clients.soql import soql_literal
from cosell.clock import ManualClock, OffsetClock
from cosell.emulators.hubspot import HubSpotEmulatorConfig
from cosell.emulators.hubspot import create_app as create_hs_app
from cosell.emulators.partner_center.app import create_app as create_pc_app
from cosell.emulators.salesforce import create_app as create_sf_app
from cosell.orgsetup.hubspot import PortalSetup
from cosell.orgsetup.hubspot_spec import portal_spec_for
from cosell.queue.embedded import EmbeddedQueue, QueueStats
from cosell.store.records import TenantId
from cosell.store.sql import Store, sqlite_url
from cosell.sync.core.mapping import SyncMapping, default_mapping
from cosell.sync.engine.engine import Engine
from cosell.sync.sides.hubspot.mapping import hubspot_mapping
from cosell.sync.sides.hubspot.side import HubSpotSide
from cosell.sync.sides.partner_center import PartnerCenterSide

HS_BASE = "http://127.0.0.1:8603"
HS_CONFIG = HubSpotEmulatorConfig(
    public_url=HS_BASE, burst_limit=100_000, search_per_second=100_000
)
READS = ("GET ", "/search", "/batch/read", "oauth")
CRMS = ("salesforce", "hubspot")


class Seller(Protocol):
    """A seller working in the CRM."""

    app: Starlette

    def flagged_record(self, **canonical: Any) -> str: ...

    def edit(self, record_id: str, **canonical: Any) -> None: ...

    def move_to(self, record_id: str, role: str) -> None: ...

    def records(self) -> list[str]: ...

    def delete(self, record_id: str) -> None:
        """Delete the record (into the CRM's recycle bin)."""
        ...

    def companies(self) -> int: ...

    def edit_contact(self, email: str, phone: str | None = None, new_email: str = "") -> None:
        """Change the phone, or the email, of the contact with that email."""
        ...

    def contacts_named(self, first: str, last: str) -> list[str]:
        """The ids of every contact in the CRM with that name."""
        ...


@dataclass
class CrmWorld:
    crm: str
    pc_app: Starlette
    pc_control: TestClient
    pc_client: PartnerCenterClient
    clock: ManualClock
    emulator_clock: OffsetClock
    store: Store
    tenant: TenantId
    engine: Engine
    seller: Seller

    @property
    def mapping(self) -> SyncMapping:
        return self.engine.mapping

    def share_referral(self, **body: Any) -> dict[str, Any]:
        response = self.pc_control.post("/_emulator/referrals", json={"type": "Shared", **body})
        assert response.status_code == 201, response.text
        shared: dict[str, Any] = response.json()
        return shared

    def microsoft_update(self, referral_id: str, **changes: Any) -> None:
        response = self.pc_control.patch(f"/_emulator/referrals/{referral_id}", json=changes)
        assert response.status_code == 200, response.text

    def referral(self, referral_id: str) -> dict[str, Any]:
        return self.pc_client.get_referral(referral_id).to_wire()

    def referrals(self) -> list[dict[str, Any]]:
        return [r.to_wire() for r in self.pc_client.list_referrals()]

    def sync(self, key: str) -> None:
        self.emulator_clock.advance(1)
        self.engine.reconcile_key(key)

    def value(self, record_id: str, name: str) -> Any:
        """A field of the CRM record in the mapping's canonical form, as the engine reads it."""
        snapshot = self.engine.read("opportunity", record_id)
        assert snapshot.crm_values is not None
        return snapshot.crm_values.get(name)

    def stage(self, role: str) -> str:
        label: str = getattr(self.mapping.stages, role)
        return label

    def full_pass(self, arm: Callable[[], None] | None = None) -> QueueStats:
        """Reconcile every flagged or linked record and every referral through a retrying queue
        (``arm``: called once the keys are listed, before the first reconcile)."""
        self.emulator_clock.advance(1)
        keys = [f"opportunity:{i}" for i in self.engine.crm.flagged_or_linked()]
        keys += [f"referral:{i}" for i in self.engine.pc.all_ids()]
        if arm is not None:
            arm()
        retry = RetryPolicy(base=1.0, cap=60.0, max_retry_after=600.0, clock=self.clock)
        retry.rng = random.Random(7)
        queue = EmbeddedQueue(
            self.store, self.engine.reconcile, workers=1, clock=self.clock, retry=retry
        )
        queue.enqueue_many(self.tenant, keys)
        return queue.run_until_idle(timeout=30)

    def writes(self) -> int:
        """Data writes both emulators have seen (reads, searches and sign-ins excluded)."""
        total = 0
        for app in (self.pc_app, self.seller.app):
            calls = app.state.emulator.calls.snapshot()["calls"]
            total += sum(n for route, n in calls.items() if not any(r in route for r in READS))
        return total


class SalesforceSeller:
    def __init__(self, app: Starlette, client: SalesforceClient, mapping: SyncMapping) -> None:
        self.app, self.client, self.mapping = app, client, mapping
        self.clock: OffsetClock | None = None

    def _fields(self, canonical: dict[str, Any]) -> dict[str, Any]:
        return {self.mapping.fields[k].crm: v for k, v in canonical.items()}

    def flagged_record(self, **canonical: Any) -> str:
        account = self.client.create(
            "Account", {"Name": "Northwind Traders", "BillingCountry": "US"}
        )
        values = {
            "Name": "Northwind renewal",
            "StageName": "Prospecting",
            "CloseDate": "2026-09-30",
            "Amount": 125000,
            "CurrencyIsoCode": "USD",
            "AccountId": account,
            "Sync_with_Partner_Center__c": True,
            "How_can_Microsoft_help__c": "Customer technical architecture",
            "Products__c": "SOL-100",
            **self._fields(canonical),
        }
        record = self.client.create("Opportunity", values)
        contact = self.client.create(
            "Contact",
            {
                "FirstName": "Jo",
                "LastName": "Buyer",
                "Email": "buyer@northwind.example",
                "AccountId": account,
            },
        )
        self.client.create(
            "OpportunityContactRole", {"OpportunityId": record, "ContactId": contact}
        )
        return record

    def edit(self, record_id: str, **canonical: Any) -> None:
        self.client.update("Opportunity", record_id, self._fields(canonical))

    def move_to(self, record_id: str, role: str) -> None:
        self.client.update(
            "Opportunity", record_id, {"StageName": getattr(self.mapping.stages, role)}
        )

    def records(self) -> list[str]:
        return [str(r["Id"]) for r in self.client.query("SELECT Id FROM Opportunity")]

    def delete(self, record_id: str) -> None:
        self.client.delete("Opportunity", record_id)

    def companies(self) -> int:
        return len(list(self.client.query("SELECT Id FROM Account")))

    def edit_contact(self, email: str, phone: str | None = None, new_email: str = "") -> None:
        soql = f"SELECT Id FROM Contact WHERE Email = {soql_literal(email)}"  # noqa: S608
        (contact,) = self.client.query(soql)
        change = {"Email": new_email} if new_email else {"Phone": phone}
        self.client.update("Contact", str(contact["Id"]), change)

    def contacts_named(self, first: str, last: str) -> list[str]:
        where = f"FirstName = {soql_literal(first)} AND LastName = {soql_literal(last)}"
        soql = f"SELECT Id FROM Contact WHERE {where}"  # noqa: S608
        return sorted(str(row["Id"]) for row in self.client.query(soql))


class HubSpotSeller:
    def __init__(self, app: Starlette, client: HubSpotClient, side: HubSpotSide) -> None:
        self.app, self.side, self.mapping = app, side, side.mapping
        token = TestClient(app, base_url=HS_BASE).post("/_emulator/users", json={"user_id": 7})
        ui = TestClient(app, base_url=HS_BASE)
        ui.auth = PrivateAppAuth(token.json()["token"])
        self.ui = HubSpotClient(ui)  # a seller in HubSpot's UI, not our app
        self.client = client

    def _props(self, canonical: dict[str, Any]) -> dict[str, str]:
        props: dict[str, str] = {}
        for name, value in canonical.items():
            prop = self.mapping.fields[name].crm
            props[prop] = (
                ""
                if value is None
                else str(value).lower()
                if isinstance(value, bool)
                else str(value)
            )
        return props

    def flagged_record(
        self, *, company_values: dict[str, str] | None = None, **canonical: Any
    ) -> str:
        values = company_values or {"name": "Northwind Traders", "country": "US"}
        company = self.ui.create("companies", values)
        contact = self.ui.create(
            "contacts", {"firstname": "Jo", "lastname": "Buyer", "email": "buyer@northwind.example"}
        )
        props = {
            "dealname": "Northwind renewal",
            "dealstage": "qualifiedtobuy",
            "closedate": "2026-09-30T00:00:00.000Z",
            "amount": "125000",
            "deal_currency_code": "USD",
            "cosell_sync_with_partner_center": "true",
            "cosell_help_code": "Customer technical architecture",
            "cosell_products": "SOL-100",
            **self._props(canonical),
        }
        deal = self.ui.create(
            "deals",
            props,
            [
                {
                    "to": {"id": company["id"]},
                    "types": [{"associationCategory": "HUBSPOT_DEFINED", "associationTypeId": 5}],
                },
                {
                    "to": {"id": contact["id"]},
                    "types": [{"associationCategory": "HUBSPOT_DEFINED", "associationTypeId": 3}],
                },
            ],
        )
        return str(deal["id"])

    def edit(self, record_id: str, **canonical: Any) -> None:
        self.ui.update("deals", record_id, self._props(canonical))

    def move_to(self, record_id: str, role: str) -> None:
        stage = self.side.stages.id_for(getattr(self.mapping.stages, role))
        self.ui.update("deals", record_id, {"dealstage": stage})

    def records(self) -> list[str]:
        return [str(r["id"]) for r in self.client.search_all("deals")]

    def delete(self, record_id: str) -> None:
        self.ui.archive("deals", record_id)

    def companies(self) -> int:
        return self.client.search("companies").total

    def edit_contact(self, email: str, phone: str | None = None, new_email: str = "") -> None:
        where = [{"filters": [{"propertyName": "email", "operator": "EQ", "value": email}]}]
        (contact,) = self.ui.search("contacts", where).results
        change = {"email": new_email} if new_email else {"phone": phone}
        self.ui.update("contacts", str(contact["id"]), change)

    def contacts_named(self, first: str, last: str) -> list[str]:
        names = {"firstname": first, "lastname": last}
        filters = [{"propertyName": k, "operator": "EQ", "value": v} for k, v in names.items()]
        found = self.ui.search("contacts", [{"filters": filters}]).results
        return sorted(str(contact["id"]) for contact in found)


class CrashingStore(Store):
    """A store whose next ``commit_sync`` fails, as if the process died before committing."""

    crash_next = False

    def commit_sync(self, *args: Any, **kwargs: Any) -> Any:
        if self.crash_next:
            self.crash_next = False
            raise RuntimeError("process died before the commit")
        return super().commit_sync(*args, **kwargs)


def build_crm_world(tmp_path: Path, crm: str, store_class: type[Store] = Store) -> CrmWorld:
    emulator_clock = OffsetClock()
    delivery = httpx.Client(transport=httpx.MockTransport(lambda _r: httpx.Response(200)))
    pc_app = create_pc_app(PC_CONFIG, clock=emulator_clock, delivery_client=delivery)
    clock, sleeps = ManualClock(START), ManualClock(START)
    pc_client = PartnerCenterClient(
        pc_http(pc_app, emulator_clock),
        retry=RetryPolicy(attempts=2, clock=sleeps, rng=random.Random(1)),
    )
    store = store_class.open(sqlite_url(tmp_path), clock=clock)
    tenant = store.ensure_tenant("test")
    retry = RetryPolicy(attempts=2, clock=sleeps, rng=random.Random(2))
    seller: Seller
    if crm == "salesforce":
        sf_app = create_sf_app(SF_CONFIG, clock=emulator_clock)
        sf_client = SalesforceClient(sf_http(sf_app), retry=retry)
        prepare_org(sf_app, sf_client)
        engine = Engine.build(
            store=store,
            tenant=tenant,
            partner_center=pc_client,
            salesforce=sf_client,
            mapping=default_mapping(),
            clock=clock,
        )
        seller = SalesforceSeller(sf_app, sf_client, engine.mapping)
    else:
        hs_app = create_hs_app(HS_CONFIG, clock=emulator_clock, delivery_client=delivery)
        http = TestClient(hs_app, base_url=HS_BASE)
        http.auth = PrivateAppAuth(HS_CONFIG.private_app_token)
        hs_client = HubSpotClient(http, retry=retry)
        assert PortalSetup(hs_client, portal_spec_for(hubspot_mapping())).apply().clean
        side = HubSpotSide(hs_client, hubspot_mapping(), clock.now)
        engine = Engine(
            store=store,
            tenant=tenant,
            partner_center=PartnerCenterSide(pc_client),
            crm=side,
            clock=clock,
        )
        seller = HubSpotSeller(hs_app, hs_client, side)
    control = TestClient(pc_app, base_url=PC_BASE)
    return CrmWorld(
        crm, pc_app, control, pc_client, clock, emulator_clock, store, tenant, engine, seller
    )


def hubspot_side(world: CrmWorld) -> HubSpotSide:
    """The HubSpot side of a world built for ``hubspot``."""
    crm = world.engine.crm
    assert isinstance(crm, HubSpotSide)
    return crm


__all__ = ["CRMS", "SF_BASE", "CrashingStore", "CrmWorld", "build_crm_world", "hubspot_side"]
