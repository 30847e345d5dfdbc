"""``RecordingStatus`` persists the last webhook and signal rounds for other processes."""

from ops_world import OpsWorld

from cosell.operations.activity import (
    HUBSPOT_POLL_SIGNAL,
    HUBSPOT_RELATED_SIGNAL,
    POLL_SIGNAL,
    RELATED_SIGNAL,
    SWEEP_SIGNAL,
    RecordingStatus,
    read_activity,
)
from cosell.service.loops import HUBSPOT_POLL, HUBSPOT_RELATED_POLL, POLL, RELATED_POLL, SWEEP
from cosell.signals.loop import LookReport


def test_another_process_reads_what_the_service_saw(world: OpsWorld) -> None:
    store, tenant = world.store()
    status = RecordingStatus("acme", world.clock, cursors=store, tenant_id=tenant)
    assert read_activity(store, tenant).last_webhook is None

    status.saw_webhook("referral-created", "R-1")
    status.saw_look(LookReport(SWEEP, world.clock.now(), "failed", 0, 5.0, "ServerError: 503"))
    status.saw_look(LookReport(RELATED_POLL, world.clock.now(), "ok", 2, 300.0))

    reader, _ = world.store()  # a second connection, as `cosell status` would open
    activity = read_activity(reader, tenant)
    assert activity.last_webhook is not None
    assert (activity.last_webhook.what, activity.last_webhook.at) == (
        "referral-created",
        world.clock.now(),
    )
    assert activity.last_sweep is not None
    assert activity.last_sweep.detail == "ServerError: 503"
    assert activity.last_poll is None
    assert activity.last_related_poll is not None
    assert activity.last_related_poll.detail == "2 enqueued"
    assert status.last_webhook is not None  # the in-memory view still works


def test_a_hubspot_tenants_polls_are_read_back_as_its_crm_polls(world: OpsWorld) -> None:
    """Before, only Salesforce's signal names were read back: a HubSpot tenant's status said
    its CRM had never been polled."""
    store, tenant = world.store()
    status = RecordingStatus("acme", world.clock, cursors=store, tenant_id=tenant)
    assert read_activity(store, tenant).crm_name == "Salesforce"
    status.saw_look(LookReport(HUBSPOT_POLL, world.clock.now(), "ok", 1, 2.0))
    status.saw_look(LookReport(HUBSPOT_RELATED_POLL, world.clock.now(), "ok", 0, 300.0))
    activity = read_activity(store, tenant)
    assert activity.crm_name == "HubSpot"
    assert activity.last_poll is not None
    assert activity.last_poll.detail == "1 enqueued"
    assert activity.last_related_poll is not None
    assert activity.last_related_poll.detail == "0 enqueued"


def test_signal_names_match_the_runtime() -> None:
    assert (POLL_SIGNAL, RELATED_SIGNAL, SWEEP_SIGNAL) == (POLL, RELATED_POLL, SWEEP)
    assert (HUBSPOT_POLL_SIGNAL, HUBSPOT_RELATED_SIGNAL) == (HUBSPOT_POLL, HUBSPOT_RELATED_POLL)


def test_a_failing_store_never_breaks_the_caller(world: OpsWorld) -> None:
    store, tenant = world.store()
    status = RecordingStatus("acme", world.clock, cursors=store, tenant_id=tenant)
    store.close()
    store.engine.pool.dispose()
    (world.config.parent / "state" / "cosell.db").unlink()
    status.saw_webhook("referral-updated", "R-2")  # logged, not raised
    assert status.last_webhook is not None
