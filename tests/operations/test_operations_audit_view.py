"""``cosell audit ID``: one record's history, newest first, found by either id."""

import json

from ops_world import OpsWorld

from cosell.store.records import AuditEntry, LinkUpdate


def seed_history(world: OpsWorld) -> None:
    store, tenant = world.store()
    clock = world.clock
    early = AuditEntry("to_partner_center", "rejected", message="country missing")
    store.record_audit(tenant, [AuditEntry(**{**early.__dict__, "opportunity_id": "006A"})])
    clock.advance(60)  # type: ignore[attr-defined]
    created = AuditEntry("to_partner_center", "synced", "id", None, "R-1", "referral created")
    store.commit_sync(tenant, LinkUpdate(referral_id="R-1", opportunity_id="006A"), [created])
    clock.advance(60)  # type: ignore[attr-defined]
    amount = AuditEntry("to_crm", "synced", "Amount", 100, 250, "dealValue changed")
    store.commit_sync(tenant, LinkUpdate(referral_id="R-1"), [amount])
    other = AuditEntry("to_crm", "synced", "Name", "a", "b")
    store.commit_sync(tenant, LinkUpdate(referral_id="R-2", opportunity_id="006B"), [other])


def fields_in_order(world: OpsWorld, record: str) -> list[object]:
    code, out, err = world.cosell("audit", record, "--json")
    assert (code, err) == (0, "")
    return [(row["field"], row["outcome"]) for row in json.loads(out)]


def test_history_is_newest_first_by_either_id(world: OpsWorld) -> None:
    seed_history(world)
    expected = [("Amount", "synced"), ("id", "synced"), (None, "rejected")]
    assert fields_in_order(world, "R-1") == expected
    assert fields_in_order(world, "006A") == expected
    assert fields_in_order(world, "opportunity:006A") == expected


def test_table_shows_old_to_new_and_limit(world: OpsWorld) -> None:
    seed_history(world)
    code, out, _ = world.cosell("audit", "006A", "--limit", "1")
    assert code == 0
    assert "100 → 250" in out
    assert "dealValue changed" in out
    assert "referral created" not in out


def test_unknown_id_says_so(world: OpsWorld) -> None:
    code, _, err = world.cosell("audit", "R-404")
    assert code == 1
    assert "no audit rows for R-404" in err


HOSTILE = "Contoso\x1b]0;owned\x07\x1b[2J\x1b[8mhidden\x1b[0m\r\u202eevil\x9b31m"


def test_escape_sequences_in_record_values_never_reach_the_terminal(world: OpsWorld) -> None:
    store, tenant = world.store()
    entry = AuditEntry("to_crm", "synced", "Name", "Fabrikam", HOSTILE, f"renamed to {HOSTILE}")
    store.commit_sync(tenant, LinkUpdate(referral_id="R-9", opportunity_id="006Z"), [entry])
    for args in (("audit", "R-9"), ("audit", "R-9", "--json"), ("status", "--offline")):
        code, out, err = world.cosell(*args)
        assert code in (0, 1), (args, err)
        for text in (out, err):
            assert not any(c in text for c in "\x1b\x07\r\x9b\u202e"), (args, text)
    _, out, _ = world.cosell("audit", "R-9")
    assert "Contoso]0;owned" not in out
    assert "hidden" in out
