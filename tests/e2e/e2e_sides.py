"""Acting as the people on each side of a running sandbox, over HTTP only.

``MicrosoftSeller`` uses the Partner Center emulator's ``/_emulator`` surface (Microsoft's side,
faults, call counts); ``PartnerCenterReader`` reads referrals with a token as any API user would;
``CrmSeller`` signs in to the Salesforce emulator and uses its REST API.
"""

from __future__ import annotations

from datetime import datetime
from typing import Any

import httpx

from support.wait import wait_until

API = "/services/data/v62.0"
PC_RESOURCE = "https://api.partner.microsoft.com"
WRITE_METHODS = ("POST", "PATCH", "PUT", "DELETE")
NOT_DATA = ("oauth2/token", "/webhooks/v1/registration", "/_emulator")
KEEPALIVE = httpx.Limits(keepalive_expiry=2.0)
"""Shorter than the served emulators' 5 s keep-alive: a query after a pause (a CLI run) never
goes out on a connection the server is closing at that moment."""


def client(base_url: str, headers: dict[str, str] | None = None) -> httpx.Client:
    return httpx.Client(base_url=base_url, headers=headers, timeout=30.0, limits=KEEPALIVE)


def writes(calls: dict[str, Any]) -> int:
    """Data writes in an emulator's ``/_emulator/calls`` snapshot (sign-ins excluded): the
    emulator's own count of calls that wrote where it keeps one (Salesforce: a composite of
    queries is a POST that only reads), else by method."""
    if "writes" in calls:
        return sum(n for route, n in calls["writes"].items() if not _setup(route))
    counted = calls["calls"].items()
    return sum(
        n for route, n in counted if route.split(" ")[0] in WRITE_METHODS and not _setup(route)
    )


def _setup(route: str) -> bool:
    return any(part in route for part in NOT_DATA)


class MicrosoftSeller:
    """Microsoft's side of Partner Center, plus the emulator's faults and counters."""

    def __init__(self, manifest: dict[str, Any]) -> None:
        self.pc = manifest["partner_center"]
        self.http = client(self.pc["url"])

    def share(self, **body: Any) -> dict[str, Any]:
        response = self.http.post("/_emulator/referrals", json={"type": "Shared", **body})
        assert response.status_code == 201, response.text
        shared: dict[str, Any] = response.json()
        return shared

    def change(self, referral_id: str, **changes: Any) -> dict[str, Any]:
        response = self.http.patch(f"/_emulator/referrals/{referral_id}", json=changes)
        assert response.status_code == 200, response.text
        changed: dict[str, Any] = response.json()
        return changed

    def fault(self, kind: str, **rule: Any) -> None:
        response = self.http.post("/_emulator/faults", json={"kind": kind, **rule})
        assert response.status_code == 201, response.text

    def clear_faults(self) -> None:
        self.http.delete("/_emulator/faults").raise_for_status()

    def calls(self) -> dict[str, Any]:
        calls: dict[str, Any] = self.http.get("/_emulator/calls").json()
        return calls

    def deliveries(self) -> list[dict[str, Any]]:
        found: list[dict[str, Any]] = self.http.get("/_emulator/deliveries").json()["deliveries"]
        return found

    def close(self) -> None:
        self.http.close()


class PartnerCenterReader:
    """Reads referrals through the Referrals API with the sandbox's credentials."""

    def __init__(self, manifest: dict[str, Any]) -> None:
        pc = manifest["partner_center"]
        form = {
            "grant_type": "password",
            "client_id": pc["client_id"],
            "client_secret": pc["client_secret"],
            "username": pc["username"],
            "password": pc["password"],
            "resource": PC_RESOURCE,
        }
        token = httpx.post(pc["token_url"], data=form, timeout=30.0).json()["access_token"]
        headers = {"Authorization": f"Bearer {token}"}
        self.http = client(pc["url"], headers)

    def referral(self, referral_id: str) -> dict[str, Any]:
        response = self.http.get(f"/v1.0/engagements/referrals/{referral_id}")
        assert response.status_code == 200, response.text
        found: dict[str, Any] = response.json()
        return found

    def referrals(self, odata_filter: str | None = None) -> list[dict[str, Any]]:
        params = {"$filter": odata_filter} if odata_filter else {}
        found, url = [], "/v1.0/engagements/referrals"
        while url:
            page = self.http.get(url, params=params).json()
            found += page["value"]
            url, params = page.get("@odata.nextLink") or "", {}
        return found

    def for_opportunity(self, opportunity_id: str) -> list[dict[str, Any]]:
        return self.referrals(f"externalReferenceId eq '{opportunity_id}'")

    def close(self) -> None:
        self.http.close()


class CrmSeller:
    """A partner seller in the Salesforce emulator (REST with a password-grant token)."""

    def __init__(self, manifest: dict[str, Any]) -> None:
        sf = manifest["salesforce"]
        form = {
            "grant_type": "password",
            "client_id": sf["client_id"],
            "client_secret": sf["client_secret"],
            "username": sf["username"],
            "password": sf["password"],
        }
        token = httpx.post(sf["token_url"], data=form, timeout=30.0).json()["access_token"]
        headers = {"Authorization": f"Bearer {token}"}
        self.http = client(sf["url"], headers)
        self.control = client(sf["url"])

    def create(self, sobject: str, **fields: Any) -> str:
        response = self.http.post(f"{API}/sobjects/{sobject}", json=fields)
        assert response.status_code == 201, response.text
        return str(response.json()["id"])

    def update(self, sobject: str, record_id: str, **fields: Any) -> None:
        response = self.http.patch(f"{API}/sobjects/{sobject}/{record_id}", json=fields)
        assert response.status_code == 204, response.text

    def get(self, sobject: str, record_id: str) -> dict[str, Any]:
        response = self.http.get(f"{API}/sobjects/{sobject}/{record_id}")
        assert response.status_code == 200, response.text
        found: dict[str, Any] = response.json()
        return found

    def query(self, soql: str) -> list[dict[str, Any]]:
        response = self.http.get(f"{API}/query", params={"q": soql})
        assert response.status_code == 200, response.text
        records: list[dict[str, Any]] = response.json()["records"]
        return records

    def opportunity(
        self,
        *,
        country: str | None = "US",
        flagged: bool = True,
        contact_email: str = "buyer@customer.example",
        **fields: Any,
    ) -> str:
        """An opportunity with its account and a contact role; flagged for co-sell last, once
        it is complete, as a seller ticks the box when the deal is ready to share."""
        account = {"Name": fields.pop("account_name", "Customer Inc")}
        if country:
            account["BillingCountry"] = country
        account_id = self.create("Account", **account)
        values = {
            "Name": "Co-sell deal",
            "StageName": "Prospecting",
            "CloseDate": "2027-06-30",
            "Amount": 50000,
            "CurrencyIsoCode": "USD",
            "How_can_Microsoft_help__c": "Proof of concept or demo",
            "Products__c": "SOL-E2E",
            "AccountId": account_id,
            **fields,
        }
        opportunity_id = self.create("Opportunity", **values)
        last = contact_email.split("@")[0].title()
        contact = self.create("Contact", LastName=last, Email=contact_email, AccountId=account_id)
        self.create("OpportunityContactRole", OpportunityId=opportunity_id, ContactId=contact)
        if flagged:
            self.update("Opportunity", opportunity_id, Sync_with_Partner_Center__c=True)
        return opportunity_id

    def edit(self, sobject: str, record_id: str, **fields: Any) -> None:
        """Update as a person would: not within the second of the record's last change
        (Salesforce stamps changes to the second)."""
        stamp = _second(self.get(sobject, record_id)["SystemModstamp"])
        wait_until(lambda: _second(self.now()) > stamp, 5.0, 0.05, "the next second")
        self.update(sobject, record_id, **fields)

    def now(self) -> str:
        return str(self.control.get("/_emulator/clock").json()["now"])

    def fault(self, kind: str, **rule: Any) -> None:
        response = self.control.post("/_emulator/faults", json={"kind": kind, **rule})
        assert response.status_code == 201, response.text

    def clear_faults(self) -> None:
        self.control.delete("/_emulator/faults").raise_for_status()

    def calls(self) -> dict[str, Any]:
        calls: dict[str, Any] = self.control.get("/_emulator/calls").json()
        return calls

    def close(self) -> None:
        self.http.close()
        self.control.close()


def _second(stamp: str) -> datetime:
    return datetime.strptime(stamp[:19], "%Y-%m-%dT%H:%M:%S")
