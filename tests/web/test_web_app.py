from collections.abc import Sequence
from datetime import UTC, datetime

import httpx
import pytest
from starlette.testclient import TestClient
from web_fakes import trusting_verifier

from cosell.clock import ManualClock
from cosell.operations.service_status import ServiceStatus
from cosell.signals.loop import LookReport
from cosell.store.records import SignalScope, TenantId
from cosell.web.app import create_app
from cosell.web.metrics import QueueGauges, ServiceMetrics, route_of
from cosell.web.receiver import WebhookReceiver

SOBJECTS = "/services/data/v62.0/sobjects"


class NoQueue:
    def enqueue(
        self,
        tenant: TenantId,
        key: str,
        due_at: datetime | None = None,
        *,
        scope: SignalScope = "both",
    ) -> None:
        raise AssertionError("nothing should be enqueued")

    def enqueue_many(
        self,
        tenant: TenantId,
        keys: Sequence[str],
        due_at: datetime | None = None,
        *,
        scope: SignalScope = "both",
    ) -> None:
        raise AssertionError("nothing should be enqueued")


def app_for(status: ServiceStatus, metrics: ServiceMetrics, check=None) -> TestClient:  # type: ignore[no-untyped-def]
    receiver = WebhookReceiver(
        verify=trusting_verifier,
        queue=NoQueue(),
        tenant=TenantId(1),
        is_linked=lambda _: False,
        sweep_hint=lambda: None,
        metrics=metrics,
        status=status,
    )
    app = create_app(receiver=receiver, status=status, metrics=metrics, health_check=check)
    return TestClient(app)


def test_health_is_ok_or_503_naming_the_failure() -> None:
    status, metrics = ServiceStatus("acme", ManualClock()), ServiceMetrics()
    assert app_for(status, metrics).get("/healthz").json() == {"status": "ok"}

    def broken() -> None:
        raise ConnectionRefusedError("db down")

    response = app_for(status, metrics, broken).get("/healthz")
    assert response.status_code == 503
    assert response.json() == {"status": "unhealthy", "error": "ConnectionRefusedError"}


def test_metrics_include_queue_gauges_and_signal_runs() -> None:
    metrics = ServiceMetrics()
    metrics.watch_queue(lambda: QueueGauges(depth=7, leased=2, dead_letters=1, open_conflicts=0))
    at = datetime(2026, 3, 1, tzinfo=UTC)
    metrics.observe_look(LookReport("salesforce-poll", at, "ok", 3, 2.0))
    metrics.observe_look(LookReport("salesforce-poll", at, "deferred", 0, 3600.0, "reserve"))
    response = app_for(ServiceStatus("acme", ManualClock()), metrics).get("/metrics")
    assert response.headers["content-type"].startswith("text/plain")
    text = response.text
    assert 'cosell_queue_depth{tenant="default"} 7.0' in text
    assert 'cosell_queue_leased{tenant="default"} 2.0' in text
    assert 'cosell_dead_letters{tenant="default"} 1.0' in text
    assert (
        'cosell_signal_runs_total{outcome="ok",signal="salesforce-poll",tenant="default"} 1.0'
        in text
    )
    assert (
        'cosell_signal_runs_total{outcome="deferred",signal="salesforce-poll",tenant="default"} 1.0'
        in text
    )
    assert 'cosell_keys_enqueued_total{source="salesforce-poll",tenant="default"} 3.0' in text


def test_status_page_shows_tenant_last_webhook_last_poll_and_depth() -> None:
    clock = ManualClock(datetime(2026, 3, 1, 12, 0, tzinfo=UTC))
    status = ServiceStatus("acme <prod>", clock, lambda: 4)
    client = app_for(status, ServiceMetrics())
    page = client.get("/").text
    assert "acme &lt;prod&gt;" in page
    assert "<prod>" not in page
    assert "Last webhook</th><td>never" in page

    clock.advance(60)
    status.saw_webhook("referral-updated", "r-1")
    status.saw_look(LookReport("salesforce-poll", clock.now(), "ok", 2, 2.0))
    page = client.get("/").text
    assert "2026-03-01T12:01:00+00:00 · referral-updated" in page
    assert "Last salesforce-poll</th><td>2026-03-01T12:01:00+00:00 · ok, 2 enqueued" in page
    assert "Queue depth</th><td>4" in page


def test_webhook_path_takes_post_only() -> None:
    client = app_for(ServiceStatus("acme", ManualClock()), ServiceMetrics())
    assert client.get("/webhooks/partner-center").status_code == 405


def test_metrics_report_reconcile_outcomes_records_by_state_and_propagation() -> None:
    metrics = ServiceMetrics()
    outcomes = {("to_crm", "synced"): 4, ("to_partner_center", "rejected"): 1}
    metrics.watch_ledger(lambda: outcomes, lambda: {"synced": 3, "refused": 1})
    metrics.observe_propagation("referral:R-1", 4.0)
    metrics.observe_propagation("opportunity:006A", 45.0)
    metrics.observe_propagation("opportunity:006B", 700.0)
    text = app_for(ServiceStatus("acme", ManualClock()), metrics).get("/metrics").text
    assert (
        'cosell_reconcile_outcomes_total{direction="to_crm",outcome="synced",tenant="default"} 4.0'
        in text
    )
    assert (
        'cosell_reconcile_outcomes_total{direction="to_partner_center",'
        'outcome="rejected",tenant="default"} 1.0' in text
    )
    assert 'cosell_records{state="refused",tenant="default"} 1.0' in text
    assert (
        'cosell_propagation_seconds_bucket{le="5.0",'
        'path="partner_center_to_crm",tenant="default"} 1.0' in text
    )
    assert (
        'cosell_propagation_seconds_bucket{le="60.0",'
        'path="crm_to_partner_center",tenant="default"} 1.0' in text
    )
    assert (
        'cosell_propagation_seconds_count{path="crm_to_partner_center",tenant="default"} 2.0'
        in text
    )
    outcomes[("to_crm", "synced")] = 5  # read afresh at every scrape
    again = app_for(ServiceStatus("acme", ManualClock()), metrics).get("/metrics").text
    assert (
        'cosell_reconcile_outcomes_total{direction="to_crm",outcome="synced",tenant="default"} 5.0'
        in again
    )


@pytest.mark.parametrize(
    ("path", "route"),
    [
        (
            "/services/data/v62.0/sobjects/Opportunity/0068d00100PBhu9AAD",
            "/services/data/v62.0/sobjects/Opportunity/{id}",
        ),
        (
            "/v1/engagements/referrals/5f1c2d3e-0000-4000-8000-00000000abcd",
            "/v1/engagements/referrals/{id}",
        ),
        ("/services/data/v62.0/query", "/services/data/v62.0/query"),
    ],
)
def test_api_call_routes_hide_ids(path: str, route: str) -> None:
    assert route_of(path) == route


def test_api_calls_counted_by_side_route_and_status_and_the_oldest_wait() -> None:
    metrics = ServiceMetrics()
    metrics.watch_queue(lambda: QueueGauges(3, 1, 0, 0, oldest_seconds=42.5))

    def answer(request: httpx.Request) -> httpx.Response:
        return httpx.Response(404 if "missing" in request.url.path else 200)

    client = httpx.Client(
        transport=httpx.MockTransport(answer),
        base_url="https://acme.my.salesforce.com",
        event_hooks={"response": [metrics.api_call_hook("crm")]},
    )
    client.get("/services/data/v62.0/sobjects/Opportunity/0068d00100PBhu9AAD")
    client.get("/services/data/v62.0/sobjects/Opportunity/0068d00100PBhu9AAE")
    client.get("/services/data/v62.0/sobjects/missing/0068d00100PBhu9AAF")
    text = app_for(ServiceStatus("acme", ManualClock()), metrics).get("/metrics").text
    route = "GET /services/data/v62.0/sobjects/Opportunity/{id}"
    assert (
        f'cosell_api_calls_total{{route="{route}",side="crm",status="200",tenant="default"}} 2.0'
        in text
    )
    assert 'status="404"' in text
    assert 'cosell_queue_oldest_seconds{tenant="default"} 42.5' in text
