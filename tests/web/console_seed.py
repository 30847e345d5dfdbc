"""Records for the console's pages: named deals on both sides, a refused one, a field conflict
and an account choice, and a fake reader of both sides."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import timedelta
from typing import Any

from cosell.operations.record_sides import FieldRow, SideBySide
from cosell.store.records import AuditEntry, Link, LinkUpdate, TenantId
from cosell.store.sql import Store

REFUSED = (
    "RejectedError: PATCH https://acme.my.salesforce.com/services/data/v62.0/sobjects/"
    "Opportunity/006B -> 400 FIELD_CUSTOM_VALIDATION_EXCEPTION: "
    "FIELD_CUSTOM_VALIDATION_EXCEPTION: Close date must be in the future"
)


def base(name: str, customer: str, value: int, stage: str, owner: str) -> dict[str, Any]:
    first, last = owner.split()
    return {
        "name": name,
        "customer_name": customer,
        "deal_value": value,
        "currency": "EUR",
        "stage": stage,
        "partner_team": [{"first_name": first, "last_name": last, "email": "x@partner.example"}],
    }


@dataclass
class Seeded:
    linked: Link
    refused: Link
    conflicted: Link
    account_conflict: int
    field_conflict: int


def seed(store: Store, tenant: TenantId) -> Seeded:
    linked = store.commit_sync(
        tenant,
        LinkUpdate(
            referral_id="R-1",
            opportunity_id="006A",
            base=base("Contoso AI pilot", "Contoso Ltd", 20000, "Active/Accepted", "Ines Moreau"),
        ),
        [AuditEntry("to_crm", "synced", "deal_value", None, 20000, message="created")],
    )
    refused = store.commit_sync(
        tenant,
        LinkUpdate(
            referral_id="R-2",
            opportunity_id="006B",
            base=base("Fabrikam rollout", "Fabrikam GmbH", 75000, "Active/Accepted", "Rui Costa"),
        ),
        [AuditEntry("to_partner_center", "synced", message="created")],
    )
    store.enqueue(tenant, "opportunity:006B")
    [job] = store.claim("test", store.clock.now() + timedelta(seconds=1), 60)
    store.dead_letter(job, REFUSED)
    conflicted = store.commit_sync(
        tenant,
        LinkUpdate(
            referral_id="R-3",
            opportunity_id="006C",
            base=base("Northwind data estate", "Northwind", 5000, "New/Pending", "Ana Lima"),
        ),
        [],
    )
    field_conflict = store.open_conflict(tenant, conflicted.id, "deal_value", 5000, 6000, 7000)
    waiting = store.record_create_intent(tenant, "crm", "R-4", "referral:R-4")
    candidates = [
        {"Id": "001AAA", "Name": "Tailspin Toys", "BillingCountry": "GB"},
        {"Id": "001BBB", "Name": "Tailspin Toys Ltd", "BillingCountry": "GB"},
    ]
    customer = {"name": "Tailspin Toys Inc.", "country": "GB", "postal_code": None}
    account_conflict = store.open_conflict(
        tenant, waiting.id, "account", None, customer, candidates
    )
    return Seeded(linked, refused, conflicted, account_conflict, field_conflict)


class FakeSides:
    """Partner Center says 25000 where the CRM and the base say 20000."""

    def __init__(self) -> None:
        self.reads: list[tuple[str, str]] = []

    def read(self, kind: str, record_id: str, link: Link | None) -> SideBySide:
        self.reads.append((kind, record_id))
        known = link.base if link else {}
        rows = [
            FieldRow("deal_value", 25000, known.get("deal_value"), known.get("deal_value"), True),
            FieldRow("name", known.get("name"), known.get("name"), known.get("name"), False),
        ]
        return SideBySide(rows, True, True)
