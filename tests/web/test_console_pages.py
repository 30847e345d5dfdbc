"""The console's pages: records (search, filters, sort, paging, CSV), one record's detail with
its differences and actions, conflicts and dead letters with bulk actions, plain reasons."""

from __future__ import annotations

import csv
import io
import json
import re
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest
from console_seed import FakeSides, Seeded, seed
from console_world import ConsoleWorld, field

from cosell.clock import ManualClock
from cosell.operations.call_meter import (
    CRM_CALLS,
    PARTNER_CENTER_CALLS,
    PROPAGATION_MS,
    PROPAGATIONS,
)
from cosell.operations.checks import Check
from cosell.operations.conflicts import Resolution
from cosell.operations.status import Expiring, ExpiringReferral
from cosell.store.alerts import Alert
from cosell.store.records import AuditEntry, LinkUpdate
from cosell.store.sql import Store, sqlite_url
from cosell.sync.core.mapping import default_mapping
from cosell.web.site import ConsoleSetup

START = datetime(2026, 3, 2, 9, 0, tzinfo=UTC)


@pytest.fixture
def world(tmp_path: Path) -> Iterator[tuple[ConsoleWorld, Seeded, FakeSides]]:
    clock = ManualClock(START)
    store = Store.open(sqlite_url(tmp_path), clock=clock)
    sides = FakeSides()
    console = ConsoleWorld(store, clock, sides)
    yield console, seed(store, console.tenant), sides
    store.close()


def text_of(html: str) -> str:
    return " ".join(re.sub(r"<[^>]+>", " ", html).split())


def test_records_list_shows_names_customers_values_and_states(world) -> None:  # type: ignore[no-untyped-def]
    console, _, _ = world
    page = text_of(console.sign_in("vera").get("/records").text)
    assert (
        "Contoso AI pilot Contoso Ltd 20000 EUR Active/Accepted Ines Moreau incoming synced" in page
    )
    assert (
        "Fabrikam rollout Fabrikam GmbH 75000 EUR Active/Accepted Rui Costa outgoing refused"
        in page
    )
    assert "Northwind data estate Northwind 5000" in page
    assert "4 records" in page


def test_records_search_filter_and_sort(world) -> None:  # type: ignore[no-untyped-def]
    console, _, _ = world
    client = console.sign_in("vera")
    found = text_of(client.get("/records", params={"q": "fabrikam gmbh"}).text)
    assert "1 record" in found
    assert "Fabrikam rollout" in found
    assert "Contoso" not in found
    refused = text_of(client.get("/records", params={"state": "refused"}).text)
    assert "Fabrikam rollout" in refused
    assert "Contoso" not in refused
    by_value = client.get("/records", params={"sort": "value", "order": "asc"}).text
    order = [by_value.index(n) for n in ("Northwind data", "Contoso AI", "Fabrikam rollout")]
    assert order == sorted(order)
    partial = client.get("/records", params={"q": "contoso"}, headers={"HX-Request": "true"})
    assert "<html" not in partial.text
    assert "Contoso AI pilot" in partial.text


def test_records_page_through_many(world) -> None:  # type: ignore[no-untyped-def]
    console, _, _ = world
    for n in range(30):
        console.store.commit_sync(
            console.tenant,
            LinkUpdate(
                referral_id=f"P-{n}", opportunity_id=f"006P{n}", base={"name": f"Deal {n:02}"}
            ),
            [],
        )
    client = console.sign_in("vera")
    first = text_of(client.get("/records", params={"sort": "name", "order": "asc"}).text)
    assert "34 records, page 1 of 2" in first
    second = client.get("/records", params={"sort": "name", "order": "asc", "page": 2}).text
    assert "page 2 of 2" in text_of(second)
    assert "Tailspin" not in second  # the account choice has no name: sorts first
    assert "Deal 29" in second or "Northwind" in second


def test_csv_export_keeps_filters_and_neutralises_formulas(world) -> None:  # type: ignore[no-untyped-def]
    console, _, _ = world
    console.store.commit_sync(
        console.tenant,
        LinkUpdate(referral_id="R-9", opportunity_id="006Z", base={"name": "=HYPERLINK(1)"}),
        [],
    )
    client = console.sign_in("vera")
    response = client.get("/records.csv", params={"q": "hyperlink"})
    assert response.headers["content-type"].startswith("text/csv")
    rows = list(csv.DictReader(io.StringIO(response.text)))
    assert [r["name"] for r in rows] == ["'=HYPERLINK(1)"]
    everything = list(csv.DictReader(io.StringIO(client.get("/records.csv").text)))
    refused = next(r for r in everything if r["referral_id"] == "R-2")
    assert refused["reason"].startswith("Salesforce refused this record: Close date")


def test_record_detail_shows_sides_differences_timeline_and_state(world) -> None:  # type: ignore[no-untyped-def]
    console, _, sides = world
    html = console.sign_in("vera").get("/records/R-1").text
    page = text_of(html)
    assert "Contoso AI pilot" in page
    assert "1 difference between the sides" in page
    assert "deal_value 25000 20000 20000 differs" in page
    assert 'class="wrap differs"' in html
    assert "In sync" in page
    assert "created" in page  # the timeline
    assert sides.reads == [("referral", "R-1")]
    assert console.sign_in("vera").get("/records/006A").status_code == 200
    assert console.sign_in("vera").get("/records/NOPE").status_code == 404


def test_refused_record_explains_in_plain_words_and_retries(world) -> None:  # type: ignore[no-untyped-def]
    console, _, _ = world
    client = console.sign_in("otto")
    html = client.get("/records/R-2").text
    page = text_of(html)
    assert "Salesforce refused this record: Close date must be in the future" in page
    assert "(field custom validation exception)" in page
    assert "Fix: Correct the record" in page
    visible = page.split("Engine's message")[0]
    assert "https://" not in visible
    assert "-> 400" not in visible
    data = {"csrf": field(html, "csrf"), "key": "opportunity:006B", "back": "/records/R-2"}
    response = client.post("/dead-letters/retry", data=data, follow_redirects=False)
    assert response.headers["location"].startswith("/records/R-2?notice=Requeued")
    assert console.store.dead_letters(console.tenant) == []


def test_sync_now_queues_both_keys(world) -> None:  # type: ignore[no-untyped-def]
    console, _, _ = world
    client = console.sign_in("otto")
    csrf = field(client.get("/records/R-1").text, "csrf")
    response = client.post("/records/R-1/sync", data={"csrf": csrf}, follow_redirects=False)
    assert response.status_code == 303
    assert console.store.stats(console.tenant).queue_depth == 2
    viewer = console.sign_in("vera")
    csrf = field(viewer.get("/records/R-1").text, "csrf")
    assert viewer.post("/records/R-1/sync", data={"csrf": csrf}).status_code == 403


def test_account_conflict_is_settled_by_picking_an_account(world) -> None:  # type: ignore[no-untyped-def]
    console, seeded, _ = world
    client = console.sign_in("otto")
    html = client.get("/records/R-4").text
    page = text_of(html)
    assert "Several accounts match the customer Tailspin Toys Inc." in page
    assert "Tailspin Toys Ltd · GB" in page
    assert "Take Partner Center" not in page
    path = f"/conflicts/{seeded.account_conflict}/resolve"
    base = {"csrf": field(html, "csrf"), "take": "partner_center"}
    assert client.post(path, data=base).status_code == 400  # would make a duplicate
    data = {"csrf": base["csrf"], "take": "value", "value": "001BBB", "back": "/records/R-4"}
    response = client.post(path, data=data, follow_redirects=False)
    assert response.status_code == 303
    [resolved] = console.store.conflicts(console.tenant, "resolved")
    assert Resolution.decode(resolved.resolution or "") == Resolution("value", "001BBB")


def test_conflicts_page_bulk_takes_a_side_but_not_for_account_choices(world) -> None:  # type: ignore[no-untyped-def]
    console, seeded, _ = world
    client = console.sign_in("otto")
    html = client.get("/conflicts").text
    page = text_of(html)
    assert "Northwind data estate Northwind deal_value 5000 6000 7000" in page
    assert "several accounts match; pick one on the record" in page
    data = {
        "csrf": field(html, "csrf"),
        "take": "crm",
        "conflict": [str(seeded.field_conflict), str(seeded.account_conflict)],
    }
    response = client.post("/conflicts/bulk", data=data)
    assert "Resolved 1 conflict(s) taking the CRM&#39;s value" in response.text
    assert "1 account choice(s) left" in response.text
    [still] = console.store.conflicts(console.tenant, "open")
    assert still.id == seeded.account_conflict


def test_dead_letters_page_names_records_and_retries_selected(world) -> None:  # type: ignore[no-untyped-def]
    console, _, _ = world
    client = console.sign_in("otto")
    html = client.get("/dead-letters").text
    page = text_of(html)
    assert "Fabrikam rollout Fabrikam GmbH Salesforce refused this record" in page
    assert "https://" not in page
    data = {"csrf": field(html, "csrf"), "key": ["opportunity:006B"], "back": "/dead-letters"}
    response = client.post("/dead-letters/retry", data=data)
    assert "Requeued opportunity:006B" in response.text
    assert console.store.dead_letters(console.tenant) == []


def test_overview_counts_records_by_state(world) -> None:  # type: ignore[no-untyped-def]
    console, _, _ = world
    page = text_of(console.sign_in("vera").get("/").text)
    assert "1 Refused: a side would not take the change" in page
    assert "2 Waiting for a person to decide (a conflict or an account choice)" in page
    assert "1 In sync" in page


def test_mapping_page_lists_fields_and_previews_a_record(tmp_path: Path) -> None:
    clock = ManualClock(START)
    store = Store.open(sqlite_url(tmp_path), clock=clock)
    setup = ConsoleSetup(mapping=default_mapping())
    console = ConsoleWorld(store, clock, FakeSides(), setup)
    seed(store, console.tenant)
    client = console.sign_in("vera")
    page = text_of(client.get("/mapping").text)
    assert "deal_value details.dealValue Amount both" in page
    preview = client.get("/mapping", params={"record": "R-1"}).text
    assert 'class="wrap differs">25000' in preview
    missing = client.get("/mapping", params={"record": "NOPE"}).text
    assert "no record NOPE is known" in missing
    store.close()


def test_settings_page_is_for_admins_and_runs_the_doctor_on_demand(tmp_path: Path) -> None:
    clock = ManualClock(START)
    store = Store.open(sqlite_url(tmp_path), clock=clock)
    ran: list[int] = []

    def doctor() -> list[Check]:
        ran.append(1)
        return [Check("Partner Center sign-in", "fail", "invalid_grant", "sign in again")]

    setup = ConsoleSetup(facts=[("Tenant", "acme")], doctor=doctor)
    console = ConsoleWorld(store, clock, None, setup)
    assert console.sign_in("otto").get("/settings").status_code == 403
    admin = console.sign_in("ada")
    page = text_of(admin.get("/settings").text)
    assert "Tenant acme" in page
    assert "otto operator password" in page
    assert ran == []
    checked = text_of(admin.get("/settings", params={"check": "1"}).text)
    assert "Partner Center sign-in fail invalid_grant sign in again" in checked
    assert ran == [1]
    store.close()


def test_settings_page_lists_recent_alerts_with_their_delivery(tmp_path: Path) -> None:
    clock = ManualClock(START)
    store = Store.open(sqlite_url(tmp_path), clock=clock)
    console = ConsoleWorld(store, clock, None, ConsoleSetup(facts=[("Tenant", "acme")]))
    sent = Alert("referral:R-1", "refused@1", "refused", "Contoso: refused", "CHF", "/records/R-1")
    stuck = Alert("connection:CRM sign-in", "fail@1", "connection", "CRM sign-in: failing", "x")
    store.add_alert(console.tenant, sent, ["teams"])
    store.add_alert(console.tenant, stuck, ["teams", "mail"])
    first, second = store.due_alerts(console.tenant)
    store.settle_alert(first.id, [])
    later = clock.now() + timedelta(minutes=1)
    store.settle_alert(second.id, ["mail"], "mail: SMTPRecipientsRefused: {}", later)
    page = text_of(console.sign_in("ada").get("/settings").text)
    assert "refused Contoso: refused referral:R-1 sent" in page
    assert (
        "connection CRM sign-in: failing connection:CRM sign-in waiting for mail after 1 attempt"
        in page
    )
    assert "SMTPRecipientsRefused" in page
    store.close()


def test_overview_charts_calls_per_hour_for_both_sides(world) -> None:  # type: ignore[no-untyped-def]
    console, _, _ = world
    now = console.clock.now()
    hour = now.replace(minute=0, second=0, microsecond=0)
    earlier = hour - timedelta(hours=3)
    stale = hour - timedelta(hours=30)
    console.store.set_cursor(
        console.tenant,
        PARTNER_CENTER_CALLS,
        json.dumps({hour.isoformat(): 12, earlier.isoformat(): 30, stale.isoformat(): 99}),
    )
    console.store.set_cursor(console.tenant, CRM_CALLS, json.dumps({hour.isoformat(): 7}))
    latencies = {hour.isoformat(): 20_000, earlier.isoformat(): 90_000}
    console.store.set_cursor(console.tenant, PROPAGATION_MS, json.dumps(latencies))
    counts = {hour.isoformat(): 4, earlier.isoformat(): 1}
    console.store.set_cursor(console.tenant, PROPAGATIONS, json.dumps(counts))
    html = console.sign_in("vera").get("/").text
    assert "Partner Center calls: 42 in 24 h, at most 30 an hour" in html
    assert "CRM calls: 7 in 24 h, at most 7 an hour" in html
    assert "Propagation, hourly average: 5–90 s over 24 h" in html
    assert html.count("<rect ") == 72
    assert "<title>09:00 UTC: 12</title>" in html
    assert "style=" not in html.split("<svg", 1)[1].split("</svg>", 1)[0]  # the CSP allows none


def test_expiring_incoming_referrals_on_the_overview_and_as_a_filter(tmp_path: Path) -> None:
    clock = ManualClock(START)
    store = Store.open(sqlite_url(tmp_path), clock=clock)
    soon = ExpiringReferral(
        "R-3", "Northwind data estate", "Pending", START + timedelta(days=1), 1.0
    )
    reads: list[int] = []

    def expiring() -> Expiring:
        reads.append(1)
        return Expiring(3.0, [soon])

    console = ConsoleWorld(store, clock, None, ConsoleSetup(expiring=expiring))
    seed(store, console.tenant)
    client = console.sign_in("vera")
    page = text_of(client.get("/").text)
    assert "Incoming referrals expiring within 3 days" in page
    assert "Northwind data estate Pending 2026-03-03 09:00:00 UTC 1.0" in page
    listed = text_of(client.get("/records", params={"expiring": "1"}).text)
    assert "1 record" in listed
    assert "Northwind data estate" in listed
    assert "Contoso" not in listed
    store.close()


def test_accept_or_decline_an_incoming_referral_on_hold(world) -> None:  # type: ignore[no-untyped-def]
    console, _, _ = world
    console.store.commit_sync(
        console.tenant,
        LinkUpdate(
            referral_id="R-7",
            opportunity_id="006H",
            base={"name": "Woodgrove: AI pilot", "stage": "New/Pending"},
        ),
        [AuditEntry("to_crm", "synced", message="created")],
    )
    decided: list[tuple[str, str]] = []

    def decide(referral_id: str, decision: str) -> str:
        decided.append((referral_id, decision))
        return "Qualification"

    console.dashboard.decide = decide
    viewer = console.sign_in("vera")
    assert "Accept referral" not in viewer.get("/records/R-7").text
    operator = console.sign_in("otto")
    html = operator.get("/records/R-7").text
    assert "Accept referral" in html
    assert "Accept referral" not in operator.get("/records/R-1").text  # accepted already
    data = {"csrf": field(html, "csrf"), "decision": "accept"}
    answer = operator.post("/records/R-7/decide", data=data)
    assert "Accepted: the opportunity is now Qualification; syncing" in answer.text
    assert decided == [("R-7", "accept")]
    data["decision"] = "maybe"
    assert operator.post("/records/R-7/decide", data=data).status_code == 400
