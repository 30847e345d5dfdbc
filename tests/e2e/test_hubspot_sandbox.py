"""``cosell sandbox --crm hubspot`` end to end: the served connector between the Partner Center
and HubSpot emulators, driven over HTTP only, as a Microsoft seller and a HubSpot seller."""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

import httpx
import pytest
from e2e_sandbox import SandboxProcess, running_sandbox
from e2e_sides import MicrosoftSeller, PartnerCenterReader

from support.wait import wait_until

pytestmark = pytest.mark.e2e


@pytest.fixture(scope="module")
def sandbox(tmp_path_factory: pytest.TempPathFactory) -> Iterator[SandboxProcess]:
    state_dir = tmp_path_factory.mktemp("hubspot") / "state"
    with running_sandbox(state_dir, "--crm", "hubspot", "--hs-port", "0") as running:
        yield running


class HubSpotSeller:
    """A seller in HubSpot's UI (a UI user's token from the emulator's controls)."""

    def __init__(self, manifest: dict[str, Any]) -> None:
        hs = manifest["hubspot"]
        with httpx.Client() as control:
            answer = control.post(f"{hs['control_url']}/users", json={"user_id": 42})
        token = answer.json()["token"]
        self.http = httpx.Client(base_url=hs["url"], headers={"Authorization": f"Bearer {token}"})

    def create(
        self, kind: str, properties: dict[str, str], links: list[tuple[str, int]] = ()
    ) -> str:  # type: ignore[assignment]
        body: dict[str, Any] = {"properties": properties}
        body["associations"] = [
            {
                "to": {"id": to},
                "types": [{"associationCategory": "HUBSPOT_DEFINED", "associationTypeId": type_id}],
            }
            for to, type_id in links
        ]
        response = self.http.post(f"/crm/v3/objects/{kind}", json=body)
        assert response.status_code == 201, response.text
        return str(response.json()["id"])

    def deal(self, deal_id: str, *names: str) -> dict[str, Any]:
        answer = self.http.get(
            f"/crm/v3/objects/deals/{deal_id}", params={"properties": ",".join(names)}
        )
        props: dict[str, Any] = answer.json()["properties"]
        return props

    def deals(self) -> list[dict[str, Any]]:
        body = {
            "limit": 100,
            "properties": ["dealname", "dealstage", "amount", "cosell_referral_id"],
        }
        results: list[dict[str, Any]] = self.http.post(
            "/crm/v3/objects/deals/search", json=body
        ).json()["results"]
        return results

    def update(self, deal_id: str, **properties: str) -> None:
        response = self.http.patch(
            f"/crm/v3/objects/deals/{deal_id}", json={"properties": properties}
        )
        assert response.status_code == 200, response.text


@pytest.fixture
def hubspot(sandbox: SandboxProcess) -> Iterator[HubSpotSeller]:
    seller = HubSpotSeller(sandbox.manifest)
    yield seller
    seller.http.close()


@pytest.fixture
def microsoft(sandbox: SandboxProcess) -> Iterator[MicrosoftSeller]:
    seller = MicrosoftSeller(sandbox.manifest)
    yield seller
    seller.close()


@pytest.fixture
def pc(sandbox: SandboxProcess) -> Iterator[PartnerCenterReader]:
    reader = PartnerCenterReader(sandbox.manifest)
    yield reader
    reader.close()


def test_a_shared_referral_becomes_an_on_hold_deal(
    microsoft: MicrosoftSeller, hubspot: HubSpotSeller
) -> None:
    shared = microsoft.share(
        name="Fabrikam warehouse",
        details={
            "dealValue": 48000,
            "currency": "EUR",
            "closingDateTime": "2026-12-31T00:00:00Z",
            "requirements": {"solutions": [{"id": "SOL-9"}]},
        },
        customerProfile={
            "name": "Fabrikam",
            "address": {"country": "DE"},
            "team": [{"firstName": "Rui", "lastName": "Costa", "email": "rui@fabrikam.example"}],
        },
        inviteContext={"assistanceRequestCode": "ProofOfConceptOrDemo"},
    )
    deal = wait_until(
        lambda: next(
            (d for d in hubspot.deals() if d["properties"]["cosell_referral_id"] == shared["id"]),
            None,
        ),
        what="the deal for the shared referral",
    )
    assert deal["properties"]["dealname"] == "Fabrikam warehouse"
    assert deal["properties"]["amount"] == "48000"


def test_a_flagged_deal_becomes_a_referral_with_ids_written_back(
    hubspot: HubSpotSeller, pc: PartnerCenterReader
) -> None:
    company = hubspot.create("companies", {"name": "Contoso", "country": "US"})
    contact = hubspot.create(
        "contacts", {"firstname": "Ada", "lastname": "Lovelace", "email": "ada@contoso.example"}
    )
    deal = hubspot.create(
        "deals",
        {
            "dealname": "Contoso rollout",
            "dealstage": "qualifiedtobuy",
            "amount": "50000",
            "closedate": "2026-11-30T00:00:00Z",
            "cosell_sync_with_partner_center": "true",
            "cosell_help_code": "Proof of concept or demo",
            "cosell_products": "SOL-1",
        },
        [(int(company), 5), (int(contact), 3)],
    )
    referral_id = wait_until(
        lambda: hubspot.deal(deal, "cosell_referral_id")["cosell_referral_id"],
        what="the referral id written back to the deal",
    )
    referral = pc.referral(referral_id)
    assert referral["externalReferenceId"] == deal
    assert referral["details"]["dealValue"] == 50000
    hubspot.update(deal, amount="52000")
    wait_until(
        lambda: pc.referral(referral_id)["details"]["dealValue"] == 52000,
        what="the amount edit in Partner Center",
    )
