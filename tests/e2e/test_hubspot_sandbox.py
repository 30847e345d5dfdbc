"""``cosell sandbox --crm hubspot`` end to end: the served connector between the Partner Center
and HubSpot emulators, driven over HTTP only, as a Microsoft seller and a HubSpot seller."""

from __future__ import annotations

import subprocess
import sys
import time
from collections.abc import Callable, Iterator
from typing import Any

import httpx
import pytest
from e2e_sandbox import SandboxProcess, cosell_env, running_sandbox
from e2e_sides import MicrosoftSeller, PartnerCenterReader
from prometheus_client.parser import text_string_to_metric_families

from support.wait import wait_until

pytestmark = pytest.mark.e2e
RUNS = "cosell_signal_runs_total"


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

    def update(self, deal_id: str, kind: str = "deals", **properties: str) -> None:
        response = self.http.patch(
            f"/crm/v3/objects/{kind}/{deal_id}", json={"properties": properties}
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


def _metrics(sandbox: SandboxProcess) -> list[tuple[str, dict[str, str], float]]:
    text = httpx.get(str(sandbox.manifest["connector"]["metrics_url"]), timeout=30.0).text
    families = text_string_to_metric_families(text)
    return [(s.name, s.labels, s.value) for family in families for s in family.samples]


def _deal_polls(sandbox: SandboxProcess) -> float:
    """Rounds of the deal poll so far, any outcome."""
    found = _metrics(sandbox)
    return sum(v for n, labels, v in found if n == RUNS and labels["signal"] == "hubspot-poll")


def _queued(sandbox: SandboxProcess) -> float:
    return sum(v for name, _, v in _metrics(sandbox) if name == "cosell_queue_depth")


def test_a_country_fixed_on_the_company_of_a_refused_deal_syncs_without_further_action(
    sandbox: SandboxProcess, hubspot: HubSpotSeller, pc: PartnerCenterReader
) -> None:
    """Nothing moves the deal: HubSpot's deal poll and the deal's webhooks see nothing of an
    edit of its company; the related-record poll does."""
    company = hubspot.create("companies", {"name": "Litware"})
    contact = hubspot.create(
        "contacts", {"firstname": "Ada", "lastname": "Litware", "email": "ada@litware.example"}
    )
    deal = hubspot.create(
        "deals",
        {
            "dealname": "Litware: phase two",
            "dealstage": "qualifiedtobuy",
            "amount": "7000",
            "closedate": "2026-11-30T00:00:00Z",
            "cosell_sync_with_partner_center": "true",
            "cosell_help_code": "Proof of concept or demo",
            "cosell_products": "SOL-1",
        },
        [(int(company), 5), (int(contact), 3)],
    )
    reason = wait_until(
        lambda: hubspot.deal(deal, "cosell_sync_error")["cosell_sync_error"],
        what="the reason on the deal",
    )
    assert "Customer country is required" in reason
    # The refusal written on the deal comes back through the deal poll and is refused again;
    # once that is done, the deal holds the very values cosell refused.
    before = _deal_polls(sandbox)
    wait_until(
        lambda: _deal_polls(sandbox) >= before + 2 and _queued(sandbox) == 0,
        what="two more deal polls and nothing queued",
    )
    hubspot.update(company, "companies", country="FR")  # the deal is not touched
    referral_id = wait_until(
        lambda: hubspot.deal(deal, "cosell_referral_id")["cosell_referral_id"],
        what="the referral id written back to the deal",
    )
    assert pc.referral(referral_id)["customerProfile"]["address"]["country"] == "FR"


def _flagged_deal(hubspot: HubSpotSeller, name: str) -> str:
    company = hubspot.create("companies", {"name": f"{name} Ltd", "country": "US"})
    contact = hubspot.create(
        "contacts", {"firstname": "Ada", "lastname": name, "email": f"{name.lower()}@x.example"}
    )
    return hubspot.create(
        "deals",
        {
            "dealname": f"{name} rollout",
            "dealstage": "qualifiedtobuy",
            "amount": "1000.5",
            "closedate": "2026-11-30T00:00:00Z",
            "cosell_sync_with_partner_center": "true",
            "cosell_help_code": "Proof of concept or demo",
            "cosell_products": "SOL-1;SOL-2",
            "description": "Two\nlines",
        },
        [(int(company), 5), (int(contact), 3)],
    )


def test_a_deal_edit_arrives_by_signed_webhook_while_search_lags(
    sandbox: SandboxProcess, hubspot: HubSpotSeller, pc: PartnerCenterReader
) -> None:
    deal = _flagged_deal(hubspot, "Webhook")
    referral_id = wait_until(
        lambda: hubspot.deal(deal, "cosell_referral_id")["cosell_referral_id"],
        what="the referral id written back to the deal",
    )
    control = sandbox.manifest["hubspot"]["control_url"]
    # Settled: the reconcile the write-back's referral change sets off (sweep) has read the deal.
    wait_until(_Quiet(control, _reads_and_writes), what="no HubSpot call for 5 s")
    # The search index holds no change for an hour: the deal poll cannot see the edit.
    httpx.put(f"{control}/search-lag", json={"seconds": 3600}).raise_for_status()
    try:
        hubspot.update(deal, amount="7777")
        wait_until(
            lambda: pc.referral(referral_id)["details"]["dealValue"] == 7777,
            what="the amount edit in Partner Center, by webhook alone",
        )
    finally:
        httpx.put(f"{control}/search-lag", json={"seconds": 0}).raise_for_status()
    target = sandbox.manifest["connector"]["hubspot_webhook_url"]
    rows = httpx.get(f"{control}/deliveries").json()["deliveries"]
    ours = [r for r in rows if deal in r["object_ids"].split(",") and r["url"] == target]
    assert ours, rows
    assert all(r["state"] == "delivered" for r in ours), ours


def test_an_idle_full_pass_writes_nothing_to_hubspot(
    sandbox: SandboxProcess, hubspot: HubSpotSeller, microsoft: MicrosoftSeller
) -> None:
    shared = microsoft.share(
        name="Idle pass",
        details={
            "dealValue": 1234.5,
            "currency": "EUR",
            "closingDateTime": "2026-12-31T00:00:00Z",
            "requirements": {"solutions": [{"id": "SOL-9"}]},
        },
        customerProfile={
            "name": "Idle GmbH",
            "address": {"country": "DE", "city": "Berlin"},
            "team": [{"firstName": "Rui", "lastName": "Costa", "email": "rui@idle.example"}],
        },
        inviteContext={"assistanceRequestCode": "ProofOfConceptOrDemo"},
    )
    deal = _flagged_deal(hubspot, "Idle")
    wait_until(
        lambda: (
            any(d["properties"]["cosell_referral_id"] == shared["id"] for d in hubspot.deals())
            and hubspot.deal(deal, "cosell_referral_id")["cosell_referral_id"]
        ),
        what="both records synced",
    )
    control = sandbox.manifest["hubspot"]["control_url"]
    before = wait_until(_Quiet(control, _writes), what="no HubSpot write for 5 s")
    manifest = sandbox.manifest
    command = [sys.executable, "-m", "cosell", "sync", "--once", "--config"]
    done = subprocess.run(
        [*command, manifest["config_file"]],
        env=cosell_env(manifest["env"]),
        capture_output=True,
        text=True,
        timeout=120,
        check=False,
    )
    assert done.returncode == 0, done.stdout + done.stderr
    assert _writes(control) == before[0], "the idle full pass wrote to HubSpot"


WRITES = ("POST", "PATCH", "PUT", "DELETE")
NOT_WRITES = ("/search", "/batch/read", "oauth")


def _writes(control: str) -> dict[str, int]:
    """The emulator's count of write calls by route (searches and batch reads are POSTs)."""
    calls: dict[str, int] = httpx.get(f"{control}/calls").json()["calls"]
    return {
        route: n
        for route, n in calls.items()
        if route.split(" ")[0] in WRITES and not any(read in route for read in NOT_WRITES)
    }


def _reads_and_writes(control: str) -> dict[str, int]:
    """Every call but the deal poll's searches (a reconcile reads the deal by id)."""
    calls: dict[str, int] = httpx.get(f"{control}/calls").json()["calls"]
    return {route: n for route, n in calls.items() if "/search" not in route}


class _Quiet:
    """A probe for ``wait_until``: the counts once they have not moved for five seconds (the
    feeds settle in three), else None."""

    def __init__(self, control: str, counts: Callable[[str], dict[str, int]]) -> None:
        self.control, self.counts = control, counts
        self.seen: dict[str, int] | None = None
        self.since = 0.0

    def __call__(self) -> tuple[dict[str, int]] | None:
        now, seen = time.monotonic(), self.counts(self.control)
        if seen != self.seen:
            self.seen, self.since = seen, now
            return None
        return (seen,) if now - self.since >= 5 else None
