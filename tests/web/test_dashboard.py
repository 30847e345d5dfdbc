"""The dashboard at ``/``: seeded data rendered and escaped, Retry and Resolve buttons working,
cross-site posts and posts without the CSRF token refused."""

from __future__ import annotations

import re
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest
from starlette.testclient import TestClient
from web_fakes import trusting_verifier

from cosell.clock import ManualClock
from cosell.operations.activity import RecordingStatus
from cosell.operations.conflicts import Resolution
from cosell.signals.loop import LookReport
from cosell.store import watch
from cosell.store.records import AuditEntry, LedgerUpdate, LinkUpdate, TenantId
from cosell.store.sql import Store, sqlite_url
from cosell.web.app import create_app
from cosell.web.auth import Authenticator
from cosell.web.dashboard import Dashboard
from cosell.web.metrics import ServiceMetrics
from cosell.web.receiver import WebhookReceiver
from cosell.web.site import RecordUrls

HOSTILE = '<script>alert("owned")</script>'
START = datetime(2026, 3, 2, 9, 0, tzinfo=UTC)


class Seeded:
    def __init__(self, store: Store, tenant: TenantId) -> None:
        self.store, self.tenant = store, tenant
        link = store.commit_sync(
            tenant,
            LinkUpdate(referral_id="R-1", opportunity_id="006A"),
            [AuditEntry("to_crm", "synced", "Name", "Old deal", HOSTILE, message=HOSTILE)],
        )
        store.commit_sync(tenant, LinkUpdate(referral_id="R-2", opportunity_id="006B"), [])
        self.conflict = store.open_conflict(tenant, link.id, "Amount", 100, 200, HOSTILE)
        store.enqueue(tenant, "opportunity:006D")
        [job] = store.claim("test", START + timedelta(seconds=1), 60)
        store.dead_letter(job, f"RejectedError: {HOSTILE}")


@pytest.fixture
def clock() -> ManualClock:
    return ManualClock(START)


@pytest.fixture
def store(tmp_path: Path, clock: ManualClock) -> Iterator[Store]:
    opened = Store.open(sqlite_url(tmp_path), clock=clock)
    yield opened
    opened.close()


def client_for(
    store: Store, clock: ManualClock, polls: tuple[str, ...] = ("salesforce-poll",)
) -> tuple[TestClient, Seeded]:
    """The console with open access (as the sandbox on loopback runs it), ``polls`` having
    looked once each."""
    tenant = store.ensure_tenant("acme")
    seeded = Seeded(store, tenant)
    status = RecordingStatus("acme", clock, cursors=store, tenant_id=tenant)
    status.saw_webhook("referral-updated", "R-1")
    for poll in polls:
        status.saw_look(LookReport(poll, clock.now(), "ok", 3, 2.0))
    metrics = ServiceMetrics()
    receiver = WebhookReceiver(
        verify=trusting_verifier,
        queue=store,
        tenant=tenant,
        is_linked=lambda _: False,
        sweep_hint=lambda: None,
        metrics=metrics,
        status=status,
    )
    urls = RecordUrls(opportunity="https://acme.my.salesforce.com/{id}")
    auth = Authenticator(None, "test-session-key", open_access=True)
    dashboard = Dashboard(store, tenant, "acme", status=status, urls=urls, auth=auth)
    app = create_app(receiver=receiver, status=status, metrics=metrics, dashboard=dashboard)
    return TestClient(app, base_url="http://cosell.local"), seeded


def csrf_of(client: TestClient, path: str = "/") -> str:
    found = re.search(r'name="csrf" value="([^"]+)"', client.get(path).text)
    assert found is not None
    return found.group(1)


def text_of(html: str) -> str:
    return " ".join(re.sub(r"<[^>]+>", " ", html).split())


def test_renders_the_seeded_state(store: Store, clock: ManualClock) -> None:
    client, _ = client_for(store, clock)
    response = client.get("/")
    assert response.status_code == 200
    text = text_of(response.text)
    assert "tenant acme" in text
    assert "2 links: 2 linked" in text
    assert "1 dead letters" in text
    assert "1 open conflicts" in text
    assert "opportunity:006D" in text
    assert "referral-updated" in text
    assert "3 enqueued" in text  # the last poll
    assert "Old deal → " in text
    assert 'href="https://partner.microsoft.com/dashboard/v2/referrals/R-1"' in response.text
    assert 'href="https://acme.my.salesforce.com/006B"' in response.text


def test_a_hubspot_tenants_polls_are_named_for_hubspot(store: Store, clock: ManualClock) -> None:
    """Before, the console named the CRM poll Salesforce's and read back Salesforce's signals
    only: a HubSpot tenant's showed "never recorded"."""
    client, _ = client_for(store, clock, ("hubspot-poll", "hubspot-related-poll"))
    text = text_of(client.get("/").text)
    assert "Last HubSpot poll 2026-03-02 09:00:00 UTC · ok (3 enqueued)" in text
    assert "Last related-records poll 2026-03-02 09:00:00 UTC · ok (3 enqueued)" in text
    assert "Salesforce poll" not in text


def test_hostile_values_are_escaped(store: Store, clock: ManualClock) -> None:
    client, _ = client_for(store, clock)
    html = client.get("/").text
    assert "<script>" not in html
    assert "&lt;script&gt;alert(&#34;owned&#34;)&lt;/script&gt;" in html


def test_retry_button_requeues_the_dead_letter(store: Store, clock: ManualClock) -> None:
    client, seeded = client_for(store, clock)
    data = {"key": "opportunity:006D", "csrf": csrf_of(client)}
    response = client.post("/dead-letters/retry", data=data, follow_redirects=False)
    assert response.status_code == 303
    assert store.dead_letters(seeded.tenant) == []
    assert store.stats(seeded.tenant).queue_depth == 1
    page = client.get(response.headers["location"])
    assert "Requeued opportunity:006D" in page.text
    assert "None: every change reached the other side" in page.text


def test_a_parked_pair_shows_why_and_resume_queues_it_again(
    store: Store, clock: ManualClock
) -> None:
    client, seeded = client_for(store, clock)
    link = store.commit_sync(
        seeded.tenant, LinkUpdate(referral_id="R-9", opportunity_id="006Z"), []
    )
    why = "kept writing without converging: 20 reconciles in a row within 1 min each wrote x"
    store.record_state(
        seeded.tenant,
        LedgerUpdate("parked", "R-9", "006Z", reason=why, setting="Stop it, then resume"),
    )
    watch.save(store, seeded.tenant, link.id, {"count": 20, "parked": why})
    page = text_of(client.get("/records/R-9").text)
    assert why in page
    assert "Resume" in page
    data = {"key": "R-9", "csrf": csrf_of(client, "/records/R-9"), "back": "/records/R-9"}
    response = client.post("/dead-letters/retry", data=data, follow_redirects=False)
    assert response.status_code == 303
    assert watch.load(store, seeded.tenant, link.id) is None
    assert (
        "Requeued referral:R-9, opportunity:006Z" in client.get(response.headers["location"]).text
    )


def test_resolve_buttons_record_the_choice(store: Store, clock: ManualClock) -> None:
    client, seeded = client_for(store, clock)
    path = f"/conflicts/{seeded.conflict}/resolve"
    csrf = csrf_of(client)
    data = {"take": "value", "value": "150", "csrf": csrf}
    response = client.post(path, data=data, follow_redirects=False)
    assert response.status_code == 303
    [resolved] = store.conflicts(seeded.tenant, "resolved")
    assert resolved.resolution is not None
    assert Resolution.decode(resolved.resolution).value_for(resolved) == 150
    assert store.stats(seeded.tenant).queue_depth == 1
    again = client.post(path, data={"take": "crm", "csrf": csrf})
    assert f"no open conflict has id {seeded.conflict}" in again.text
    assert client.post(path, data={"take": "mine", "csrf": csrf}).status_code == 400


def test_cross_site_posts_are_refused(store: Store, clock: ManualClock) -> None:
    client, seeded = client_for(store, clock)
    data = {"key": "opportunity:006D", "csrf": csrf_of(client)}
    evil = client.post("/dead-letters/retry", data=data, headers={"Origin": "https://evil.example"})
    assert evil.status_code == 403
    fetch = client.post("/dead-letters/retry", data=data, headers={"Sec-Fetch-Site": "cross-site"})
    assert fetch.status_code == 403
    assert len(store.dead_letters(seeded.tenant)) == 1
    proxied = {"Origin": "https://cosell.example", "X-Forwarded-Host": "cosell.example"}
    assert client.post("/dead-letters/retry", data=data, headers=proxied).status_code == 200
    assert store.dead_letters(seeded.tenant) == []


def test_posts_without_the_csrf_token_are_refused(store: Store, clock: ManualClock) -> None:
    client, seeded = client_for(store, clock)
    for token in ("", "forged"):
        data = {"key": "opportunity:006D", "csrf": token}
        refused = client.post("/dead-letters/retry", data=data)
        assert refused.status_code == 403
        assert "CSRF" in refused.text
    assert len(store.dead_letters(seeded.tenant)) == 1


def test_for_service_links_opportunities_into_the_org(store: Store, clock: ManualClock) -> None:
    from cosell.settings import Settings

    settings = Settings(salesforce={"instance_url": "https://acme.my.salesforce.com/"})
    tenant = store.ensure_tenant("default")
    auth = Authenticator(None, "key", open_access=True)
    dashboard = Dashboard.for_service(settings, store, tenant, auth=auth)
    assert dashboard.urls.of(dashboard.urls.opportunity, "006A") == (
        "https://acme.my.salesforce.com/006A"
    )
    assert dashboard.tenant == "default"
