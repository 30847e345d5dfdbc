import json
import threading
from datetime import UTC, datetime
from pathlib import Path

import pytest
from starlette.testclient import TestClient
from web_fakes import trusting_verifier

from cosell.clock import ManualClock
from cosell.operations.service_status import ServiceStatus
from cosell.queue.embedded import EmbeddedQueue
from cosell.store.records import Job
from cosell.store.sql import Store
from cosell.web.app import create_app
from cosell.web.metrics import ServiceMetrics
from cosell.web.receiver import WebhookReceiver
from cosell.webhooks.events import PATH

BASE = "https://api.partnercenter.microsoft.com/engagements/v1/referrals"


def callback(
    event: str, referral_id: str = "r-1", changed: str = "2026-03-01T12:00:00.1234567+00:00"
) -> bytes:
    return json.dumps(
        {
            "EventName": event,
            "ResourceUri": f"{BASE}/{referral_id}",
            "ResourceName": "referral",
            "AuditUri": None,
            "ResourceChangeUtcDate": changed,
        }
    ).encode()


class Service:
    """The receiver over a real store-backed queue whose workers are never started."""

    def __init__(self, tmp_path: Path) -> None:
        self.store = Store.open(f"sqlite:///{tmp_path / 'cosell.db'}", clock=ManualClock())
        self.tenant = self.store.ensure_tenant("acme")
        self.handled: list[str] = []
        self.scopes: list[str] = []
        self.change_times: list[str | None] = []
        self.queue = EmbeddedQueue(self.store, self.handle, workers=1)
        self.linked: set[str] = set()
        self.own_writes: set[tuple[str, str]] = set()
        self.hints = 0
        self.metrics = ServiceMetrics()
        self.status = ServiceStatus("acme", ManualClock(), self.depth)
        self.receiver = WebhookReceiver(
            verify=trusting_verifier,
            queue=self.queue,
            tenant=self.tenant,
            is_linked=self.linked.__contains__,
            sweep_hint=self.hint,
            metrics=self.metrics,
            status=self.status,
            own_write=lambda referral_id, when: (referral_id, when) in self.own_writes,
        )
        app = create_app(receiver=self.receiver, status=self.status, metrics=self.metrics)
        self.http = TestClient(app)

    def handle(self, job: Job) -> None:
        self.handled.append(job.key)
        self.scopes.append(job.scope)
        self.change_times.append(job.change_time)

    def hint(self) -> None:
        self.hints += 1

    def depth(self) -> int:
        return self.store.stats(self.tenant).queue_depth

    def post(self, body: bytes, signed: bool = True) -> tuple[int, str]:
        headers = {"content-type": "application/json"}
        if signed:
            headers["x-test-signed"] = "yes"
        response = self.http.post(PATH, content=body, headers=headers)
        return response.status_code, response.json()["status"]


@pytest.fixture
def service(tmp_path: Path) -> Service:
    return Service(tmp_path)


@pytest.mark.parametrize("event", ["referral-created", "referral-updated"])
def test_referral_event_is_enqueued_and_answered_202(service: Service, event: str) -> None:
    assert service.post(callback(event, "r-9")) == (202, "accepted")
    assert service.depth() == 1
    assert service.handled == []  # answered without running any reconcile
    assert service.queue.run_until_idle(timeout=10).completed == 1
    assert service.handled == ["referral:r-9"]
    assert service.scopes == ["partner_center"]  # about the referral alone
    # with the change it names (known for cosell's own when it runs, after the commit)
    assert service.change_times == ["2026-03-01T12:00:00.1234567+00:00"]


def test_a_change_time_that_is_no_partner_center_time_is_not_kept_with_the_key(
    service: Service,
) -> None:
    """A time Python reads but Partner Center does not write (a space for the ``T``) is taken
    for the replay check, but the key's run cannot compare it to the tick: it reads."""
    assert service.post(callback("referral-updated", "r-9", "2026-03-01 12:00:00+00:00")) == (
        202,
        "accepted",
    )
    assert service.queue.run_until_idle(timeout=10).completed == 1
    assert (service.scopes, service.change_times) == (["partner_center"], [None])


@pytest.mark.parametrize("event", ["referral-created", "referral-updated"])
def test_the_event_of_cosells_own_write_is_answered_and_not_enqueued(
    service: Service, event: str
) -> None:
    service.own_writes.add(("r-9", "2026-03-01T12:00:00.1234567+00:00"))
    service.linked.add("r-9")
    assert service.post(callback(event, "r-9")) == (200, "own write")
    assert service.post(callback(event, "r-8")) == (202, "accepted")  # another referral
    # A related referral's event is about Microsoft's side: always looked at.
    assert service.post(callback("related-referral-updated", "r-9")) == (202, "accepted")
    assert service.queue.run_until_idle(timeout=10).completed == 2
    assert sorted(service.handled) == ["referral:r-8", "referral:r-9"]
    assert service.status.last_webhook is not None  # still seen arriving


def test_duplicate_deliveries_are_deduplicated_by_the_queue(service: Service) -> None:
    for _ in range(3):
        assert service.post(callback("referral-updated", "r-1"))[0] == 202
    assert service.depth() == 1
    service.queue.run_until_idle(timeout=10)
    assert service.handled == ["referral:r-1"]


def test_rejected_callbacks_are_401_and_never_enqueued(service: Service) -> None:
    assert service.post(callback("referral-updated"), signed=False) == (401, "rejected")
    assert service.depth() == 0
    text = service.http.get("/metrics").text
    assert 'cosell_webhooks_rejected_total{status="401",tenant="default"} 1.0' in text


def test_test_event_is_acknowledged_and_not_enqueued(service: Service) -> None:
    body = json.dumps(
        {
            "EventName": "test-created",
            "ResourceUri": "https://pc.example/webhooks/v1/registration/validationEvents/c-1",
            "ResourceName": "test",
        }
    ).encode()
    assert service.post(body) == (200, "test event received")
    assert service.depth() == 0


def test_unknown_event_is_ignored(service: Service) -> None:
    assert service.post(callback("invoice-ready")) == (202, "ignored")
    assert service.depth() == 0


def test_related_referral_of_ours_is_enqueued(service: Service) -> None:
    service.linked.add("r-ours")
    assert service.post(callback("related-referral-updated", "r-ours")) == (202, "accepted")
    assert service.depth() == 1
    assert service.hints == 0
    service.queue.run_until_idle(timeout=10)
    # Microsoft's side of the engagement moved, not the referral: both sides are looked at.
    assert (service.handled, service.scopes) == (["referral:r-ours"], ["both"])


def test_related_referral_of_microsoft_asks_for_a_sweep(service: Service) -> None:
    assert service.post(callback("related-referral-created", "r-msft")) == (
        202,
        "sweep scheduled",
    )
    assert service.depth() == 0
    assert service.hints == 1


def test_referral_event_without_an_id_is_400(service: Service) -> None:
    body = json.dumps({"EventName": "referral-updated", "ResourceUri": ""}).encode()
    assert service.post(body) == (400, "no referral id")
    assert service.depth() == 0


def test_receiver_answers_while_a_reconcile_is_running(tmp_path: Path) -> None:
    release, started = threading.Event(), threading.Event()

    def slow(job: Job) -> None:
        started.set()
        release.wait(10)

    service = Service(tmp_path)
    service.queue = EmbeddedQueue(service.store, slow, workers=1)
    service.receiver._queue = service.queue
    service.queue.start()
    try:
        assert service.post(callback("referral-updated", "r-1"))[0] == 202
        assert started.wait(10)
        assert service.post(callback("referral-updated", "r-2"))[0] == 202
    finally:
        release.set()
        service.queue.stop(drain=True, timeout=10)


def test_metrics_count_webhooks_and_enqueues(service: Service) -> None:
    service.post(callback("referral-updated", "r-1"))
    service.post(callback("referral-created", "r-2"))
    text = service.http.get("/metrics").text
    assert 'cosell_webhooks_received_total{event="referral-updated",tenant="default"} 1.0' in text
    assert 'cosell_keys_enqueued_total{source="webhook",tenant="default"} 2.0' in text


def test_oversized_body_is_413_and_not_verified(service: Service) -> None:
    huge = b'{"EventName": "referral-updated", "pad": "' + b"x" * 70_000 + b'"}'
    assert service.post(huge) == (413, "rejected")
    assert service.depth() == 0


def test_replays_outside_the_window_are_rejected_and_repeats_coalesced(service: Service) -> None:
    clock = ManualClock(datetime(2026, 3, 1, 12, 30, tzinfo=UTC))
    receiver = WebhookReceiver(
        verify=trusting_verifier,
        queue=service.queue,
        tenant=service.tenant,
        is_linked=service.linked.__contains__,
        sweep_hint=service.hint,
        metrics=service.metrics,
        status=service.status,
        clock=clock,
    )
    signed = {"x-test-signed": "yes"}
    first = receiver.deliver(signed, callback("referral-updated", "r-7"))
    assert (first.status, first.key) == (202, "referral:r-7")
    again = receiver.deliver(signed, callback("referral-updated", "r-7"))
    assert (again.status, again.action, again.key) == (200, "repeat ignored", None)
    other = receiver.deliver(signed, callback("referral-updated", "r-8"))
    assert other.status == 202
    clock.advance(25 * 3600)  # a day later the same delivery is a replay
    late = receiver.deliver(signed, callback("referral-updated", "r-9"))
    assert (late.status, late.action) == (401, "rejected")
    assert service.depth() == 2
    receiver.close()
