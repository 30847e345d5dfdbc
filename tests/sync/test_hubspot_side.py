"""The HubSpot CRM side against the HubSpot emulator: idempotent create with company and
contacts, read back in the mapping's names, checked writes, contacts, notes, flagged deals and
the change feed's overlap window."""

from collections.abc import Callable, Iterator
from datetime import UTC, datetime

import pytest
from starlette.testclient import TestClient

from cosell.clients.hubspot import HubSpotClient
from cosell.clients.hubspot_auth import PrivateAppAuth
from cosell.clients.retry import RetryPolicy
from cosell.clock import ManualClock
from cosell.emulators.hubspot import HubSpotEmulator, HubSpotEmulatorConfig, create_app
from cosell.errors import StaleWrite
from cosell.orgsetup.hubspot import PortalSetup
from cosell.orgsetup.hubspot_spec import portal_spec_for
from cosell.sync.core.records import CrmWrite
from cosell.sync.sides.hubspot.mapping import hubspot_mapping
from cosell.sync.sides.hubspot.side import HubSpotSide

CONFIG = HubSpotEmulatorConfig(burst_limit=10_000, search_per_second=10_000)


@pytest.fixture
def clock() -> ManualClock:
    return ManualClock(datetime(2026, 3, 2, 9, 0, tzinfo=UTC))


@pytest.fixture
def http(clock: ManualClock) -> Iterator[TestClient]:
    with TestClient(create_app(CONFIG, clock=clock)) as client:
        client.auth = PrivateAppAuth(CONFIG.private_app_token)
        yield client


@pytest.fixture
def side(http: TestClient, clock: ManualClock) -> HubSpotSide:
    client = HubSpotClient(http, retry=RetryPolicy(clock=clock))
    PortalSetup(client, portal_spec_for(hubspot_mapping())).apply()
    return HubSpotSide(client, hubspot_mapping(), clock.now)


def _emulator(http: TestClient) -> HubSpotEmulator:
    emulator: HubSpotEmulator = http.app.state.emulator  # type: ignore[attr-defined]
    return emulator


def _write() -> CrmWrite:
    return CrmWrite(
        opportunity={
            "dealname": "Contoso rollout",
            "amount": 1500.0,
            "closedate": "2026-06-30",
            "dealstage": "Co-sell on hold",
            "cosell_help_code": "Proof of concept or demo",
            "cosell_sync_with_partner_center": True,
        },
        account={"name": "Contoso", "country": "DE"},
        contacts=[
            {
                "FirstName": "Ada",
                "LastName": "Lovelace",
                "Email": "ada@contoso.example",
                "Phone": None,
            }
        ],
    )


def test_create_reads_back_in_the_mappings_names(side: HubSpotSide) -> None:
    deal_id = side.create(_write(), "R-1", {"cosell_referral_id": "ignored"}).id
    record = side.read(deal_id)
    assert record is not None
    assert record.opportunity["dealname"] == "Contoso rollout"
    assert record.opportunity["amount"] == "1500"
    assert record.opportunity["dealstage"] == "Co-sell on hold"
    assert record.opportunity["closedate"].startswith("2026-06-30")
    assert record.opportunity["cosell_referral_id"] == "R-1"
    assert record.account == {"name": "Contoso", "country": "DE"}
    assert [(c["Email"], c["LastName"]) for c in record.contacts] == [
        ("ada@contoso.example", "Lovelace")
    ]
    assert side.find_by_referral("R-1") == deal_id
    assert side.find_by_referral("R-2") is None


def test_a_repeated_create_finds_the_deal_it_made(side: HubSpotSide, http: TestClient) -> None:
    first = side.create(_write(), "R-1", {}).id
    again = side.create(_write(), "R-1", {}).id
    assert again == first
    store = _emulator(http).store
    assert len([r for r in store.records["deals"].values() if not r.archived]) == 1
    assert len(store.records["companies"]) == 1


def test_update_compares_before_it_writes(side: HubSpotSide, http: TestClient) -> None:
    record = side.read(side.create(_write(), "R-1", {}).id)
    assert record is not None
    same = CrmWrite(opportunity={"amount": 1500.0, "closedate": "2026-06-30"})
    _emulator(http).calls.reset()
    assert side.update(record, same, {}).sent is False
    assert _emulator(http).calls.snapshot()["total"] == 0
    changed = CrmWrite(opportunity={"amount": 1750.5, "dealstage": "Appointment Scheduled"})
    assert side.update(record, changed, {"cosell_sync_status": "synced"}).sent is True
    after = side.read(record.id)
    assert after is not None
    assert (after.opportunity["amount"], after.opportunity["dealstage"]) == (
        "1750.5",
        "Appointment Scheduled",
    )
    assert after.opportunity["cosell_sync_status"] == "synced"


def test_a_deal_edited_since_the_read_is_a_stale_write(
    side: HubSpotSide, http: TestClient, clock: ManualClock
) -> None:
    record = side.read(side.create(_write(), "R-1", {}).id)
    assert record is not None
    clock.advance(1)
    token = http.post("/_emulator/users", json={"user_id": 5}).json()["token"]
    http.patch(
        f"/crm/v3/objects/deals/{record.id}",
        json={"properties": {"amount": "9"}},
        auth=PrivateAppAuth(token),
    )
    with pytest.raises(StaleWrite):
        side.update(record, CrmWrite(opportunity={"amount": 1.0}), {})


class _EditWhileWaiting(ManualClock):
    """A clock whose first sleep (the client's wait before retrying a failed write) is when a
    person edits the deal in HubSpot."""

    def __init__(self, start: datetime) -> None:
        super().__init__(start)
        self.edit: Callable[[], object] = lambda: None

    def sleep(self, seconds: float) -> None:
        edit, self.edit = self.edit, lambda: None
        edit()
        super().sleep(seconds)


def test_a_write_retried_after_a_failed_attempt_is_checked_again_and_does_not_overwrite_an_edit(
    http: TestClient, clock: ManualClock
) -> None:
    """HubSpot has no conditional update: the deal's stamp is read before the write. A write
    that fails (here a 503) is retried by the client after a wait, and a person's edit can land
    in that wait: the retry reads the stamp again and answers ``StaleWrite`` instead of writing
    over the edit (the engine then reads again and plans anew)."""
    waits = _EditWhileWaiting(clock.now())
    client = HubSpotClient(http, retry=RetryPolicy(clock=waits))
    PortalSetup(client, portal_spec_for(hubspot_mapping())).apply()
    side = HubSpotSide(client, hubspot_mapping(), clock.now)
    record = side.read(side.create(_write(), "R-1", {}).id)
    assert record is not None
    token = http.post("/_emulator/users", json={"user_id": 5}).json()["token"]

    def person_edits() -> None:
        clock.advance(1)  # the emulator's clock: the edit stamps the deal a second later
        http.patch(
            f"/crm/v3/objects/deals/{record.id}",
            json={"properties": {"amount": "9"}},
            auth=PrivateAppAuth(token),
        )

    waits.edit = person_edits
    fault = {"kind": "server_error", "params": {"status": 503}, "method": "PATCH"}
    http.post("/_emulator/faults", json={**fault, "path": f"/crm/v3/objects/deals/{record.id}"})
    with pytest.raises(StaleWrite):
        side.update(record, CrmWrite(opportunity={"amount": 1.0}), {})
    after = side.read(record.id)
    assert after is not None
    assert after.opportunity["amount"] == "9"  # the person's edit stands


def test_contacts_are_linked_by_email_and_unlinked_never_deleted(
    side: HubSpotSide, http: TestClient
) -> None:
    record = side.read(side.create(_write(), "R-1", {}).id)
    assert record is not None
    grace = {"FirstName": "Grace", "LastName": "Hopper", "Email": "grace@contoso.example"}
    side.update(record, CrmWrite(contacts=[grace]), {})
    after = side.read(record.id)
    assert after is not None
    assert [c["Email"] for c in after.contacts] == ["grace@contoso.example"]
    assert len(_emulator(http).store.records["contacts"]) == 2


def test_a_corrected_email_updates_that_contact_unless_another_contact_has_it(
    side: HubSpotSide, http: TestClient
) -> None:
    record = side.read(side.create(_write(), "R-1", {}).id)
    assert record is not None
    [ada] = record.contacts
    corrected = {"FirstName": "Ada", "LastName": "Lovelace", "Email": "ada.l@contoso.example"}
    side.update(record, CrmWrite(contacts=[corrected]), {})
    after = side.read(record.id)
    assert after is not None
    assert [(c["ContactId"], c["Email"]) for c in after.contacts] == [
        (ada["ContactId"], "ada.l@contoso.example")
    ]

    other = side.client.create("contacts", {"lastname": "Lovelace", "email": "al@contoso.example"})
    again = {**corrected, "Email": "al@contoso.example"}
    side.update(after, CrmWrite(contacts=[again]), {})
    last = side.read(record.id)
    assert last is not None
    assert [c["ContactId"] for c in last.contacts] == [other["id"]]
    emails = sorted(
        r.properties["email"] for r in _emulator(http).store.records["contacts"].values()
    )
    assert emails == ["ada.l@contoso.example", "al@contoso.example"]


def test_a_contact_the_search_does_not_show_yet_is_linked_when_hubspot_names_it(
    side: HubSpotSide, http: TestClient
) -> None:
    """Search lags behind writes: a contact made a moment ago is not found, and HubSpot then
    refuses a second holder of its email. It names the holder, which is linked instead."""
    record = side.read(side.create(_write(), "R-1", {}).id)
    assert record is not None
    http.put("/_emulator/search-lag", json={"seconds": 60}).raise_for_status()
    grace = side.client.create("contacts", {"lastname": "Hopper", "email": "grace@c.example"})
    ada = side.client.create("contacts", {"lastname": "Lovelace", "email": "al@c.example"})
    wanted = [
        {"FirstName": "Ada", "LastName": "Lovelace", "Email": "al@c.example"},  # corrected
        {"LastName": "Hopper", "Email": "grace@c.example"},  # new
    ]
    side.update(record, CrmWrite(contacts=wanted), {})
    after = side.read(record.id)
    assert after is not None
    assert sorted(c["ContactId"] for c in after.contacts) == sorted([grace["id"], ada["id"]])
    assert len(_emulator(http).store.records["contacts"]) == 3  # the deal's first Ada kept


def test_note_mirrors_partner_center_notes(side: HubSpotSide) -> None:
    deal_id = side.create(_write(), "R-1", {}).id
    assert side.mirror_note(deal_id, "Customer wants a pilot") is True
    assert side.mirror_note(deal_id, "Customer wants a pilot") is False
    assert side.mirror_note(deal_id, "Pilot agreed") is True


def test_flagged_or_linked(side: HubSpotSide) -> None:
    linked = side.create(_write(), "R-1", {}).id
    flagged = side.client.create(
        "deals",
        {
            "dealname": "F",
            "dealstage": "appointmentscheduled",
            "cosell_sync_with_partner_center": "true",
        },
    )["id"]
    side.client.create("deals", {"dealname": "N", "dealstage": "appointmentscheduled"})
    assert side.flagged_or_linked() == sorted([linked, flagged], key=int)
