"""``cosell status``: counts from a store seeded through the Store API, expiring referrals from
the Partner Center emulator (its clock advanced), the Salesforce budget, the last signals."""

import json
from datetime import timedelta

from ops_world import OpsWorld, dead_letter

from cosell.operations.activity import RecordingStatus
from cosell.operations.status import FAILED_SHOWN
from cosell.signals.loop import LookReport
from cosell.store.records import LinkUpdate

DAY = 86400.0


def seed(world: OpsWorld) -> None:
    store, tenant = world.store()
    for n in range(3):
        store.commit_sync(tenant, LinkUpdate(referral_id=f"R-{n}", opportunity_id=f"006{n}"), [])
    store.commit_sync(
        tenant, LinkUpdate(referral_id="R-9", opportunity_id="0069", state="closed"), []
    )
    store.record_create_intent(tenant, "partner_center", "006P", "006P")
    link = store.link_by_referral(tenant, "R-1")
    assert link is not None
    store.open_conflict(tenant, link.id, "Amount", 100, 200, 300)
    dead_letter(store, tenant, "opportunity:006D", "RejectedError: no contact")
    store.enqueue(tenant, "referral:R-0", store.clock.now() - timedelta(minutes=30))
    store.enqueue(tenant, "referral:R-2")
    status = RecordingStatus("acme", store.clock, cursors=store, tenant_id=tenant)
    status.saw_webhook("referral-updated", "R-0")
    status.saw_look(LookReport("salesforce-poll", store.clock.now(), "ok", 2, 1.0))


def test_status_json_counts_expiring_referrals_and_budget(world: OpsWorld) -> None:
    world.clock = world.pc.state.emulator.clock  # one timeline for cosell and the emulator
    soon = world.share_referral(name="Contoso <expiring>")
    world.advance_partner_center(12 * DAY)
    later = world.share_referral(name="Fabrikam fresh")
    seed(world)

    code, out, err = world.cosell("status", "--json", "--expiring-days", "3")

    assert (code, err) == (0, "")
    report = json.loads(out)
    assert report["links_by_state"] == {"closed": 1, "linked": 3, "pending_create": 1}
    assert report["links"] == 5
    assert report["queue_depth"] == 2
    assert report["dead_letters"] == 1
    assert [(f["key"], f["reason"]) for f in report["failed"]] == [
        ("opportunity:006D", "RejectedError: no contact")
    ]
    assert report["open_conflicts"] == 1
    assert 30 * 60 <= report["oldest_unsynced_seconds"] < 31 * 60
    expiring = report["expiring"]["referrals"]
    assert [r["referral_id"] for r in expiring] == [soon["id"]]
    assert later["id"] not in out
    assert 1.9 < expiring[0]["days_left"] <= 2.0
    budget = report["salesforce_budget"]
    assert budget["maximum"] == 100_000
    assert 0 < budget["remaining"] < 100_000
    assert report["activity"]["last_webhook"]["what"] == "referral-updated"
    assert report["activity"]["looks"]["salesforce-poll"]["detail"] == "2 enqueued"
    assert "no API quota" in report["partner_center_note"]


def test_status_table_and_offline(world: OpsWorld) -> None:
    seed(world)
    code, out, _ = world.cosell("status", "--offline")
    assert code == 0
    assert "5 (1 closed, 3 linked, 1 pending_create)" in out
    assert "Dead letters" in out
    assert "opportunity:006D" in out  # each dead letter is listed with its reason
    assert "RejectedError: no contact" in out
    assert "Open conflicts" in out
    assert "referral-updated" in out
    assert "Salesforce API budget" not in out
    assert "never recorded" in out  # no sweep yet


def test_status_reports_an_unreachable_side_without_failing(world: OpsWorld) -> None:
    world.env["COSELL_SF_CLIENT_SECRET"] = "not-the-secret"
    code, out, _ = world.cosell("status", "--json")
    assert code == 0
    report = json.loads(out)
    assert "invalid_client" in report["salesforce_budget"]["error"]
    assert report["expiring"] == {"error": None, "referrals": [], "within_days": 3.0}


def test_status_lists_the_newest_dead_letters_and_counts_them_all(world: OpsWorld) -> None:
    store, tenant = world.store()
    for n in range(FAILED_SHOWN + 3):
        world.clock.advance(1)
        dead_letter(store, tenant, f"referral:R-{n:02}", f"ServerError: {n}")
    code, out, _ = world.cosell("status", "--offline", "--json")
    report = json.loads(out)
    assert code == 0
    assert report["dead_letters"] == FAILED_SHOWN + 3
    listed = [f["key"] for f in report["failed"]]
    assert listed == [f"referral:R-{n:02}" for n in range(FAILED_SHOWN + 2, 2, -1)]


def test_status_counts_down_in_the_emulators_time_when_the_config_says_so(
    world: OpsWorld,
) -> None:
    # The commands' own clock stays unrelated to the emulator's (2026-01-01, never moved); the
    # sandbox's configuration asks to follow the emulator, whose clock moves 12 days.
    text = world.config.read_text()
    world.config.write_text(
        text.replace("[partner_center]\n", "[partner_center]\nemulated_clock = true\n", 1)
    )
    soon = world.share_referral(name="Contoso <expiring>")
    world.advance_partner_center(12 * DAY)

    code, out, err = world.cosell("status", "--json", "--expiring-days", "3")

    assert (code, err) == (0, "")
    [expiring] = json.loads(out)["expiring"]["referrals"]
    assert expiring["referral_id"] == soon["id"]
    assert 1.9 < expiring["days_left"] <= 2.0
